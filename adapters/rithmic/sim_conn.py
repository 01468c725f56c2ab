"""One client connection to the simulated Rithmic gateway: its login, its plant, its requests.

Frames are read in order; answers and notifications leave through one queue per connection, so a
request's answer is written before the notifications its order made (the order path holds those
back until the answer is queued). Before login only RequestLogin, RequestRithmicSystemInfo and
heartbeats are taken; anything else is answered with a Reject (75). Each plant answers its own
requests: ticker (front month), order (login info, accounts, trade routes, subscriptions, orders,
bracket orders, order links, show orders, execution replay), PnL (subscriptions, position snapshot).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING

from aiohttp import WSMsgType, web

from adapters.rithmic import contracts, proto
from adapters.rithmic.enums import InfraType, PnlRequest, UserType
from adapters.rithmic.messages import (
    WIRE_TEMPLATES,
    Reject,
    RequestAccountList,
    RequestFrontMonthContract,
    RequestHeartbeat,
    RequestLogin,
    RequestLoginInfo,
    RequestLogout,
    RequestPnLPositionSnapshot,
    RequestPnLPositionUpdates,
    RequestRithmicSystemInfo,
    RequestSubscribeForOrderUpdates,
    RequestSubscribeToBracketUpdates,
    RequestTradeRoutes,
    ResponseAccountList,
    ResponseFrontMonthContract,
    ResponseHeartbeat,
    ResponseLogin,
    ResponseLoginInfo,
    ResponseLogout,
    ResponsePnLPositionSnapshot,
    ResponsePnLPositionUpdates,
    ResponseRithmicSystemInfo,
    ResponseSubscribeForOrderUpdates,
    ResponseSubscribeToBracketUpdates,
    ResponseTradeRoutes,
)
from adapters.rithmic.order_messages import (
    RequestReplayExecutions,
    RequestShowOrders,
    ResponseReplayExecutions,
    ResponseShowOrders,
)
from adapters.rithmic.proto import Message

if TYPE_CHECKING:
    from adapters.rithmic.simulator import RithmicSimulator

log = logging.getLogger("copytui.sim.rithmic")

OK = ["0"]
ORDER_TEMPLATES = (312, 314, 316, 330, 344, 346, 3504)
"""Order requests (bracket orders and link orders among them): handled by the simulator's order path
(latency, audit)."""


class SimConnection:
    def __init__(self, sim: RithmicSimulator, ws: web.WebSocketResponse) -> None:
        self.sim = sim
        self.ws = ws
        self.user = ""
        self.infra: InfraType | None = None
        self.accounts: set[str] = set()
        """Accounts subscribed here: order updates (order plant) or PnL updates (PnL plant)."""
        self.outbox: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.alive = True
        self.opened = time.monotonic()
        self.tasks: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------ output
    def send(self, msg: Message) -> None:
        if self.alive:
            self.outbox.put_nowait(proto.frame(msg))

    def send_raw(self, data: bytes) -> None:
        if self.alive:
            self.outbox.put_nowait(data)

    def drop(self, code: int = 1011) -> None:
        """Close from the server's side now; nothing more is sent."""
        if self.alive:
            self.alive = False
            self.outbox.put_nowait(None)
            self.close_code = code

    close_code = 1000

    async def _write(self) -> None:
        while True:
            data = await self.outbox.get()
            if data is None:
                break
            try:
                await self.ws.send_bytes(data)
            except (ConnectionError, RuntimeError):
                break
        self.alive = False
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self.ws.close(code=self.close_code)

    # ------------------------------------------------------------ input
    async def run(self) -> None:
        writer = asyncio.get_running_loop().create_task(self._write(), name="rithmic-sim-write")
        try:
            async for msg in self.ws:
                if msg.type is not WSMsgType.BINARY:
                    continue
                try:
                    bodies = proto.unframe(msg.data)
                    requests = [proto.decode(body, WIRE_TEMPLATES) for body in bodies]
                except proto.MalformedFrame as exc:
                    log.warning("rithmic simulator: unreadable frame from a client: %s", exc)
                    continue
                for request in requests:
                    if isinstance(request, int):
                        self.send(Reject(rp_code=["1", f"template {request} is not simulated"]))
                    elif self.alive:
                        self.handle(request)
        finally:
            self.alive = False
            self.outbox.put_nowait(None)
            await writer
            for task in list(self.tasks):
                task.cancel()
            self.sim.gone(self)

    def handle(self, msg: Message) -> None:
        user_msg: list[str] = getattr(msg, "user_msg", [])
        if isinstance(msg, RequestHeartbeat):
            if self.sim.mute:
                return
            now = time.time_ns()
            self.send(ResponseHeartbeat(user_msg=user_msg, rp_code=OK, ssboe=now // 10**9, usecs=now // 1000 % 10**6))
        elif isinstance(msg, RequestRithmicSystemInfo):
            systems = list(self.sim.systems)
            self.send(ResponseRithmicSystemInfo(user_msg=user_msg, rp_code=OK, system_name=systems,
                                                has_aggregated_quotes=[False] * len(systems)))  # fmt: skip
        elif isinstance(msg, RequestLogin):
            self.login(msg)
        elif self.infra is None:
            self.send(Reject(user_msg=user_msg, rp_code=["1", "permission denied: log in first"]))
        elif isinstance(msg, RequestLogout):
            self.send(ResponseLogout(user_msg=user_msg, rp_code=OK))
            self.drop(1000)
        elif self.infra is InfraType.ORDER_PLANT:
            self.order_plant(msg, user_msg)
        elif self.infra is InfraType.PNL_PLANT:
            self.pnl_plant(msg, user_msg)
        elif isinstance(msg, RequestFrontMonthContract):
            self.front_month(msg, user_msg)
        else:
            self.send(Reject(user_msg=user_msg, rp_code=["1", f"{type(msg).__name__} is not taken by this plant"]))

    def login(self, msg: RequestLogin) -> None:
        refusal = self.sim.check_login(msg)
        if refusal is not None:
            self.send(ResponseLogin(user_msg=msg.user_msg, rp_code=["13", refusal]))
            return
        self.user, self.infra = msg.user, InfraType(msg.infra_type)
        self.send(
            ResponseLogin(
                template_version=msg.template_version,
                user_msg=msg.user_msg,
                rp_code=OK,
                fcm_id=self.sim.desk.fcm_id,
                ib_id=self.sim.desk.ib_id,
                country_code="US",
                unique_user_id=f"sim-{msg.user}",
                heartbeat_interval=self.sim.heartbeat_s,
            )
        )
        self.sim.logged_in(self)

    # ------------------------------------------------------------ plants
    def _owned(self, account_id: str, user_msg: list[str], answer: type[Message]) -> bool:
        if account_id in self.sim.users[self.user].accounts:
            return True
        self.send(answer(user_msg=user_msg, rp_code=["5", f"account {account_id!r} is not yours"]))  # type: ignore[call-arg]  # every answer type declares user_msg and rp_code
        return False

    def order_plant(self, msg: Message, user_msg: list[str]) -> None:
        sim, desk = self.sim, self.sim.desk
        if msg.TEMPLATE in ORDER_TEMPLATES:
            task = asyncio.get_running_loop().create_task(sim.order_request(self, msg), name="rithmic-sim-order")
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        elif isinstance(msg, RequestLoginInfo):
            self.send(ResponseLoginInfo(user_msg=user_msg, rp_code=OK, fcm_id=desk.fcm_id, ib_id=desk.ib_id,
                                        user=self.user, user_type=UserType.TRADER, op_max_session_count=1))  # fmt: skip
        elif isinstance(msg, RequestAccountList):
            for account in sim.users[self.user].accounts:
                self.send(ResponseAccountList(user_msg=user_msg, rq_handler_rp_code=OK, fcm_id=desk.fcm_id,
                                              ib_id=desk.ib_id, account_id=account, account_name=account,
                                              account_currency="USD", account_auto_liquidate="enabled"))  # fmt: skip
            self.send(ResponseAccountList(user_msg=user_msg, rp_code=OK))
        elif isinstance(msg, RequestTradeRoutes):
            for exchange in sorted({e for _, e in contracts.PRODUCTS.values()}):
                self.send(ResponseTradeRoutes(user_msg=user_msg, rq_handler_rp_code=OK, fcm_id=desk.fcm_id,
                                              ib_id=desk.ib_id, exchange=exchange, trade_route=desk.route,
                                              status="UP", is_default=True))  # fmt: skip
            self.send(ResponseTradeRoutes(user_msg=user_msg, rp_code=OK))
        elif isinstance(msg, RequestSubscribeForOrderUpdates):
            if self._owned(msg.account_id, user_msg, ResponseSubscribeForOrderUpdates):
                self.accounts.add(msg.account_id)
                self.send(ResponseSubscribeForOrderUpdates(user_msg=user_msg, rp_code=OK))
        elif isinstance(msg, RequestSubscribeToBracketUpdates):
            self.send(ResponseSubscribeToBracketUpdates(user_msg=user_msg, rp_code=OK))
        elif isinstance(msg, RequestShowOrders):
            if self._owned(msg.account_id, user_msg, ResponseShowOrders):
                for row in sim.working_rows(msg.account_id, self.user):
                    self.send(row)
                self.send(ResponseShowOrders(user_msg=user_msg, rp_code=OK))
        elif isinstance(msg, RequestReplayExecutions):
            if self._owned(msg.account_id, user_msg, ResponseReplayExecutions):
                rows = sim.fill_rows(msg.account_id, self.user, msg.start_index, msg.finish_index)
                for row in rows:
                    self.send(row)
                self.send(ResponseReplayExecutions(user_msg=user_msg, rp_code=OK if rows else ["7", "no data"]))
        else:
            self.send(Reject(user_msg=user_msg, rp_code=["1", f"{type(msg).__name__} is not simulated"]))

    def pnl_plant(self, msg: Message, user_msg: list[str]) -> None:
        if isinstance(msg, RequestPnLPositionUpdates):
            if self._owned(msg.account_id, user_msg, ResponsePnLPositionUpdates):
                if msg.request == PnlRequest.UNSUBSCRIBE:
                    self.accounts.discard(msg.account_id)
                else:
                    self.accounts.add(msg.account_id)
                self.send(ResponsePnLPositionUpdates(user_msg=user_msg, rp_code=OK))
        elif isinstance(msg, RequestPnLPositionSnapshot):
            if self._owned(msg.account_id, user_msg, ResponsePnLPositionSnapshot):
                for row in self.sim.position_rows(msg.account_id):
                    self.send(row)
                self.send(ResponsePnLPositionSnapshot(user_msg=user_msg, rp_code=OK))
        else:
            self.send(Reject(user_msg=user_msg, rp_code=["1", f"{type(msg).__name__} is not simulated"]))

    def front_month(self, msg: RequestFrontMonthContract, user_msg: list[str]) -> None:
        symbol = contracts.SYMBOL_OF_PRODUCT.get((msg.symbol, msg.exchange))
        contract = self.sim.desk.contracts.get(symbol) if symbol else None
        if contract is None:
            self.send(ResponseFrontMonthContract(user_msg=user_msg, rp_code=["7", "no data"]))
            return
        self.send(
            ResponseFrontMonthContract(
                user_msg=user_msg,
                rp_code=OK,
                symbol=msg.symbol,
                exchange=msg.exchange,
                is_front_month_symbol=True,
                symbol_name=f"Front Month for {msg.symbol} - {contract}",
                trading_symbol=contract.symbol,
                trading_exchange=contract.exchange,
            )
        )
