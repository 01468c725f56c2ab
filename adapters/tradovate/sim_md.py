"""Tradovate's market-data WebSocket beside the Tradovate simulator, over its paper exchange.

Real Tradovate serves market data from a host of its own (``wss://md.tradovateapi.com/v1/websocket``)
with the framing of the account socket (:mod:`adapters.tradovate.frames`): ``o`` on open, ``h``
heartbeats while idle, ``authorize`` with the login's ``mdAccessToken``, then ``md/subscribeQuote``
``{"symbol": "ESZ6"}`` (a contract name or id) and ``md`` events::

    a[{"e":"md","d":{"quotes":[{"timestamp":"...","contractId":3000001,
        "entries":{"Bid":{"price":..,"size":..},"Offer":{..},"Trade":{..},"TotalTradeVolume":{"size":..}}}]}}]

This server listens on a port of its own, shares the simulator's logins (its md tokens) and
contracts, and pushes a quote when subscribed and at every price change. Switches: ``stale`` (no
quotes while the socket and its heartbeats go on), ``refuse_tokens`` (every authorize answered
401), :meth:`drop_sockets`, :meth:`inject` (a raw frame). ``python -m adapters.tradovate.sim_md``
or :func:`serve` runs both servers standalone.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from adapters.simkit import walk_until_stopped
from adapters.tradovate.frames import FrameError, Request, encode_array, encode_response, parse_client_message
from adapters.tradovate.settings import SIM_PASSWORD
from adapters.tradovate.sim_bodies import BodyNotJSON, parse_body, token_of

if TYPE_CHECKING:
    from adapters.tradovate.simulator import TradovateSimulator


class MdConn:
    def __init__(self, ws: web.WebSocketResponse, request: web.Request, number: int) -> None:
        self.ws, self.number = ws, number
        self.transport = request.transport
        self.user_id: int | None = None
        self.contracts: set[int] = set()
        self.out: asyncio.Queue[str | None] = asyncio.Queue()
        self.idle_since = asyncio.get_running_loop().time()

    def send(self, text: str) -> None:
        self.out.put_nowait(text)
        self.idle_since = asyncio.get_running_loop().time()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()
        self.out.put_nowait(None)


class TradovateMdServer:
    def __init__(self, sim: TradovateSimulator, *, seed: int = 7, watch_s: float = 0.01, host: str = "127.0.0.1"):
        self.sim, self.watch_s, self.host = sim, watch_s, host
        self.stale = False
        self.refuse_tokens = False
        self.port = 0
        self.conns: set[MdConn] = set()
        self.requests: list[tuple[int, str, Any]] = []
        """(connection number, endpoint, body) of every request received (tokens left out)."""
        self.heartbeats = 0
        self.sent: dict[int, dict[str, Any]] = {}
        """contract id -> the latest quote pushed (tests compare against it)."""
        self._rng = random.Random(seed)
        self._volume: Counter[int] = Counter()
        self._published: dict[int, tuple[float, float]] = {}
        self._count = 0
        self._runner: web.AppRunner | None = None
        self._watch: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}/v1/websocket"

    async def start(self, port: int = 0) -> TradovateMdServer:
        app = web.Application()
        app.router.add_get("/v1/websocket", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, port).start()
        self.port = self._runner.addresses[0][1]
        self._watch = asyncio.get_running_loop().create_task(self._watch_prices(), name="tradovate-md-watch")
        return self

    async def stop(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        self.drop_sockets()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def drop_sockets(self) -> int:
        """Cut every md socket without a close frame, as a network drop does."""
        conns = list(self.conns)
        for conn in conns:
            conn.abort()
        return len(conns)

    def inject(self, text: str) -> int:
        """A raw frame to every authorized md socket."""
        conns = [c for c in self.conns if c.user_id is not None]
        for conn in conns:
            conn.send(text)
        return len(conns)

    # ------------------------------------------------------------ sockets
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._count += 1
        conn = MdConn(ws, request, self._count)
        self.conns.add(conn)
        loop = asyncio.get_running_loop()
        tasks = [loop.create_task(self._writer(conn)), loop.create_task(self._beat(conn))]
        conn.send("o")
        try:
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    continue
                try:
                    req = parse_client_message(msg.data)
                except FrameError:
                    continue
                if req is None:
                    self.heartbeats += 1
                else:
                    self._request(conn, req)
        finally:
            self.conns.discard(conn)
            for task in tasks:
                task.cancel()
        return ws

    async def _writer(self, conn: MdConn) -> None:
        while (text := await conn.out.get()) is not None and not conn.ws.closed:
            try:
                await conn.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return

    async def _beat(self, conn: MdConn) -> None:
        """``h`` when the socket has been quiet for a heartbeat period (none while quotes stream)."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.sim.heartbeat_s / 2)
            if loop.time() - conn.idle_since >= self.sim.heartbeat_s:
                conn.send("h")

    def _request(self, conn: MdConn, req: Request) -> None:
        endpoint = req.endpoint.lower()
        try:
            body = parse_body(req.body) if endpoint != "authorize" else None
        except BodyNotJSON:
            conn.send(encode_response(req.id, 400, f"request {req.endpoint} #{req.id}: the body is not JSON"))
            return
        self.requests.append((conn.number, endpoint, body))
        if endpoint == "authorize":
            user = None if self.refuse_tokens else self.sim.gate.md_user_of(token_of(req.body))
            conn.user_id = user
            conn.send(encode_response(req.id, 200 if user is not None else 401, None if user else "Access is denied"))
        elif conn.user_id is None:
            conn.send(encode_response(req.id, 401, "Access is denied: authorize first"))
        elif endpoint in ("md/subscribequote", "md/unsubscribequote"):
            contract = self._contract(body.get("symbol") if isinstance(body, dict) else None)
            if contract is None:
                conn.send(encode_response(req.id, 404, f"UnknownSymbol: {body!r:.60}"))
                return
            conn.send(encode_response(req.id, 200))
            if endpoint == "md/unsubscribequote":
                conn.contracts.discard(contract["id"])
                return
            conn.contracts.add(contract["id"])
            if not self.stale:
                self._published.setdefault(contract["id"], self._exchange_quote(contract["id"]))
                conn.send(encode_array([{"e": "md", "d": {"quotes": [self._quote(contract["id"])]}}]))
        else:
            conn.send(encode_response(req.id, 404, f"Not found: {req.endpoint}"))

    def _contract(self, symbol: Any) -> dict[str, Any] | None:
        ledger = self.sim.ledger
        if isinstance(symbol, str):
            return ledger.contract_by_name.get(symbol)
        if isinstance(symbol, int) and not isinstance(symbol, bool):
            return ledger.contracts.get(symbol)
        return None

    # ------------------------------------------------------------ quotes
    def _root(self, contract_id: int) -> str:
        return str(self.sim.ledger.product_of(self.sim.ledger.contracts[contract_id])["name"])

    def _exchange_quote(self, contract_id: int) -> tuple[float, float]:
        return self.sim.exchange.quote(self._root(contract_id))

    def _quote(self, contract_id: int) -> dict[str, Any]:
        bid, ask = self._exchange_quote(contract_id)
        size = self._rng.randint(1, 8)
        self._volume[contract_id] += size
        stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        quote = {
            "timestamp": stamp,
            "contractId": contract_id,
            "entries": {
                "Bid": {"price": bid, "size": self._rng.randint(1, 60)},
                "Offer": {"price": ask, "size": self._rng.randint(1, 60)},
                "Trade": {"price": self.sim.exchange.price(self._root(contract_id)), "size": size},
                "TotalTradeVolume": {"size": self._volume[contract_id]},
            },
        }
        self.sent[contract_id] = quote
        return quote

    async def _watch_prices(self) -> None:
        while True:
            await asyncio.sleep(self.watch_s)
            if self.stale:
                continue
            for contract_id in sorted({c for conn in self.conns for c in conn.contracts}):
                now = self._exchange_quote(contract_id)
                if self._published.get(contract_id) == now:
                    continue
                self._published[contract_id] = now
                frame = encode_array([{"e": "md", "d": {"quotes": [self._quote(contract_id)]}}])
                for conn in list(self.conns):
                    if contract_id in conn.contracts:
                        conn.send(frame)


async def _serve(port: int, seed: int, tick_s: float) -> None:
    from adapters.tradovate.sim_serve import standalone

    sim = standalone(1, seed)
    rest_port = await sim.start("127.0.0.1", port)
    md = await TradovateMdServer(sim, seed=seed).start()
    print(f"tradovate market-data simulator: md WebSocket {md.url}", flush=True)
    print(
        f"  REST (login, contracts) http://127.0.0.1:{rest_port}/v1; login trader1, password and sec "
        f"{SIM_PASSWORD!r} (simulator only)",
        flush=True,
    )
    print(
        f"  config: source: tradovate, options: {{environment: sim, username: trader1, "
        f"rest_url: http://127.0.0.1:{rest_port}/v1, md_url: {md.url}}}",
        flush=True,
    )
    print("  Ctrl-C to stop", flush=True)
    try:
        await walk_until_stopped(sim.exchange, tick_s, "tradovate-md-sim")
    finally:
        await md.stop()
        await sim.stop()
        print("tradovate market-data simulator stopped", flush=True)


def serve(port: int, seed: int = 7, *, tick_s: float = 0.25) -> None:
    """The Tradovate REST simulator on ``port`` and its md WebSocket on a free port, until Ctrl-C."""
    asyncio.run(_serve(port, seed, tick_s))


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m adapters.tradovate.sim_md", description=serve.__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--tick-s", type=float, default=0.25)
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        serve(args.port, args.seed, tick_s=args.tick_s)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
