"""Rithmic test helpers: a simulator on a loopback port, adapters made by the real factory from an
account config, a raw R|Protocol client for wire-level checks, and an event collector."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp

from adapters.base import AdapterContext
from adapters.paper.exchange import PaperExchange
from adapters.rithmic import RithmicAdapter, create_adapter, proto
from adapters.rithmic.enums import InfraType
from adapters.rithmic.messages import TEMPLATES, RequestLogin
from adapters.rithmic.proto import Message
from adapters.rithmic.simulator import RithmicSimulator, SimUser
from copytui.config import AccountConfig
from copytui.models import AccountEvent, FollowerOrder, OrderAction, OrderType, Side

USER = "trader1"
PASSWORD = "rithmic-test-password-0123"
ACCOUNTS = ["RSIM-1001", "RSIM-1002"]


def account_config(
    sim: RithmicSimulator, name: str = "r1", account_id: str | None = "RSIM-1001", **options: Any
) -> AccountConfig:
    return AccountConfig(
        name=name,
        broker="rithmic",
        environment="sim",
        host="127.0.0.1",
        port=sim.port,
        username=options.pop("username", USER),
        account_id=account_id,
        options={"reconnect_delay_s": 0.02, "timeout_s": 2.0, **options},
    )


def secrets_for(*names: str, password: str = PASSWORD) -> Callable[[str], str | None]:
    """A secret lookup as AdapterContext.secret: per account (``password``) or ``NAME:password``."""
    keys = {"password", *(f"{n}:password" for n in names)}
    return lambda key: password if key in keys else None


def make_adapter(
    sim: RithmicSimulator,
    name: str = "r1",
    account_id: str | None = "RSIM-1001",
    password: str = PASSWORD,
    **options: Any,
) -> RithmicAdapter:
    cfg = account_config(sim, name, account_id, **options)
    adapter = create_adapter(cfg, AdapterContext(secret=secrets_for(name, password=password)))
    assert isinstance(adapter, RithmicAdapter)
    return adapter


def simulator(seed: int = 5, accounts: list[str] | None = None, **kw: Any) -> RithmicSimulator:
    return RithmicSimulator(PaperExchange(seed=seed), users={USER: SimUser(PASSWORD, accounts or list(ACCOUNTS))}, **kw)


def order(coid: str, account: str = "r1", side: Side = Side.BUY, qty: int = 1, **kw: Any) -> FollowerOrder:
    return FollowerOrder(
        follower=account, signal_id=f"sig-{coid}", client_order_id=coid, action=OrderAction.PLACE,
        symbol=kw.pop("symbol", "ES"), side=side, qty=qty, order_type=kw.pop("order_type", OrderType.MARKET), **kw,
    )  # fmt: skip


def filled_message(cls: type[Message], wide: bool = True) -> Message:
    """An instance of ``cls`` with every declared field away from its default. ``wide``: integers
    past 32 bits and negative ones (copytui's codec only); else small ones every protobuf integer
    type reads back unchanged."""
    values: dict[str, Any] = {}
    for i, f in enumerate(dataclasses.fields(cls)):  # type: ignore[arg-type]
        kind = f.metadata["pb"][1]
        number = (-(i + 1) if i % 3 == 0 else 2**40 + i) if wide else i + 1
        values[f.name] = {
            proto.Kind.TEXT: f"v{i}-é",
            proto.Kind.INTEGER: number,
            proto.Kind.REAL: i + 0.25,
            proto.Kind.FLAG: True,
            proto.Kind.TEXTS: [f"a{i}", "", "c"],
            proto.Kind.FLAGS: [True, False, True],
        }[kind]
    return cls(**values)


async def until(cond: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    """Poll a condition that no event announces, every 10 ms, with a deadline."""
    try:
        async with asyncio.timeout(timeout):
            while not cond():
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"{what} did not happen within {timeout}s") from None


class Collector:
    """Reads an adapter's event stream into a list until the stream ends."""

    def __init__(self, adapter: RithmicAdapter) -> None:
        self.events: list[AccountEvent] = []
        self.task = asyncio.get_running_loop().create_task(self._read(adapter), name="rithmic-test-collector")

    async def _read(self, adapter: RithmicAdapter) -> None:
        async for ev in adapter.subscribe():
            self.events.append(ev)

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


@contextlib.asynccontextmanager
async def connected(sim: RithmicSimulator, *args: Any, **kw: Any) -> AsyncIterator[tuple[RithmicAdapter, Collector]]:
    adapter = make_adapter(sim, *args, **kw)
    await adapter.connect()
    collector = Collector(adapter)
    try:
        yield adapter, collector
    finally:
        await adapter.disconnect()
        await collector.stop()


@contextlib.asynccontextmanager
async def connected_to(port: int, account: str, name: str = "watch") -> AsyncIterator[RithmicAdapter]:
    """An adapter on a simulator running elsewhere (``copytui sim rithmic``: user trader1, any password)."""
    cfg = AccountConfig(
        name=name, broker="rithmic", environment="sim", host="127.0.0.1", port=port, username=USER, account_id=account
    )
    adapter = create_adapter(cfg, AdapterContext(secret=lambda _key: "any-password"))
    assert isinstance(adapter, RithmicAdapter)
    await adapter.connect()
    try:
        yield adapter
    finally:
        await adapter.disconnect()


class RawClient:
    """A bare R|Protocol client: frames written and read by hand, to test the simulator's wire and
    what the adapter would see, without the adapter's own code in between."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http: aiohttp.ClientSession | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None

    async def __aenter__(self) -> RawClient:
        self.http = aiohttp.ClientSession()
        self.ws = await self.http.ws_connect(self.url)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.http is not None:
            await self.http.close()

    async def send(self, msg: Message | bytes) -> None:
        assert self.ws is not None
        await self.ws.send_bytes(msg if isinstance(msg, bytes) else proto.frame(msg))

    async def recv(self, timeout: float = 5.0) -> Message:
        assert self.ws is not None
        got = await asyncio.wait_for(self.ws.receive(), timeout)
        assert got.type is aiohttp.WSMsgType.BINARY, got
        [body] = proto.unframe(got.data)
        msg = proto.decode(body, TEMPLATES)
        assert not isinstance(msg, int), f"unknown template {msg}"
        return msg

    async def until(self, cls: type[Message], timeout: float = 5.0) -> tuple[Message, list[Message]]:
        """The next message of ``cls`` and what came before it."""
        before: list[Message] = []
        async with asyncio.timeout(timeout):
            while True:
                msg = await self.recv(timeout)
                if isinstance(msg, cls):
                    return msg, before
                before.append(msg)

    async def login(self, infra: InfraType = InfraType.ORDER_PLANT, password: str = PASSWORD, **kw: Any) -> Message:
        await self.send(
            RequestLogin(
                template_version="3.9", user_msg=["login"], user=kw.pop("user", USER), password=password,
                app_name="raw", app_version="1", system_name=kw.pop("system_name", "Rithmic Test"), infra_type=infra,
            )
        )  # fmt: skip
        return await self.recv()
