"""A loopback Rithmic gateway: R|Protocol (4-byte length + protobuf frames over a plain ``ws://``
WebSocket) for the ticker, order and PnL plants, over the paper exchange.

What it serves: system info (16), login (10) with the system name and plant, heartbeats, logout;
the ticker plant's front-month contract (113); the order plant's login info (300), accounts (302),
trade routes (310), order and bracket update subscriptions (308, 336), new order (312), bracket
order (330: legs placed as the entry fills, see :mod:`~adapters.rithmic.sim_brackets`), modify
(314), cancel (316), link orders (344: one OCO group, see :func:`sim_orders.link`), cancel all
(346), exit position (3504), show orders (320, rows as 352 marked is_snapshot) and replay
executions (3506, the same); the PnL plant's subscriptions (400) and position snapshot (402, rows
as 450). Orders become paper orders; the paper events come back as 351/352 notifications and 450
updates (:mod:`adapters.rithmic.sim_orders`), with the link fields of a bracket's or linked orders.

Fault switches: the paper accounts' :class:`Faults` (latency on order requests, rejects, partial
fills, dropped, duplicated and reordered notifications), :meth:`drop_sockets`,
:meth:`forced_logout`, ``max_sessions`` (a login past it forces the oldest session of that user and
plant out, as Rithmic does), ``stall_answers_s`` (order answers held back), ``drop_after_orders``
(the connection closes after handling an order, before answering), ``refuse_orders`` (the order
plant refuses without creating anything), ``refuse_links`` (the next link requests are refused,
nothing linked), ``mute`` (heartbeats unanswered) and :meth:`inject` (raw bytes). Every order
request received goes to the :class:`AuditLog`, refused ones too.

    sim = RithmicSimulator(exchange, users={"trader1": SimUser(None, ["RSIM-1001"])})
    await sim.start()          # sim.url: ws://127.0.0.1:PORT
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from adapters.base import OrderRejected
from adapters.rithmic import contracts, sim_orders
from adapters.rithmic.enums import InfraType
from adapters.rithmic.messages import ForcedLogout, RequestLogin
from adapters.rithmic.order_messages import (
    RequestBracketOrder,
    RequestCancelAllOrders,
    RequestCancelOrder,
    RequestExitPosition,
    RequestLinkOrders,
    RequestModifyOrder,
    RequestNewOrder,
    ResponseBracketOrder,
    ResponseCancelAllOrders,
    ResponseCancelOrder,
    ResponseExitPosition,
    ResponseLinkOrders,
    ResponseModifyOrder,
    ResponseNewOrder,
)
from adapters.rithmic.proto import Message
from adapters.rithmic.sim_brackets import Brackets
from adapters.rithmic.sim_conn import OK, SimConnection
from adapters.rithmic.sim_orders import Desk, Refused
from adapters.simkit import AuditLog, Faults, PaperExchange
from copytui.models import EventKind

log = logging.getLogger("copytui.sim.rithmic")

SYSTEMS = ("Rithmic Test", "Rithmic Paper Trading", "Rithmic 01", "TopstepTrader", "Apex", "Bulenox")
"""System names the simulator offers (names Rithmic's own system-info answer lists)."""
SIM_PASSWORD = "sim-password"  # noqa: S105  # the simulator takes any password; this one is printed for trying it
ACTIONS = {
    312: "new_order",
    314: "modify_order",
    316: "cancel_order",
    330: "bracket_order",
    344: "link_orders",
    346: "cancel_all_orders",
    3504: "exit_position",
}


@dataclass
class SimUser:
    password: str | None
    """None: any non-empty password logs in."""
    accounts: list[str] = field(default_factory=list)


class RithmicSimulator:
    def __init__(
        self,
        exchange: PaperExchange | None = None,
        *,
        users: dict[str, SimUser] | None = None,
        systems: Sequence[str] = SYSTEMS,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: Faults | None = None,
        audit: AuditLog | str | None = None,
        heartbeat_s: float = 60.0,
        max_sessions: int | None = None,
        now: datetime | None = None,
    ) -> None:
        self.exchange = exchange or PaperExchange()
        self.users = users if users is not None else {"trader1": SimUser(None, ["RSIM-1001", "RSIM-1002"])}
        self.owner = {a: name for name, user in self.users.items() for a in user.accounts}
        for account in self.owner:
            self.exchange.account(account, faults=replace(faults) if faults is not None else None)
        self.systems = tuple(systems)
        self.host, self.port = host, port
        self._owns_audit = not isinstance(audit, AuditLog)
        self.audit = audit if isinstance(audit, AuditLog) else AuditLog("rithmic", audit)
        self.heartbeat_s = heartbeat_s
        self.max_sessions = max_sessions
        today = now or datetime.now(UTC)
        front = {s: contracts.front_quarter(today.year, today.month, s) for s in contracts.PRODUCTS}
        self.desk = Desk(fcm_id=f"SimFCM{port or ''}", ib_id="SimIB", route="simulator", contracts=front)
        self.conns: list[SimConnection] = []
        self.logins: list[tuple[str, InfraType]] = []
        self.stall_answers_s = 0.0
        self.drop_after_orders = 0
        self.refuse_orders = 0
        self.refuse_links = 0
        self.mute = False
        """Heartbeats go unanswered (a gateway that hangs): clients must notice the silence."""
        self._deferred: list[tuple[SimConnection, Message]] | None = None
        self.brackets = Brackets(self.exchange)
        self._runner: web.AppRunner | None = None
        self._unlisten = [self.exchange.listen(a, self._listener(a), self._dropper(a)) for a in self.owner]

    # ------------------------------------------------------------ lifecycle
    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    async def start(self) -> RithmicSimulator:
        app = web.Application()
        app.router.add_get("/", self._accept)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        self.port = self._runner.addresses[0][1]
        self.desk = replace(self.desk, fcm_id=f"SimFCM{self.port}")  # one simulator's accounts are not another's
        return self

    async def stop(self) -> None:
        for conn in list(self.conns):
            conn.drop(1001)
        for unlisten in self._unlisten:
            unlisten()
        self._unlisten = []
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._owns_audit:
            self.audit.close()

    async def __aenter__(self) -> RithmicSimulator:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _accept(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=4 * 1024 * 1024)
        await ws.prepare(request)
        conn = SimConnection(self, ws)
        self.conns.append(conn)
        await conn.run()
        return ws

    # ------------------------------------------------------------ logins and sessions
    def check_login(self, msg: RequestLogin) -> str | None:
        """Why a login is refused; None when it is taken."""
        user = self.users.get(msg.user)
        if msg.system_name not in self.systems:
            return f"system name {msg.system_name!r} is not offered here ({', '.join(self.systems)})"
        if user is None or not msg.password or (user.password is not None and msg.password != user.password):
            return "login failed: user or password not recognised"
        if msg.infra_type not in (InfraType.TICKER_PLANT, InfraType.ORDER_PLANT, InfraType.PNL_PLANT):
            return f"infra_type {msg.infra_type}: only the ticker, order and PnL plants are simulated"
        return None

    def logged_in(self, conn: SimConnection) -> None:
        assert conn.infra is not None
        self.logins.append((conn.user, conn.infra))
        if self.max_sessions is None:
            return
        same = [c for c in self.conns if c.alive and c.user == conn.user and c.infra is conn.infra]
        for old in sorted(same, key=lambda c: c.opened)[: max(len(same) - self.max_sessions, 0)]:
            old.send(ForcedLogout())
            old.drop(1000)

    def gone(self, conn: SimConnection) -> None:
        if conn in self.conns:
            self.conns.remove(conn)

    def sessions(self, infra: InfraType | None = None) -> list[SimConnection]:
        return [c for c in self.conns if c.alive and c.infra is not None and (infra is None or c.infra is infra)]

    # ------------------------------------------------------------ fault switches
    def drop_sockets(self, account: str | None = None) -> int:
        """Close every order and PnL connection subscribed to ``account`` (all, for None)."""
        hit = [c for c in self.sessions() if account is None or account in c.accounts]
        for conn in hit:
            conn.drop()
        return len(hit)

    def forced_logout(self, user: str) -> int:
        hit = [c for c in self.sessions() if c.user == user]
        for conn in hit:
            conn.send(ForcedLogout())
            conn.drop(1000)
        return len(hit)

    def inject(self, account: str, data: bytes) -> int:
        """Raw bytes to the order plant connections subscribed to ``account``."""
        hit = [c for c in self.sessions(InfraType.ORDER_PLANT) if account in c.accounts]
        for conn in hit:
            conn.send_raw(data)
        return len(hit)

    # ------------------------------------------------------------ notifications
    def _listener(self, account: str) -> Callable[[Any], None]:
        def publish(ev: Any) -> None:
            order = self.exchange.accounts[account].orders.get(ev.order_id) if ev.order_id else None
            if ev.kind is EventKind.POSITION:
                note = sim_orders.position_note(self.exchange, self.desk, account, ev.symbol, False, ev.wall_ns)
                self._out(InfraType.PNL_PLANT, account, [note])
            else:
                notes = sim_orders.notifications(self.desk, self.owner[account], ev, order)
                self.brackets.told(account, ev, notes)
                self._out(InfraType.ORDER_PLANT, account, notes)

        return publish

    def _dropper(self, account: str) -> Callable[[], None]:
        """The paper exchange's stream-drop fault for ``account``: its connections close."""

        def drop() -> None:
            self.drop_sockets(account)

        return drop

    def _out(self, infra: InfraType, account: str, msgs: list[Message]) -> None:
        for conn in self.sessions(infra):
            if account in conn.accounts:
                for msg in msgs:
                    if self._deferred is not None:
                        self._deferred.append((conn, msg))
                    else:
                        conn.send(msg)

    def working_rows(self, account: str, user: str) -> list[Message]:
        rows: list[Message] = []
        for order in self.exchange.accounts[account].orders.values():
            if not order.status.final:
                ev = self.exchange.order_event(account, EventKind.ORDER_NEW, order)
                rows.append(sim_orders.order_row(self.desk, user, ev, order))
                self.brackets.stamp(account, order.id, rows[-1:])
        return rows

    def fill_rows(self, account: str, user: str, start_s: int, finish_s: int) -> list[Message]:
        acct = self.exchange.accounts[account]
        rows: list[Message] = []
        for f in acct.fills:
            if start_s <= f.event.wall_ns // 1_000_000_000 <= finish_s:
                order_id = f.event.order_id or ""
                rows.append(sim_orders.fill_note(self.desk, user, f.event, acct.orders.get(order_id), snapshot=True))
                self.brackets.stamp(account, order_id, rows[-1:])
        return rows

    def position_rows(self, account: str) -> list[Message]:
        return [
            sim_orders.position_note(self.exchange, self.desk, account, symbol, True)
            for symbol, pos in self.exchange.accounts[account].positions.items()
            if pos.qty or pos.realized
        ]

    # ------------------------------------------------------------ order requests
    async def order_request(self, conn: SimConnection, msg: Message) -> None:
        account = sim_orders.account_of(msg)
        paper = self.exchange.accounts.get(account)
        if paper is not None and paper.faults.latency_ms:
            await asyncio.sleep(paper.faults.latency_ms / 1000.0)
        deferred: list[tuple[SimConnection, Message]] = []
        self._deferred = deferred
        try:
            answers = self._apply(conn, msg)
        finally:
            self._deferred = None
        if self.drop_after_orders > 0:
            self.drop_after_orders -= 1
            conn.drop()
        elif self.stall_answers_s:
            for other, note in deferred:
                other.send(note)
            deferred = []
            await asyncio.sleep(self.stall_answers_s)
        for answer in answers:
            conn.send(answer)
        for other, note in deferred:
            other.send(note)

    def _apply(self, conn: SimConnection, msg: Message) -> list[Message]:
        user_msg: list[str] = getattr(msg, "user_msg", [])
        account = sim_orders.account_of(msg)
        tag = msg.user_tag if isinstance(msg, RequestNewOrder | RequestBracketOrder) else None
        if isinstance(msg, RequestModifyOrder | RequestCancelOrder):
            order = self.exchange.accounts.get(account, None)
            tag = order.orders[msg.basket_id].client_order_id if order and msg.basket_id in order.orders else None
        request = {k: v for k, v in dataclasses.asdict(msg).items() if k != "user_msg"}  # type: ignore[call-overload]  # messages are dataclasses
        try:
            if account not in self.users[conn.user].accounts:
                raise Refused("5", f"account {account!r} is not yours")
            if self.refuse_orders > 0:
                self.refuse_orders -= 1
                raise Refused("3", "refused by the simulator's refuse_orders switch")
            answers = self._order(msg, user_msg)
        except Refused as exc:
            self.audit.record(account, ACTIONS[msg.TEMPLATE], tag, "refused", exc.text, request)
            answer_type = type(self._order_answer(msg))
            return [answer_type(user_msg=user_msg, rp_code=[exc.code, exc.text])]  # type: ignore[call-arg]  # every answer declares both
        self.audit.record(account, ACTIONS[msg.TEMPLATE], tag, "accepted", "", request)
        return answers

    @staticmethod
    def _order_answer(msg: Message) -> Message:
        kinds: dict[type[Message], Message] = {
            RequestNewOrder: ResponseNewOrder(),
            RequestBracketOrder: ResponseBracketOrder(),
            RequestModifyOrder: ResponseModifyOrder(),
            RequestCancelOrder: ResponseCancelOrder(),
            RequestCancelAllOrders: ResponseCancelAllOrders(),
            RequestExitPosition: ResponseExitPosition(),
            RequestLinkOrders: ResponseLinkOrders(),
        }
        return kinds[type(msg)]

    def _order(self, msg: Message, user_msg: list[str]) -> list[Message]:
        ex, desk = self.exchange, self.desk
        if isinstance(msg, RequestNewOrder):
            order = sim_orders.submit(ex, desk, msg)
            return [
                ResponseNewOrder(user_msg=user_msg, user_tag=msg.user_tag, rq_handler_rp_code=OK, basket_id=order.id),
                ResponseNewOrder(user_msg=user_msg, user_tag=msg.user_tag, rp_code=OK),
            ]
        if isinstance(msg, RequestBracketOrder):
            order, tag = self.brackets.submit(desk, msg), msg.user_tag
            return [
                ResponseBracketOrder(user_msg=user_msg, user_tag=tag, rq_handler_rp_code=OK, basket_id=order.id),
                ResponseBracketOrder(user_msg=user_msg, user_tag=tag, rp_code=OK),
            ]
        if isinstance(msg, RequestModifyOrder):
            order = sim_orders.modify(ex, msg)
            return [
                ResponseModifyOrder(user_msg=user_msg, rq_handler_rp_code=OK, basket_id=order.id),
                ResponseModifyOrder(user_msg=user_msg, rp_code=OK),
            ]
        if isinstance(msg, RequestCancelOrder):
            try:
                ex.cancel(msg.account_id, msg.basket_id)
            except OrderRejected as exc:
                raise Refused("5", str(exc)) from None
            return [
                ResponseCancelOrder(user_msg=user_msg, rq_handler_rp_code=OK, basket_id=msg.basket_id),
                ResponseCancelOrder(user_msg=user_msg, rp_code=OK),
            ]
        if isinstance(msg, RequestCancelAllOrders):
            for order in list(ex.accounts[msg.account_id].orders.values()):
                if not order.status.final:
                    ex.cancel(msg.account_id, order.id)
            return [ResponseCancelAllOrders(user_msg=user_msg, rp_code=OK)]
        if isinstance(msg, RequestLinkOrders):
            if self.refuse_links > 0:
                self.refuse_links -= 1
                raise Refused("3", "refused by the simulator's refuse_links switch")
            sim_orders.link(ex, msg)
            return [ResponseLinkOrders(user_msg=user_msg, rp_code=OK)]
        assert isinstance(msg, RequestExitPosition)
        symbol = desk.symbol(msg.symbol, msg.exchange) if msg.symbol else None
        ex.flatten(msg.account_id, symbol)
        return [
            ResponseExitPosition(user_msg=user_msg, rq_handler_rp_code=OK, symbol=msg.symbol, exchange=msg.exchange),
            ResponseExitPosition(user_msg=user_msg, rp_code=OK),
        ]


__all__ = ["SIM_PASSWORD", "SYSTEMS", "RithmicSimulator", "SimUser"]
