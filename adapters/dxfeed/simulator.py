"""A loopback dxLink server (dxFeed's market-data WebSocket) over the paper exchange's prices.

Each client is checked step by step (:mod:`adapters.dxfeed.sim_session`); an authorised client
subscribed to Quote or Trade of a symbol gets COMPACT FEED_DATA at once (the latest values) and
again at every price change of the paper exchange. It serves one dxFeed symbol per copytui symbol,
the front month of :func:`adapters.dxfeed.symbols.dx_symbol` (``symbols`` adds or replaces some).
One token is accepted; it is never printed or logged.

Faults, each a constructor argument, an attribute to flip, and a flag of the standalone run:
``stale`` (no more data while the socket and its keepalives go on), ``drop_every_s`` (every socket
cut every so often; :meth:`drop_sockets` cuts them now), ``unauthorised`` (every token refused).
``frozen`` (an attribute) sends nothing at all, keepalives included, as a half-open connection
does. ``reverse_fields`` announces, in FEED_CONFIG, the fields in the reverse of the order asked and
sends them so; :meth:`inject` sends any frame as is.

    sim = DxLinkSimulator(exchange, token="t0ken")
    await sim.start()          # sim.url
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import random
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from websockets.asyncio.server import Server, ServerConnection
from websockets.asyncio.server import serve as ws_serve
from websockets.exceptions import ConnectionClosed

from adapters.dxfeed.sim_events import Tape, compact
from adapters.dxfeed.sim_session import SimConnection
from adapters.dxfeed.symbols import check_override, dx_symbol
from adapters.simkit import PaperExchange, walk_until_stopped
from copytui.instruments import INSTRUMENTS

REDACTED = "***"
socket_log = logging.getLogger("copytui.adapters.dxfeed.sim")
socket_log.setLevel(logging.WARNING)  # websockets: every frame at DEBUG (AUTH and its token), each connection at INFO


class DxLinkSimulator:
    def __init__(
        self,
        exchange: PaperExchange | None = None,
        *,
        token: str,
        seed: int = 7,
        stale: bool = False,
        drop_every_s: float = 0.0,
        unauthorised: bool = False,
        reverse_fields: bool = False,
        symbols: Mapping[str, str] | None = None,
        today: date | None = None,
        keepalive_timeout_s: float = 60.0,
        setup_timeout_s: float = 10.0,
        watch_s: float = 0.01,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        """``symbols``: copytui symbol -> dxFeed symbol served instead of (or besides) the front
        month of ``today``; ``watch_s``: how often the exchange's prices are looked at for changes."""
        if not token:
            raise ValueError("the dxLink simulator needs the token its clients must send")
        self.exchange = exchange or PaperExchange(seed=seed)
        self.token = token
        self.stale, self.drop_every_s, self.unauthorised = stale, drop_every_s, unauthorised
        self.reverse_fields = reverse_fields
        self.frozen = False
        """Nothing at all is sent while set (a hung server or a half-open connection)."""
        day = today or datetime.now(UTC).date()
        self.symbols: dict[str, str] = {dx_symbol(root, day): root for root in INSTRUMENTS}
        """dxFeed symbol -> the copytui symbol whose paper price it quotes."""
        for root, symbol in (symbols or {}).items():
            self.symbols[check_override(root, symbol)] = root
        self.keepalive_timeout_s, self.setup_timeout_s, self.watch_s = keepalive_timeout_s, setup_timeout_s, watch_s
        self.host, self.port = host, port
        self.tape = Tape(random.Random(seed))
        self.connections: set[SimConnection] = set()
        self.received: list[tuple[int, dict[str, Any]]] = []
        """(connection number, message) for every message received, tokens replaced by ***."""
        self.refusals: list[str] = []
        """Every ERROR sent ("TYPE: message")."""
        self.unknown_symbols: list[str] = []
        self._count = 0
        self._published: dict[str, tuple[float, float]] = {}
        self._server: Server | None = None
        self._tasks: list[asyncio.Task[None]] = []

    # ------------------------------------------------------------ lifecycle
    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}/dxlink-ws"

    async def start(self) -> DxLinkSimulator:
        self._server = await ws_serve(self._handle, self.host, self.port, ping_interval=None, logger=socket_log)
        self.port = next(iter(self._server.sockets)).getsockname()[1]
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._watch(), name="dxfeed-sim-watch"),
            loop.create_task(self._drop_forever(), name="dxfeed-sim-drops"),
        ]
        return self

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None

    async def __aenter__(self) -> DxLinkSimulator:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _handle(self, ws: ServerConnection) -> None:
        self._count += 1
        conn = SimConnection(self, ws, self._count)
        self.connections.add(conn)
        try:
            await conn.serve()
        finally:
            self.connections.discard(conn)

    def record(self, number: int, message: dict[str, Any]) -> None:
        if "token" in message:
            message = {**message, "token": REDACTED}
        self.received.append((number, message))

    # ------------------------------------------------------------ data out
    async def snapshot(self, conn: SimConnection, channel: int, added: Sequence[tuple[str, str]]) -> None:
        """The latest values of what a client just subscribed to (nothing while ``stale``)."""
        for kind, symbol in added:
            root = self.symbols.get(symbol)
            if root is None:
                self.unknown_symbols.append(symbol)
                continue
            if self.stale:
                continue
            self._published.setdefault(symbol, self.exchange.quote(root))  # the watch loop sends changes only
            fields = conn.channels[channel].fields or {}
            event = self._event(kind, symbol, root)
            await conn.send({"type": "FEED_DATA", "channel": channel, "data": compact(kind, [event], fields[kind])})

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.watch_s)
            if not self.stale:
                await self.publish()

    async def publish(self, force: bool = False) -> None:
        """Quote and Trade to every subscriber of each symbol whose paper price changed (``force``: all)."""
        wanted = {symbol for conn in list(self.connections) for symbol in conn.subscribed_symbols()}
        for symbol, root in self.symbols.items():
            if symbol not in wanted:
                continue  # the exchange is asked only for what someone watches: its walk stays as it was
            quote = self.exchange.quote(root)
            if not force and self._published.get(symbol) == quote:
                continue
            self._published[symbol] = quote
            for kind in ("Quote", "Trade"):
                targets = [(conn, wanted) for conn in list(self.connections) for wanted in conn.wants(kind, symbol)]
                if not targets:
                    continue
                event = self._event(kind, symbol, root)
                for conn, (channel, fields) in targets:
                    await conn.send({"type": "FEED_DATA", "channel": channel, "data": compact(kind, [event], fields)})

    def _event(self, kind: str, symbol: str, root: str) -> dict[str, Any]:
        if kind == "Quote":
            return self.tape.quote_event(self.exchange, symbol, root)
        return self.tape.trade_event(self.exchange, symbol, root)

    # ------------------------------------------------------------ faults
    def drop_sockets(self) -> int:
        """Cut every client's socket now, as a network drop would."""
        conns = list(self.connections)
        for conn in conns:
            conn.drop()
        return len(conns)

    async def _drop_forever(self) -> None:
        while True:
            await asyncio.sleep(self.drop_every_s if self.drop_every_s > 0 else 0.1)
            if self.drop_every_s > 0:
                self.drop_sockets()

    async def inject(self, frame: dict[str, Any] | str) -> int:
        """``frame`` as is to every authorised client (a str is sent verbatim): malformed-frame tests."""
        conns = [c for c in self.connections if c.authorized]
        for conn in conns:
            if isinstance(frame, str):
                with contextlib.suppress(ConnectionClosed):
                    await conn.ws.send(frame)
            else:
                await conn.send(frame)
        return len(conns)


def symbols_line(sim: DxLinkSimulator) -> str:
    return ", ".join(f"{root}={symbol}" for symbol, root in sim.symbols.items())


async def _serve(
    port: int, seed: int, token: str, stale: bool, drop_every_s: float, unauthorised: bool, tick_s: float
) -> None:
    sim = DxLinkSimulator(
        PaperExchange(seed=seed),
        token=token,
        stale=stale,
        drop_every_s=drop_every_s,
        unauthorised=unauthorised,
        port=port,
    )
    await sim.start()
    print(f"dxfeed simulator (dxLink) listening on {sim.url}", flush=True)
    print(f"  symbols: {symbols_line(sim)}", flush=True)
    print("  token: the one given to the simulator (never printed)", flush=True)
    faults = [
        f
        for f, on in (
            ("stale", stale),
            (f"drop every {drop_every_s:g}s", drop_every_s > 0),
            ("unauthorised", unauthorised),
        )
        if on
    ]
    if faults:
        print(f"  faults: {', '.join(faults)}", flush=True)
    print(f"  config: source: dxfeed, options: {{url: {sim.url}}}", flush=True)
    print("  Ctrl-C to stop", flush=True)
    try:
        await walk_until_stopped(sim.exchange, tick_s, "dxfeed-sim")
    finally:
        await sim.stop()
        print("dxfeed simulator stopped", flush=True)


def serve(
    port: int,
    seed: int = 7,
    *,
    token: str,
    stale: bool = False,
    drop_every_s: float = 0.0,
    unauthorised: bool = False,
    tick_s: float = 0.25,
) -> None:
    """Serve dxLink on 127.0.0.1:``port`` (0: any free port, printed) until Ctrl-C."""
    if not token:
        raise ValueError("the dxLink simulator needs the token its clients must send")
    asyncio.run(_serve(port, seed, token, stale, drop_every_s, unauthorised, tick_s))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m adapters.dxfeed.simulator", description="A dxLink (dxFeed) simulator on 127.0.0.1."
    )
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0: any free one, printed)")
    parser.add_argument("--token-env", required=True, metavar="NAME", help="environment variable holding the token")
    parser.add_argument("--seed", type=int, default=7, help="seed of the paper price walk")
    parser.add_argument("--tick-s", type=float, default=0.25, help="seconds between price steps")
    parser.add_argument("--stale", action="store_true", help="send no data while keeping sockets alive")
    parser.add_argument("--drop-every-s", type=float, default=0.0, help="cut every socket this often (0: never)")
    parser.add_argument("--unauthorised", action="store_true", help="refuse every token")
    args = parser.parse_args(argv)
    token = os.environ.get(args.token_env, "")
    if not token:
        print(f"error: ${args.token_env} is empty or unset: set it to the token clients must send", file=sys.stderr)
        return 2
    if args.tick_s <= 0 or args.drop_every_s < 0:
        print("error: --tick-s must be positive and --drop-every-s 0 or positive", file=sys.stderr)
        return 2
    with contextlib.suppress(KeyboardInterrupt):
        serve(
            args.port,
            args.seed,
            token=token,
            stale=args.stale,
            drop_every_s=args.drop_every_s,
            unauthorised=args.unauthorised,
            tick_s=args.tick_s,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
