"""The user hub of one ``connect()``: sessions one after another until ``close()``.

Each session logs in to the hub with a fresh token, subscribes to the account's orders, positions
and trades, and reads until the connection ends; then the link waits (:class:`Backoff`, reset
after a session that worked, so a working connection that drops comes back at once) and opens the
next. A session after the first resyncs over REST before it reports itself up, with the live
payloads held meanwhile (see :mod:`adapters.projectx.intake`). Only the hub saying not to come
back ends the link (``HealthState.STOPPED``); a bug in one session is logged and the link goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from adapters.base import AuthFailed, BrokerError, Health, HealthState
from adapters.kit.session import Backoff
from adapters.projectx.hub import HubClosed, UserHub
from adapters.projectx.intake import Intake
from adapters.projectx.rest import GatewayRest
from adapters.projectx.signalr import SignalRProtocolError

log = logging.getLogger("copytui.adapters.projectx")


class HubLink:
    def __init__(
        self,
        account: str,
        account_id: int,
        rest: GatewayRest,
        hub_url: str,
        intake: Intake,
        health: Health,
        resync: Callable[[], Awaitable[None]],
        *,
        backoff: Backoff,
        negotiate: bool = False,
        ping_interval_s: float = 15.0,
        server_timeout_s: float = 30.0,
    ) -> None:
        self.account = account
        self.account_id = account_id
        self.rest = rest
        self.hub_url = hub_url
        self.intake = intake
        self.health = health
        self.resync = resync
        self.backoff = backoff
        self.negotiate = negotiate
        self.ping_interval_s = ping_interval_s
        self.server_timeout_s = server_timeout_s
        self.subscribed = asyncio.Event()
        """Set once the first session has subscribed (``connect()`` waits for it)."""
        self.hub: UserHub | None = None
        self._closing = False

    async def run(self) -> None:
        """Sessions until closed, or until the hub says not to come back."""
        while not self._closing:
            try:
                await self._session()
            except HubClosed as exc:
                self._down(str(exc))
                if not exc.allow_reconnect:
                    log.error("ProjectX %s: the hub said not to reconnect: %s", self.account, exc)
                    self.health.down(HealthState.STOPPED, str(exc))
                    return
            except AuthFailed as exc:
                self._down(str(exc))
                with contextlib.suppress(BrokerError):
                    await self.rest.login()
            except (BrokerError, SignalRProtocolError, OSError) as exc:
                self._down(str(exc))
            except Exception as exc:  # a bug must not end the account's stream: log it, reconnect, resync
                log.exception("ProjectX %s: user hub session failed", self.account)
                self._down(f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(self.backoff.next())

    async def close(self) -> None:
        self._closing = True
        if self.hub is not None:
            await self.hub.close()

    def _down(self, why: str) -> None:
        if self._closing:
            return
        self.health.lost(why)
        log.warning("ProjectX %s: user hub down: %s", self.account, why)

    async def _session(self) -> None:
        """One hub connection, read until it ends (always by an exception or cancellation)."""
        session = await self.rest.open()
        await self.rest.fresh_token()
        hub = UserHub(
            session,
            self.hub_url,
            self.rest.token,
            self.intake.on_invocation,
            negotiate=self.negotiate,
            ping_interval_s=self.ping_interval_s,
            server_timeout_s=self.server_timeout_s,
        )
        self.hub = hub
        await hub.open()
        reader = asyncio.get_running_loop().create_task(hub.run(), name=f"projectx-hub-reader-{self.account}")
        try:
            await hub.invoke("SubscribeAccounts")
            for method in ("SubscribeOrders", "SubscribePositions", "SubscribeTrades"):
                await hub.invoke(method, self.account_id)
            if self.subscribed.is_set():
                self.intake.hold()
                try:
                    await self.resync()
                finally:
                    self.intake.release()
                self.health.reconnected()
            else:
                self.health.up()
            self.subscribed.set()
            self.backoff.reset()  # this session works: the next drop comes back at once
            await reader
        finally:
            if not reader.done():
                reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, HubClosed):
                await reader
            await hub.close()
