"""One Rithmic login shared by every account of that user: the order and PnL plant links.

Rithmic counts sessions per user, and a prop trader's accounts usually sit under one login: two
adapters each logging the same user in would crowd each other out (a ForcedLogout). So every
adapter of one user at one gateway and system attaches to one :class:`RithmicSession`: one order
plant link (orders, notifications, show orders, replays) and one PnL plant link (positions), each
account subscribed on both. The session asks once for the login info (fcm and ib ids), the trade
routes and the user's accounts, and the front-month contracts from the ticker plant (a link opened
for that and closed).

A lost link brings both down and back (:class:`~adapters.kit.session.Backoff` between attempts),
each account subscribed again, then each adapter resyncs. A ForcedLogout is waited out once
(``forced_logout_wait_s``); a second one within ten minutes stops the session: another login of
the same user is then active, and copytui does not fight it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from adapters.base import AuthFailed, BrokerError, Disconnected, HealthState
from adapters.kit.session import Backoff
from adapters.kit.tasks import TaskGroup
from adapters.rithmic import contracts
from adapters.rithmic.contracts import Contract
from adapters.rithmic.enums import InfraType, PnlRequest
from adapters.rithmic.messages import (
    RequestAccountList,
    RequestLoginInfo,
    RequestPnLPositionUpdates,
    RequestSubscribeForOrderUpdates,
    RequestTradeRoutes,
    ResponseAccountList,
    ResponseLoginInfo,
    ResponseTradeRoutes,
)
from adapters.rithmic.plant import Login, PlantLink
from adapters.rithmic.proto import Message
from adapters.rithmic.reads import front_months

log = logging.getLogger("copytui.adapters.rithmic")

FORCED_LOGOUT_WINDOW_S = 600.0
MAX_RECONNECT_DELAY_S = 10.0


class Listener(Protocol):
    """What the session asks of an adapter attached to it."""

    def on_message(self, msg: Message, recv_ns: int) -> None:
        """An order notification or PnL update for the adapter's account."""

    def on_drop(self, why: str) -> None:
        """A frame was refused at the edge (it may have been this account's)."""

    def session_lost(self, reason: str) -> None: ...

    async def session_back(self) -> None:
        """Logged in and subscribed again: resync what happened meanwhile."""

    def session_down(self, state: HealthState, detail: str) -> None:
        """The session will not come back by itself (refused login, forced out twice)."""


@dataclass(frozen=True)
class SessionKey:
    url: str
    system_name: str
    user: str


class RithmicSession:
    def __init__(self, login: Login, *, reconnect_delay_s: float = 0.5, forced_logout_wait_s: float = 30.0) -> None:
        self.login = login
        self.key = SessionKey(login.url, login.system_name, login.user)
        self.forced_logout_wait_s = forced_logout_wait_s
        self.backoff = Backoff(reconnect_delay_s, MAX_RECONNECT_DELAY_S)
        self.order: PlantLink | None = None
        self.pnl: PlantLink | None = None
        self.listeners: dict[str, list[Listener]] = {}
        self.info: ResponseLoginInfo | None = None
        self.routes: list[ResponseTradeRoutes] = []
        self.accounts: dict[str, ResponseAccountList] = {}
        self.front: dict[str, Contract] = {}
        self.front_errors: dict[str, str] = {}
        self.subscribed: set[str] = set()
        """Accounts subscribed on the current login."""
        self.generation = 0
        """Grows with each login: pre-built order frames of an older one are stale."""
        self.tasks = TaskGroup()
        self._open_lock = asyncio.Lock()
        self._locks: dict[tuple[InfraType, str], asyncio.Lock] = {}
        self._reconnecting: asyncio.Task[None] | None = None
        self._last_forced = -FORCED_LOGOUT_WINDOW_S
        self._forced_generation = -1
        self._retired: list[PlantLink] = []
        self.stopped = ""
        self.logins = 0
        self.loop = asyncio.get_running_loop()

    # ------------------------------------------------------------ attach
    @property
    def up(self) -> bool:
        return self.order is not None and self.order.open and self.pnl is not None and self.pnl.open

    @property
    def fcm_id(self) -> str:
        return self.info.fcm_id if self.info else ""

    @property
    def ib_id(self) -> str:
        return self.info.ib_id if self.info else ""

    async def attach(self, account_id: str | None, listener: Listener) -> str:
        """Log in (first adapter) and subscribe ``account_id`` (None: the login's only account)."""
        try:
            return await self._attach(account_id, listener)
        except BaseException:
            if not self.listeners:  # a login nobody uses must not stay open
                await self.close()
            raise

    async def _attach(self, account_id: str | None, listener: Listener) -> str:
        async with self._open_lock:
            if self.stopped:
                raise BrokerError(self.stopped)
            if not self.up:
                await self._open()
        if account_id is None:
            if len(self.accounts) != 1:
                raise BrokerError(
                    f"user {self.login.user} has {len(self.accounts)} Rithmic accounts on {self.login.system_name!r}: "
                    f"set account_id to one of {', '.join(sorted(self.accounts)) or '(none)'}"
                )
            account_id = next(iter(self.accounts))
        if account_id not in self.accounts:
            raise BrokerError(
                f"account {account_id!r} is not among the accounts of {self.login.user} on "
                f"{self.login.system_name!r}: {', '.join(sorted(self.accounts)) or '(none)'}"
            )
        self.listeners.setdefault(account_id, []).append(listener)
        if account_id not in self.subscribed:
            try:
                await self._subscribe(account_id)
            except BaseException:
                self.detach_only(account_id, listener)
                raise
        return account_id

    def detach_only(self, account_id: str, listener: Listener) -> None:
        held = self.listeners.get(account_id, [])
        if listener in held:
            held.remove(listener)
        if not held:
            self.listeners.pop(account_id, None)

    async def detach(self, account_id: str, listener: Listener) -> None:
        """Leave the session; the last one out logs out."""
        self.detach_only(account_id, listener)
        if not self.listeners:
            await self.close()

    async def close(self) -> None:
        if self._reconnecting is not None:
            self._reconnecting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reconnecting
            self._reconnecting = None
        await self._close_links()
        await self.tasks.cancel_all()
        if _SESSIONS.get(self.key) is self:
            del _SESSIONS[self.key]

    # ------------------------------------------------------------ links
    def link(self, infra: InfraType) -> PlantLink:
        """The open link to ``infra``'s plant, or Disconnected (nothing was sent)."""
        link = self.order if infra is InfraType.ORDER_PLANT else self.pnl
        if link is None or not link.open:
            why = self.stopped or (link.lost_reason if link is not None else "") or "not logged in"
            raise Disconnected(f"Rithmic {infra.name.lower().replace('_', ' ')} is not connected: {why}")
        return link

    @contextlib.asynccontextmanager
    async def snapshot_of(self, infra: InfraType, account_id: str) -> AsyncIterator[PlantLink]:
        """The link, held for one snapshot request of ``account_id`` (its rows carry no request id)."""
        lock = self._locks.setdefault((infra, account_id), asyncio.Lock())
        async with lock:
            yield self.link(infra)

    def route_for(self, exchange: str, override: str | None) -> str:
        if override:
            return override
        mine = [r for r in self.routes if r.exchange == exchange and r.fcm_id in ("", self.fcm_id)]
        for route in sorted(mine, key=lambda r: not r.is_default):
            if route.trade_route:
                return route.trade_route
        raise BrokerError(
            f"Rithmic lists no trade route for {exchange} for {self.login.user}: set options.trade_route "
            f"(routes: {', '.join(sorted({f'{r.exchange}:{r.trade_route}' for r in self.routes})) or 'none'})"
        )

    def contract(self, symbol: str) -> Contract:
        found = self.front.get(symbol)
        if found is None:
            why = self.front_errors.get(symbol, "the ticker plant was not asked yet")
            raise BrokerError(f"no front-month contract for {symbol} ({why}); set options.contracts, e.g. ES=ESZ5")
        return found

    # ------------------------------------------------------------ login
    def _new_link(self, infra: InfraType) -> PlantLink:
        return PlantLink(
            self.login, infra, on_push=self._push, on_drop=self._drop, on_lost=self._lost, on_forced=self._forced
        )

    async def _open(self) -> None:
        """Log both plants in and read what the orders need; the links stay closed if anything fails."""
        await self._close_links()
        order, pnl = self._new_link(InfraType.ORDER_PLANT), self._new_link(InfraType.PNL_PLANT)
        try:
            await order.connect()
            info = await order.call(RequestLoginInfo(), what="login info")
            if not info.ok or not isinstance(info.final, ResponseLoginInfo):
                raise BrokerError(f"Rithmic refused the login info: {info.text}")
            fcm, ib, user_type = info.final.fcm_id, info.final.ib_id, info.final.user_type
            routes = await order.call(RequestTradeRoutes(subscribe_for_updates=True), what="trade routes")
            accounts = await order.call(
                RequestAccountList(fcm_id=fcm, ib_id=ib, user_type=user_type), what="account list"
            )
            for what, answer in (("trade routes", routes), ("account list", accounts)):
                if not answer.ok and answer.code != "7":
                    raise BrokerError(f"Rithmic refused the {what}: {answer.text}")
            front = asyncio.ensure_future(self._front_months())
            try:
                await pnl.connect()
            except BaseException:
                front.cancel()
                await asyncio.gather(front, return_exceptions=True)
                raise
            await front
        except BaseException:
            await order.close(logout=order.established)
            await pnl.close(logout=pnl.established)
            raise
        if not order.open or not pnl.open:  # lost while logging in: nobody else would notice
            await order.close(logout=False)
            await pnl.close(logout=False)
            raise Disconnected(f"Rithmic connection lost while logging in: {order.lost_reason or pnl.lost_reason}")
        self.info = info.final
        self.subscribed = set()
        self.routes = [r for r in routes.rows if isinstance(r, ResponseTradeRoutes)]
        self.accounts = {a.account_id: a for a in accounts.rows if isinstance(a, ResponseAccountList) and a.account_id}
        self.order, self.pnl = order, pnl
        self.generation += 1
        self.logins += 1

    async def _front_months(self) -> None:
        """Ask the ticker plant once for each product's front month; failures are kept per symbol."""
        ticker = self._new_link(InfraType.TICKER_PLANT)
        try:
            await ticker.connect()
        except BrokerError as exc:
            self.front_errors = {s: f"ticker plant login failed: {exc}" for s in contracts.PRODUCTS}
            return
        try:
            self.front, self.front_errors = await front_months(ticker)
        finally:
            await ticker.close()

    async def _subscribe(self, account_id: str) -> None:
        order, pnl = self.link(InfraType.ORDER_PLANT), self.link(InfraType.PNL_PLANT)
        answer = await order.call(
            RequestSubscribeForOrderUpdates(fcm_id=self.fcm_id, ib_id=self.ib_id, account_id=account_id),
            what=f"order updates of {account_id}",
        )
        if not answer.ok:
            raise BrokerError(f"Rithmic refused order updates for {account_id}: {answer.text}")
        # async-rithmic sends this without waiting for an answer: so do we (a refusal is logged)
        await pnl.post(
            RequestPnLPositionUpdates(
                request=PnlRequest.SUBSCRIBE, fcm_id=self.fcm_id, ib_id=self.ib_id, account_id=account_id
            )
        )
        self.subscribed.add(account_id)

    def _retire_links(self) -> None:
        """The links are no longer the session's (their late losses are ignored); closed later."""
        self._retired += [link for link in (self.order, self.pnl) if link is not None]
        self.order = self.pnl = None

    async def _close_links(self) -> None:
        self._retire_links()
        retired, self._retired = self._retired, []
        for link in retired:
            await link.close()

    # ------------------------------------------------------------ pushes and losses
    def _push(self, msg: Message, recv_ns: int) -> None:
        account_id: str = getattr(msg, "account_id", "")
        for listener in self.listeners.get(account_id, ()):
            listener.on_message(msg, recv_ns)

    def _drop(self, why: str) -> None:
        for held in self.listeners.values():
            for listener in held:
                listener.on_drop(why)

    def _each(self) -> list[Listener]:
        return [listener for held in self.listeners.values() for listener in held]

    def _lost(self, link: PlantLink, reason: str) -> None:
        if link not in (self.order, self.pnl) or self.stopped:
            return  # a link already given up (the other plant's loss, a logout told on both)
        self._retire_links()
        what = f"Rithmic {link.name} lost: {reason}"
        log.warning("%s (user %s); reconnecting", what, self.login.user)
        for listener in self._each():
            listener.session_lost(what)
        if self._reconnecting is None or self._reconnecting.done():
            self._reconnecting = self.tasks.spawn(self._reconnect(), f"rithmic-reconnect-{self.login.user}")

    def _forced(self, link: PlantLink) -> None:
        if link not in (self.order, self.pnl) or self._forced_generation == self.generation:
            return  # one logout, told on each plant of this login
        self._forced_generation = self.generation
        now = time.monotonic()
        if now - self._last_forced < FORCED_LOGOUT_WINDOW_S:
            self.stopped = (
                f"Rithmic forced {self.login.user} out twice within {FORCED_LOGOUT_WINDOW_S / 60:.0f} minutes "
                "(ForcedLogout): another application is logged in with this user; copytui stopped rather than "
                "fight it. Log the other one out, then reconnect copytui"
            )
            log.error("%s", self.stopped)
            for listener in self._each():
                listener.session_down(HealthState.STOPPED, self.stopped)
            self._retire_links()
            self.tasks.spawn(self._close_links(), f"rithmic-stop-{self.login.user}")
            return
        self._last_forced = now
        self.backoff.hold(self.forced_logout_wait_s)
        self._lost(link, f"Rithmic forced a logout (ForcedLogout); logging in again in {self.forced_logout_wait_s:g}s")

    async def _reconnect(self) -> None:
        while self.listeners and not self.stopped:
            await asyncio.sleep(self.backoff.next())
            try:
                async with self._open_lock:
                    if not self.up:  # (an adapter attaching meanwhile may have logged in already)
                        await self._open()
                    for account_id in list(self.listeners):
                        if account_id not in self.subscribed:
                            await self._subscribe(account_id)
            except AuthFailed as exc:
                for listener in self._each():
                    listener.session_down(HealthState.AUTH_FAILED, str(exc))
                await self._close_links()
                return
            except (BrokerError, OSError) as exc:
                log.warning("Rithmic reconnect of %s failed: %s", self.login.user, exc)
                for listener in self._each():
                    listener.session_lost(f"reconnecting: {exc}")
                continue
            self.backoff.reset()
            for listener in self._each():
                await listener.session_back()
            return


_SESSIONS: dict[SessionKey, RithmicSession] = {}


def shared(login: Login, *, reconnect_delay_s: float, forced_logout_wait_s: float) -> RithmicSession:
    """The session of ``login``'s user at its gateway and system, made on first use."""
    key = SessionKey(login.url, login.system_name, login.user)
    found = _SESSIONS.get(key)
    if found is not None and not found.listeners:
        found.login = login  # nobody is logged in through it: the newest password getter logs in next
    stale = found is not None and (
        found.loop is not asyncio.get_running_loop() or (found.stopped and not found.listeners)
    )
    if found is None or stale:
        found = _SESSIONS[key] = RithmicSession(
            login, reconnect_delay_s=reconnect_delay_s, forced_logout_wait_s=forced_logout_wait_s
        )
    return found


def ssl_context(ca_file: str | None) -> ssl.SSLContext:
    """TLS for ``wss://``: the system's trusted CAs (Rithmic's certificate chains to a public root), or
    ``ca_file``."""
    return ssl.create_default_context(cafile=ca_file) if ca_file else ssl.create_default_context()
