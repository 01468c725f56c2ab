"""The simulator's side of the user hub: paper-exchange events as gateway payloads, and the
SignalR connections they are pushed to. :class:`SignalRHub` is the SignalR JSON server both hubs
share (the market hub is in :mod:`adapters.projectx.sim_market`).

Every event of every simulated account passes through :class:`GatewayBook`, which keeps what the
REST side reports too (order timestamps, the trade list for ``Trade/search``) and turns the event
into ``GatewayUserOrder`` / ``GatewayUserTrade`` / ``GatewayUserPosition`` payloads. A duplicated
paper event gives the same trade id, as a real duplicate delivery would.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import WSMsgType, web

from adapters.paper.exchange import PaperExchange, PaperOrder
from adapters.projectx import signalr
from adapters.projectx.payloads import TYPE_OUT, GwStatus, side_out
from adapters.projectx.signalr import MessageType, SignalRProtocolError
from copytui.models import AccountEvent, EventKind, OrderStatus, OrderType

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


def iso(ns: int | None = None) -> str:
    return datetime.fromtimestamp((ns or time.time_ns()) / 1e9, UTC).isoformat()


def gateway_order_id(paper_id: str) -> int:
    return int(paper_id.lstrip("P"))


def status_of(order: PaperOrder) -> GwStatus:
    return {
        OrderStatus.FILLED: GwStatus.FILLED,
        OrderStatus.CANCELLED: GwStatus.CANCELLED,
        OrderStatus.REJECTED: GwStatus.REJECTED,
    }.get(order.status, GwStatus.OPEN)


@dataclass
class GatewayBook:
    """What the gateway knows beyond the paper exchange: ids, timestamps, trades, positions."""

    exchange: PaperExchange
    account_ids: dict[str, int]  # paper account name -> gateway account id
    contract_of: Callable[[str], str]
    created_ns: dict[int, int] = field(default_factory=dict)
    updated_ns: dict[int, int] = field(default_factory=dict)
    trade_ids: dict[str, int] = field(default_factory=dict)  # paper fill id -> trade id
    trades: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # account id -> trades
    notional: dict[int, float] = field(default_factory=dict)
    position_type: dict[tuple[int, str], int] = field(default_factory=dict)
    position_ids: dict[tuple[int, str], int] = field(default_factory=dict)

    def order_payload(self, order: PaperOrder) -> dict[str, Any]:
        """An order as the REST searches report it (its current state)."""
        oid = gateway_order_id(order.id)
        now = time.time_ns()
        return {
            "id": oid,
            "accountId": self.account_ids[order.account],
            "contractId": self.contract_of(order.symbol),
            "symbolId": self.contract_of(order.symbol).rsplit(".", 1)[0].removeprefix("CON."),
            "creationTimestamp": iso(self.created_ns.get(oid, now)),
            "updateTimestamp": iso(self.updated_ns.get(oid, now)),
            "status": int(status_of(order)),
            "type": int(TYPE_OUT[order.order_type]),
            "side": side_out(order.side),
            "size": order.qty,
            "limitPrice": order.price,
            "stopPrice": order.stop_price,
            "fillVolume": order.filled,
            "filledPrice": order.avg_fill_price,
            "customTag": order.client_order_id,
        }

    def translate(self, ev: AccountEvent) -> list[tuple[str, dict[str, Any], bool]]:
        """One paper event -> [(hub target, payload, is_new)] in the order the gateway sends them."""
        acct_id = self.account_ids[ev.account]
        if ev.kind is EventKind.POSITION:
            return [("GatewayUserPosition", self._position(acct_id, ev), False)]
        assert ev.order_id is not None and ev.symbol is not None and ev.side is not None
        oid = gateway_order_id(ev.order_id)
        new = oid not in self.created_ns
        self.created_ns.setdefault(oid, ev.wall_ns)
        self.updated_ns[oid] = max(self.updated_ns.get(oid, 0), ev.wall_ns)
        out: list[tuple[str, dict[str, Any], bool]] = []
        status = {
            EventKind.ORDER_CANCELLED: GwStatus.CANCELLED,
            EventKind.ORDER_REJECTED: GwStatus.REJECTED,
        }.get(ev.kind, GwStatus.OPEN)
        if ev.kind is EventKind.FILL:
            out.append(("GatewayUserTrade", self._trade(acct_id, oid, ev), True))
            status = GwStatus.FILLED if ev.cum_qty >= ev.qty else GwStatus.OPEN
        avg = self.notional[oid] / ev.cum_qty if ev.cum_qty and oid in self.notional else None
        order = {
            "id": oid,
            "accountId": acct_id,
            "contractId": self.contract_of(ev.symbol),
            "creationTimestamp": iso(self.created_ns[oid]),
            "updateTimestamp": iso(ev.wall_ns),
            "status": int(status),
            "type": int(TYPE_OUT[ev.order_type or OrderType.MARKET]),
            "side": side_out(ev.side),
            "size": ev.qty,
            "limitPrice": ev.price,
            "stopPrice": ev.stop_price,
            "fillVolume": ev.cum_qty,
            "filledPrice": avg,
            "customTag": ev.client_order_id,
        }
        out.append(("GatewayUserOrder", order, new))
        return out

    def _trade(self, acct_id: int, oid: int, ev: AccountEvent) -> dict[str, Any]:
        assert ev.fill_id is not None and ev.fill_price is not None and ev.side is not None
        tid = self.trade_ids.get(ev.fill_id)
        if tid is None:
            tid = len(self.trade_ids) + 1
            self.trade_ids[ev.fill_id] = tid
            self.notional[oid] = self.notional.get(oid, 0.0) + ev.fill_price * ev.fill_qty
            trade = {
                "id": tid,
                "accountId": acct_id,
                "contractId": self.contract_of(ev.symbol or ""),
                "creationTimestamp": iso(ev.wall_ns),
                "price": ev.fill_price,
                "profitAndLoss": None,
                "fees": round(0.37 * ev.fill_qty, 2),
                "side": side_out(ev.side),
                "size": ev.fill_qty,
                "voided": False,
                "orderId": oid,
            }
            self.trades.setdefault(acct_id, []).append(trade)
            return trade
        return next(t for t in self.trades[acct_id] if t["id"] == tid)

    def _position(self, acct_id: int, ev: AccountEvent) -> dict[str, Any]:
        assert ev.symbol is not None and ev.position is not None
        key = (acct_id, ev.symbol)
        if ev.position:
            self.position_type[key] = 1 if ev.position > 0 else 2
        pid = self.position_ids.setdefault(key, len(self.position_ids) + 1)
        return {
            "id": pid,
            "accountId": acct_id,
            "contractId": self.contract_of(ev.symbol),
            "creationTimestamp": iso(ev.wall_ns),
            "type": self.position_type.get(key, 1),
            "size": abs(ev.position),
            "averagePrice": ev.avg_price or 0.0,
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

    def _invoke(self, conn: HubConnection, m: dict[str, Any]) -> None:
        target, args, inv_id = m.get("target"), m.get("arguments") or [], m.get("invocationId")
        error = None
        if target == "SubscribeAccounts":
            conn.accounts_sub = True
            for acct_id, name in self.account_names.items():
                acct = self.book.exchange.accounts[name]
                payload = {
                    "id": acct_id,
                    "name": name,
                    "balance": acct.balance,
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
