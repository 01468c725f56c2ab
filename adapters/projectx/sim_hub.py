"""The simulator's side of the user hub: the SignalR connections that paper-exchange events are
pushed to, as the gateway payloads :class:`~adapters.projectx.sim_book.GatewayBook` makes of
them. :class:`SignalRHub` is the SignalR JSON server both hubs share (the market hub is in
:mod:`adapters.projectx.sim_market`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from adapters.projectx import signalr
from adapters.projectx.signalr import MessageType, SignalRProtocolError
from adapters.projectx.sim_book import GatewayBook
from copytui.models import AccountEvent

log = logging.getLogger("copytui.sim.projectx")

TOPICS = {
    "GatewayUserOrder": "orders",
    "GatewayUserTrade": "trades",
    "GatewayUserPosition": "positions",
    "GatewayUserAccount": "accounts",
}
_SUBSCRIBE = {
    "SubscribeOrders": "orders",
    "SubscribeTrades": "trades",
    "SubscribePositions": "positions",
}


@dataclass
class HubFaults:
    """What a hub does wrong on its own. The user hub's events already come duplicated, reordered or
    with a dropped connection when the paper account's Faults say so; these act on hub frames."""

    wrap: str = "orders"  # which payloads come as {action, data}: none, orders, all
    duplicate_prob: float = 0.0
    reorder_prob: float = 0.0
    drop_prob: float = 0.0  # per frame: the connection is aborted after it
    duplicate_next: int = 0
    ping_interval_s: float = 15.0
    rng: random.Random = field(default_factory=lambda: random.Random(11))


class HubConnection:
    def __init__(self, ws: web.WebSocketResponse, transport: Any, user: str) -> None:
        self.ws = ws
        self.transport = transport
        self.user = user
        # (topic, account id) on the user hub, (topic, contract id) on the market hub
        self.subs: set[tuple[str, int | str]] = set()
        self.accounts_sub = False
        self.queue: asyncio.Queue[str | None] = asyncio.Queue()
        self.held: str | None = None  # a frame held back to come after the next one (reorder fault)

    def abort(self) -> None:
        """Drop the connection the hard way, as a network failure would."""
        if self.transport is not None:
            self.transport.abort()
        self.queue.put_nowait(None)


class SignalRHub:
    """A SignalR JSON hub over aiohttp: handshake, invocations, completions, pings, a writer per connection.
    Subclasses say what an invocation does (:meth:`_invoke`) and push frames with :meth:`_send`."""

    name = "hub"

    def __init__(self, faults: HubFaults) -> None:
        self.faults = faults
        self.connections: set[HubConnection] = set()
        self.connects = 0
        self.sent_frames = 0

    def _send(self, conn: HubConnection, frame: str) -> None:
        """Queue a frame for a connection, misbehaving as the faults say: a frame held back to come after
        the next one, a frame sent twice, a connection dropped after a frame."""
        f = self.faults
        if f.reorder_prob and conn.held is None and f.rng.random() < f.reorder_prob:
            conn.held = frame
            return
        frames = [frame]
        if conn.held is not None:
            frames.append(conn.held)
            conn.held = None
        for out in frames:
            conn.queue.put_nowait(out)
            if f.duplicate_next > 0:
                f.duplicate_next -= 1
                conn.queue.put_nowait(out)
            elif f.duplicate_prob and f.rng.random() < f.duplicate_prob:
                conn.queue.put_nowait(out)
        if f.drop_prob and f.rng.random() < f.drop_prob:
            conn.abort()

    def drop_all(self) -> int:
        conns = list(self.connections)
        for conn in conns:
            conn.abort()
        return len(conns)

    # -------------------------------------------------------- connection
    async def serve(self, request: web.Request, user: str) -> web.StreamResponse:
        ws = web.WebSocketResponse(autoping=True, heartbeat=None, max_msg_size=1024 * 1024)
        await ws.prepare(request)
        conn = HubConnection(ws, request.transport, user)
        self.connects += 1
        writer = asyncio.get_running_loop().create_task(self._writer(conn), name=f"projectx-sim-{self.name}-hub-writer")
        try:
            if await self._handshake(conn):
                self.connections.add(conn)
                pinger = asyncio.get_running_loop().create_task(
                    self._pinger(conn), name=f"projectx-sim-{self.name}-hub-ping"
                )
                try:
                    await self._read(conn)
                finally:
                    pinger.cancel()
        finally:
            self.connections.discard(conn)
            conn.queue.put_nowait(None)
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await writer
            if not ws.closed:
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await ws.close()
        return ws

    async def _handshake(self, conn: HubConnection) -> bool:
        try:
            msg = await conn.ws.receive(timeout=10.0)
        except TimeoutError:
            return False
        if msg.type is not WSMsgType.TEXT:
            return False
        try:
            _, rest = signalr.parse_handshake_request(msg.data)
        except SignalRProtocolError as exc:
            await conn.ws.send_str(signalr.encode({"error": str(exc)}))
            return False
        await conn.ws.send_str(signalr.encode({}))
        if rest:
            await self._handle_text(conn, rest)
        return True

    async def _read(self, conn: HubConnection) -> None:
        async for msg in conn.ws:
            if msg.type is WSMsgType.TEXT:
                if not await self._handle_text(conn, msg.data):
                    return
            elif msg.type is WSMsgType.BINARY:
                await conn.ws.send_str(signalr.close("binary frames need the messagepack protocol"))
                return

    async def _handle_text(self, conn: HubConnection, text: str) -> bool:
        try:
            messages = signalr.FrameDecoder().feed(text if text.endswith(signalr.RS) else text + signalr.RS)
        except SignalRProtocolError as exc:
            conn.queue.put_nowait(signalr.close(f"bad frame: {exc}"))
            return False
        for m in messages:
            kind = signalr.message_type(m)
            if kind is MessageType.CLOSE:
                return False
            if kind is MessageType.INVOCATION:
                self._invoke(conn, m)
        return True

    async def _writer(self, conn: HubConnection) -> None:
        while True:
            frame = await conn.queue.get()
            if frame is None or conn.ws.closed:
                return
            try:
                await conn.ws.send_str(frame)
                self.sent_frames += 1
            except (ConnectionError, RuntimeError):
                return

    async def _pinger(self, conn: HubConnection) -> None:
        while True:
            await asyncio.sleep(self.faults.ping_interval_s)
            conn.queue.put_nowait(signalr.ping())

    def _invoke(self, conn: HubConnection, m: dict[str, Any]) -> None:
        raise NotImplementedError


class HubServer(SignalRHub):
    """Accepts SignalR JSON connections on /hubs/user and fans gateway payloads out to them."""

    name = "user"

    def __init__(self, book: GatewayBook, faults: HubFaults, account_names: dict[int, str]) -> None:
        super().__init__(faults)
        self.book = book
        self.account_names = account_names

    # ----------------------------------------------------------- fan-out
    def publish(self, ev: AccountEvent) -> None:
        acct_id = self.book.account_ids.get(ev.account)
        if acct_id is None:
            return
        for target, payload, new in self.book.translate(ev):
            topic = TOPICS[target]
            wrapped = self.faults.wrap == "all" or (self.faults.wrap == "orders" and target == "GatewayUserOrder")
            arg = {"action": 0 if new else 1, "data": payload} if wrapped else payload
            frame = signalr.invocation(target, [arg])
            for conn in list(self.connections):
                if (topic, acct_id) in conn.subs:
                    self._send(conn, frame)

    def drop(self, account_id: int | None = None) -> int:
        """Abort hub connections (those subscribed to ``account_id``, or all); how many."""
        hit = [c for c in self.connections if account_id is None or any(a == account_id for _, a in c.subs)]
        for conn in hit:
            conn.abort()
        return len(hit)

    def dropper(self, account_id: int) -> Callable[[], None]:
        """What a paper account's dropped-stream fault does here: abort that account's hub connections."""

        def drop() -> None:
            self.drop(account_id)

        return drop

    def _invoke(self, conn: HubConnection, m: dict[str, Any]) -> None:
        target, args, inv_id = m.get("target"), m.get("arguments") or [], m.get("invocationId")
        error = None
        if target == "SubscribeAccounts":
            conn.accounts_sub = True
            for acct_id, name in self.account_names.items():
                payload = {
                    "id": acct_id,
                    "name": name,
                    "balance": self.book.exchange.accounts[name].balance,
                    "canTrade": True,
                    "isVisible": True,
                    "simulated": True,
                }
                conn.queue.put_nowait(signalr.invocation("GatewayUserAccount", [payload]))
        elif target == "UnsubscribeAccounts":
            conn.accounts_sub = False
        elif isinstance(target, str) and target.removeprefix("Un") in _SUBSCRIBE:
            topic = _SUBSCRIBE[target.removeprefix("Un")]
            acct = args[0] if args else None
            if not isinstance(acct, int) or isinstance(acct, bool) or acct not in self.account_names:
                error = (
                    f"{target}: argument 0 must be one of your account ids {sorted(self.account_names)}, got {acct!r}"
                )
            elif target.startswith("Un"):
                conn.subs.discard((topic, acct))
            else:
                conn.subs.add((topic, acct))
        else:
            error = f"Unknown hub method '{target}'"
        if inv_id is not None:
            conn.queue.put_nowait(signalr.completion(str(inv_id), error=error))
