"""One WebSocket to one Rithmic plant, logged in: requests and their answers, heartbeats, pushes.

Every request carries a fresh ``user_msg`` that the plant echoes on each answer: rows carry
``rq_handler_rp_code``, the last answer ``rp_code`` ("0" done, "7" no data, else the refusal and
its text). Some answers come as notifications instead (show orders, replayed executions, PnL
snapshots: rows marked ``is_snapshot`` without ``user_msg``); they are claimed by the one request
of that kind in flight for their account (the session serialises those per account). Everything
else is a push (order notifications, PnL updates) and goes to ``on_push``.

A frame that does not decode is reported through ``on_drop`` and skipped. The link is lost when
the socket closes or nothing at all arrives for two heartbeat intervals; every request still
waiting then fails with :class:`~adapters.base.Disconnected`.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp

from adapters.base import AuthFailed, BrokerError, Disconnected
from adapters.kit.tasks import TaskGroup
from adapters.rithmic import proto
from adapters.rithmic.enums import InfraType
from adapters.rithmic.messages import (
    WIRE_TEMPLATES,
    ForcedLogout,
    InstrumentPnLPositionUpdate,
    Reject,
    RequestHeartbeat,
    RequestLogin,
    RequestLogout,
    ResponseHeartbeat,
    ResponseLogin,
)
from adapters.rithmic.order_messages import ExchangeOrderNotification, RithmicOrderNotification
from adapters.rithmic.proto import Message

log = logging.getLogger("copytui.adapters.rithmic")

TEMPLATE_VERSION = "3.9"
SNAPSHOT_ROWS = (RithmicOrderNotification, ExchangeOrderNotification, InstrumentPnLPositionUpdate)


@dataclass(frozen=True)
class Login:
    """Who logs in where. ``password`` is read at each login and never kept."""

    url: str
    user: str
    password: Callable[[], str | None] = field(repr=False)
    system_name: str
    app_name: str
    app_version: str
    ssl_context: ssl.SSLContext | None = field(default=None, repr=False)
    timeout_s: float = 5.0


@dataclass(slots=True)
class Answer:
    rows: list[Message]
    final: Message
    """The answer that ended the request (its ``rp_code`` says how), or a Reject."""

    @property
    def code(self) -> str:
        codes: list[str] = getattr(self.final, "rp_code", [])
        return codes[0] if codes else ""

    @property
    def ok(self) -> bool:
        return self.code == "0" and not isinstance(self.final, Reject)

    @property
    def text(self) -> str:
        """The refusal as Rithmic said it: code and text."""
        codes: list[str] = getattr(self.final, "rp_code", [])
        said = ", ".join(c for c in codes if c) or "no rp_code"
        return f"{type(self.final).__name__} rp_code {said}"


@dataclass(slots=True)
class Pending:
    future: asyncio.Future[Answer]
    rows: list[Message] = field(default_factory=list)
    written: bool = False


Push = Callable[[Message, int], None]


class PlantLink:
    def __init__(
        self,
        login: Login,
        infra: InfraType,
        *,
        on_push: Push,
        on_drop: Callable[[str], None],
        on_lost: Callable[[PlantLink, str], None],
        on_forced: Callable[[PlantLink], None],
    ) -> None:
        self.login = login
        self.infra = infra
        self.name = infra.name.lower().replace("_", " ")
        self.on_push = on_push
        self.on_drop = on_drop
        self.on_lost = on_lost
        self.on_forced = on_forced
        self.pending: dict[str, Pending] = {}
        self.snapshots: dict[str, Pending] = {}
        """account id -> the request whose is_snapshot rows are arriving."""
        self.ids = itertools.count(1)
        self.prefix = f"{infra.value}-{id(self):x}-"
        self.tasks = TaskGroup()
        self.http: aiohttp.ClientSession | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.heartbeat_s = 30.0
        self.last_recv = time.monotonic()
        self.server_time: tuple[int, int] = (0, 0)
        """ssboe, usecs of the latest heartbeat answer: the gateway's clock."""
        self.closing = False
        self.established = False
        """Logged in: from then on a lost socket is reported to ``on_lost`` (before, to the login)."""
        self.lost_reason = ""

    @property
    def open(self) -> bool:
        return self.ws is not None and not self.ws.closed and not self.closing

    def next_id(self) -> str:
        return f"{self.prefix}{next(self.ids)}"

    # ------------------------------------------------------------ session
    async def connect(self) -> ResponseLogin:
        """Open the socket and log in; AuthFailed with Rithmic's text when the login is refused."""
        login = self.login
        self.http = aiohttp.ClientSession()
        try:
            self.ws = await asyncio.wait_for(
                self.http.ws_connect(
                    login.url, autoping=True, max_msg_size=proto.MAX_FRAME, ssl=login.ssl_context or True
                ),
                login.timeout_s,
            )
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            await self.close(logout=False)
            raise Disconnected(f"cannot reach the Rithmic gateway {login.url}: {exc or 'timeout'}") from None
        self.last_recv = time.monotonic()
        self.tasks.spawn(self._read(), f"rithmic-{self.name}-read")
        password = login.password()
        if not password:
            await self.close(logout=False)
            raise AuthFailed(f"no Rithmic password stored for {login.user} (copytui accounts add)")
        request = RequestLogin(
            template_version=TEMPLATE_VERSION,
            user=login.user,
            password=password,
            app_name=login.app_name,
            app_version=login.app_version,
            system_name=login.system_name,
            infra_type=self.infra,
        )
        del password
        try:
            answer = await self.call(request, what="login")
        except BrokerError:
            await self.close(logout=False)
            raise
        if not answer.ok or not isinstance(answer.final, ResponseLogin):
            await self.close(logout=False)
            raise AuthFailed(
                f"Rithmic refused the {self.name} login of {login.user} to {login.system_name!r}: {answer.text}"
            )
        self.established = True
        interval = answer.final.heartbeat_interval
        self.heartbeat_s = interval if 0.05 <= interval <= 3600 else 30.0
        self.tasks.spawn(self._heartbeats(), f"rithmic-{self.name}-heartbeat")
        await self.post(RequestHeartbeat())  # Rithmic expects a heartbeat right after the login
        return answer.final

    async def close(self, logout: bool = True) -> None:
        self.closing = True
        ws = self.ws
        if ws is not None and not ws.closed and logout:
            try:
                await asyncio.wait_for(ws.send_bytes(proto.frame(RequestLogout(user_msg=[self.next_id()]))), 1.0)
            except (aiohttp.ClientError, OSError, TimeoutError, RuntimeError):
                pass  # the socket went first: nothing to log out of
        if ws is not None:
            await ws.close()
        await self.tasks.cancel_all()
        self._fail_pending("closed")
        if self.http is not None:
            await self.http.close()
            self.http = None

    # ----------------------------------------------------------- requests
    async def write(self, data: bytes) -> int:
        """Write one frame; the perf_counter_ns it left at. Disconnected (nothing sent) if closed."""
        ws = self.ws
        if ws is None or ws.closed or self.closing:
            raise Disconnected(f"Rithmic {self.name} plant is not connected{self._why()}")
        sent = time.perf_counter_ns()
        try:
            await ws.send_bytes(data)
        except (aiohttp.ClientError, OSError, RuntimeError) as exc:
            raise Disconnected(f"Rithmic {self.name} plant: write failed ({exc})") from None
        return sent

    def expect(self, request_id: str, snapshot_account: str | None = None) -> Pending:
        pending = Pending(asyncio.get_running_loop().create_future())
        self.pending[request_id] = pending
        if snapshot_account is not None:
            self.snapshots[snapshot_account] = pending
        return pending

    def forget(self, request_id: str, snapshot_account: str | None = None) -> None:
        pending = self.pending.pop(request_id, None)
        if snapshot_account is not None and self.snapshots.get(snapshot_account) is pending:
            del self.snapshots[snapshot_account]

    async def call(
        self, request: Message, *, what: str, snapshot_account: str | None = None, timeout_s: float | None = None
    ) -> Answer:
        """Send ``request`` (its ``user_msg`` is set here) and wait for its last answer."""
        request_id = self.next_id()
        request.user_msg = [request_id]  # type: ignore[attr-defined]  # every request declares user_msg
        pending = self.expect(request_id, snapshot_account)
        try:
            await self.write(proto.frame(request))
            pending.written = True
            return await asyncio.wait_for(asyncio.shield(pending.future), timeout_s or self.login.timeout_s)
        except TimeoutError:
            raise BrokerError(
                f"Rithmic {self.name} plant did not answer {what} within {timeout_s or self.login.timeout_s:g}s"
            ) from None
        finally:
            self.forget(request_id, snapshot_account)

    async def post(self, request: Message) -> None:
        """Send without waiting: Rithmic's answer, if any, is only logged when it refuses."""
        request.user_msg = [self.next_id()]  # type: ignore[attr-defined]  # every request declares user_msg
        await self.write(proto.frame(request))

    # ------------------------------------------------------------- reading
    async def _read(self) -> None:
        ws = self.ws
        assert ws is not None
        reason = "the gateway closed the connection"
        try:
            async for msg in ws:
                self.last_recv = time.monotonic()
                if msg.type is aiohttp.WSMsgType.BINARY:
                    self.received(msg.data, time.perf_counter_ns())
                elif msg.type is aiohttp.WSMsgType.TEXT:
                    self.on_drop(f"{self.name} plant sent a text frame; R|Protocol frames are binary")
                elif msg.type is aiohttp.WSMsgType.ERROR:
                    reason = f"socket error: {ws.exception()}"
                    break
        except (aiohttp.ClientError, OSError) as exc:
            reason = f"socket error: {exc}"
        if ws.close_code not in (None, 1000):
            reason = f"{reason} (close code {ws.close_code})"
        self._gone(reason)

    def received(self, data: bytes, recv_ns: int) -> None:
        try:
            bodies = proto.unframe(data)
        except proto.MalformedFrame as exc:
            self.on_drop(f"{self.name} plant frame: {exc}")
            return
        for body in bodies:
            try:
                msg = proto.decode(body, WIRE_TEMPLATES)
            except proto.MalformedFrame as exc:
                self.on_drop(f"{self.name} plant message: {exc}")
                continue
            except (TypeError, ValueError) as exc:  # a declared field the dataclass refuses
                self.on_drop(f"{self.name} plant message: {exc}")
                continue
            if isinstance(msg, int):
                log.debug("Rithmic %s plant: template %d is not one copytui reads; skipped", self.name, msg)
                continue
            self._dispatch(msg, recv_ns)

    def _dispatch(self, msg: Message, recv_ns: int) -> None:
        user_msg: list[str] = getattr(msg, "user_msg", [])
        pending = self.pending.get(user_msg[0]) if user_msg else None
        if pending is not None:
            if getattr(msg, "rp_code", None) or isinstance(msg, Reject):
                if not pending.future.done():
                    pending.future.set_result(Answer(pending.rows, msg))
            else:
                pending.rows.append(msg)
            return
        if isinstance(msg, ResponseHeartbeat):
            self.server_time = (msg.ssboe, msg.usecs)
            return
        if isinstance(msg, ForcedLogout):
            self.on_forced(self)
            return
        if isinstance(msg, SNAPSHOT_ROWS) and msg.is_snapshot:
            claim = self.snapshots.get(msg.account_id)
            if claim is not None:
                claim.rows.append(msg)
                return
        codes: list[str] = getattr(msg, "rp_code", [])
        if isinstance(msg, Reject) or (codes and codes[0] not in ("0", "7")):
            log.warning("Rithmic %s plant refused a request: %s", self.name, Answer([], msg).text)
            return
        if user_msg:
            return  # a late answer to a request given up on, or to a posted one
        self.on_push(msg, recv_ns)

    # ------------------------------------------------------------ upkeep
    async def _heartbeats(self) -> None:
        """A heartbeat every half interval; silence for two intervals (at least 2 s) ends the link."""
        while True:
            await asyncio.sleep(self.heartbeat_s / 2)
            silent = time.monotonic() - self.last_recv
            if silent > max(2 * self.heartbeat_s, 2.0):
                self.lost_reason = f"nothing from the gateway for {silent:.0f}s"
                if self.ws is not None:
                    await self.ws.close()
                return
            try:
                await self.post(RequestHeartbeat())
            except Disconnected:
                return

    def _why(self) -> str:
        return f" ({self.lost_reason})" if self.lost_reason else ""

    def _fail_pending(self, reason: str) -> None:
        for pending in self.pending.values():
            if not pending.future.done():
                pending.future.set_exception(Disconnected(f"Rithmic {self.name} plant connection {reason}"))
                pending.future.exception()  # read here: a request given up must not warn about it
        self.pending.clear()
        self.snapshots.clear()

    def _gone(self, reason: str) -> None:
        reason = self.lost_reason or reason
        self.lost_reason = reason
        self._fail_pending(f"lost: {reason}")
        if not self.closing:
            self.closing = True
            if self.established:
                self.on_lost(self, reason)
