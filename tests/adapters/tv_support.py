"""Tradovate test helpers: a simulator on a loopback port over a paper exchange, adapters made by the
real factory from an account config, and secrets standing in for the keyring."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp

from adapters.base import AdapterContext
from adapters.paper.exchange import PaperExchange
from adapters.tradovate import TradovateAdapter, create_adapter
from adapters.tradovate.simulator import TradovateSimulator
from copytui.config import AccountConfig, FollowerConfig
from copytui.models import AccountEvent, EventKind

PASSWORD = "tv-test-password-7f3a"  # a test login's password, checked never to leak
SEC = "tv-test-sec-19c2"


def secrets_for(*names: str) -> Callable[[str], str | None]:
    table = {f"{n}:password": PASSWORD for n in names} | {f"{n}:sec": SEC for n in names}
    return table.get


def account_config(sim: TradovateSimulator, name: str, account: str, cls: type = AccountConfig, **kw: Any) -> Any:
    options = {"reconnect_wait_s": 3.0, "request_timeout_s": 2.0, **kw.pop("options", {})}
    user = next(u for u in sim.users.values() if sim.account_by_name[account].id in u.accounts)
    return cls(
        name=name,
        broker="tradovate",
        environment="sim",
        host="127.0.0.1",
        port=sim.port,
        username=user.name,
        account_id=account,
        options=options,
        **kw,
    )


def make_adapter(sim: TradovateSimulator, name: str, account: str, **options: Any) -> TradovateAdapter:
    adapter = create_adapter(
        account_config(sim, name, account, options=options), AdapterContext(secret=secrets_for(name))
    )
    assert isinstance(adapter, TradovateAdapter)
    return adapter


def follower_config(sim: TradovateSimulator, name: str, account: str, **kw: Any) -> FollowerConfig:
    return account_config(sim, name, account, cls=FollowerConfig, **kw)


@contextlib.asynccontextmanager
async def running_sim(
    *accounts: str, seed: int = 5, exchange: PaperExchange | None = None, **kw: Any
) -> AsyncIterator[TradovateSimulator]:
    sim = TradovateSimulator(exchange or PaperExchange(seed=seed), **kw)
    for i, acct in enumerate(accounts, start=1):
        sim.add_account(acct, username=f"trader{i}", password=PASSWORD)
    await sim.start("127.0.0.1", 0)
    try:
        yield sim
    finally:
        await sim.stop()


class RawClient:
    """Tradovate's wire spoken the way Tradovate's own sample clients speak it (tradovate/example-api-js,
    example-api-trading-strategy): REST over aiohttp and WebSocket text frames written out by hand, so a
    test states the exact bytes a sample sends. No code of theirs: the frames are facts in our tests."""

    def __init__(self, base: str, ws_url: str) -> None:
        self.base, self.ws_url = base, ws_url
        self.http = aiohttp.ClientSession()
        self.token = ""
        self.user_id = 0
        self.accounts: list[dict[str, Any]] = []
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.events: list[dict[str, Any]] = []
        """Every server event (``{"e": ...}``) read so far, in order."""
        self.responses: dict[Any, dict[str, Any]] = {}

    @classmethod
    def of(cls, sim: TradovateSimulator) -> RawClient:
        return cls(sim.url, sim.ws_url)

    async def rest(self, method: str, path: str, **kw: Any) -> tuple[int, Any]:
        headers = {"Accept": "application/json", "Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        async with self.http.request(method, f"{self.base}/{path}", headers=headers, **kw) as r:
            text = await r.text()
            try:
                return r.status, json.loads(text) if text else None
            except ValueError:
                return r.status, text

    async def login(self, name: str, password: str = PASSWORD) -> None:
        """The trading-strategy example's access token request (camel-cased path, its body's fields)."""
        body = {"name": name, "password": password, "appId": "AutoTrade", "appVersion": "1.0"}
        body |= {"deviceId": "d" * 64, "cid": 0, "sec": SEC}
        status, answer = await self.rest("POST", "auth/accessTokenRequest", json=body)
        assert status == 200 and "accessToken" in answer, answer
        self.token, self.user_id = answer["accessToken"], answer["userId"]
        status, self.accounts = await self.rest("GET", "account/list")
        assert status == 200, self.accounts

    async def open_socket(self) -> None:
        self.ws = await self.http.ws_connect(self.ws_url)
        assert await self._frame() == "o"

    async def send(self, text: str) -> None:
        assert self.ws is not None
        await self.ws.send_str(text)

    async def _frame(self) -> str:
        assert self.ws is not None
        async with asyncio.timeout(10):  # a hang guard, not a timing assertion
            msg = await self.ws.receive()
        if msg.type is not aiohttp.WSMsgType.TEXT:
            raise ConnectionError(f"socket closed: {msg.type.name}")
        return str(msg.data)

    async def _read(self) -> None:
        """One frame: its events go to ``events``, its responses to ``responses``."""
        frame = await self._frame()
        if frame.startswith("a"):
            for item in json.loads(frame[1:]):
                if "e" in item:
                    self.events.append(item)
                else:
                    self.responses[item.get("i")] = item

    async def answer(self, request_id: int) -> dict[str, Any]:
        """The response to request ``request_id`` (``{"i": id, "s": status, "d": ...}``)."""
        while request_id not in self.responses:
            await self._read()
        return self.responses.pop(request_id)

    async def event(self, match: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The first event (already read or still to come) that ``match`` accepts."""
        seen = 0
        while True:
            for item in self.events[seen:]:
                if match(item):
                    return item
            seen = len(self.events)
            await self._read()

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        await self.http.close()


class Events:
    """An adapter's subscribe() stream, read in a held task."""

    def __init__(self, adapter: TradovateAdapter) -> None:
        self.seen: list[AccountEvent] = []
        self.task = asyncio.get_running_loop().create_task(self._read(adapter), name="tv-events")

    async def _read(self, adapter: TradovateAdapter) -> None:
        async for ev in adapter.subscribe():
            self.seen.append(ev)

    def of(self, kind: EventKind, order_id: int) -> list[AccountEvent]:
        """The events of one kind about Tradovate order ``order_id``."""
        return [e for e in self.seen if e.kind is kind and e.order_id == str(order_id)]

    def of_client(self, kind: EventKind, coid: str) -> list[AccountEvent]:
        """The events of one kind about the order with client id ``coid``."""
        return [e for e in self.seen if e.kind is kind and e.client_order_id == coid]
