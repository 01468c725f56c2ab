"""Sierra Chart test helpers: the DTC simulator on a loopback port over a paper exchange, adapters
made by the real factory from an account config, and a bare DTC JSON client written from the
message definitions (a trader's tool, or Sierra Chart's own order entry, standing in)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from adapters.base import AdapterContext
from adapters.paper.exchange import PaperExchange
from adapters.sierrachart import SierraChartAdapter, create_adapter
from adapters.sierrachart.simulator import SierraChartSimulator, contracts_option
from copytui.config import AccountConfig, FollowerConfig

PASSWORD = "sc-test-password-4b1e"  # a test login's password, checked never to leak


def account_config(sim: SierraChartSimulator, name: str, account: str, cls: type = AccountConfig, **kw: Any) -> Any:
    options = {"contracts": contracts_option(sim.contracts, tuple(sim.contracts)), "order_timeout_s": 3.0}
    options |= kw.pop("options", {})
    return cls(
        name=name,
        broker="sierrachart",
        environment="sim",
        host="127.0.0.1",
        port=sim.port,
        account_id=account,
        options=options,
        **kw,
    )


def make_adapter(
    sim: SierraChartSimulator, name: str, account: str, data_dir: str = "", **options: Any
) -> SierraChartAdapter:
    """``data_dir``: where the adapter keeps what it sent, for the next one (none: in memory only)."""
    cfg = account_config(sim, name, account, options=options)
    adapter = create_adapter(cfg, AdapterContext(secret={f"{name}:password": PASSWORD}.get, data_dir=data_dir))
    assert isinstance(adapter, SierraChartAdapter)
    return adapter


def follower_config(sim: SierraChartSimulator, name: str, account: str, **kw: Any) -> FollowerConfig:
    return account_config(sim, name, account, cls=FollowerConfig, **kw)


@contextlib.asynccontextmanager
async def running_sim(
    *accounts: str, seed: int = 5, exchange: PaperExchange | None = None, **kw: Any
) -> AsyncIterator[SierraChartSimulator]:
    sim = SierraChartSimulator(exchange or PaperExchange(seed=seed), accounts=accounts or ("Sim1",), **kw)
    await sim.start()
    try:
        yield sim
    finally:
        await sim.stop()


async def until(what: str, cond: Callable[[], Any], timeout: float = 8.0) -> Any:
    """Poll ``cond`` (sync or async) until truthy; a deadline, never a timing assertion."""
    deadline = time.monotonic() + timeout
    while True:
        got = cond()
        if isinstance(got, Awaitable):
            got = await got
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout}s")
        await asyncio.sleep(0.01)


class RawDtc:
    """DTC over TCP with JSON encoding, written out by hand from DTCProtocol.h's message
    definitions: each message one JSON object with its numeric Type, NUL-terminated."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.messages: list[dict[str, Any]] = []
        self._buffer = b""
        self._ids = iter(range(1, 1_000_000))

    async def open(self, raw_first: bytes | None = None) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        if raw_first is not None:
            self.writer.write(raw_first)

    def send(self, msg: dict[str, Any]) -> None:
        assert self.writer is not None
        self.writer.write(json.dumps(msg).encode() + b"\x00")

    async def read_raw(self, n: int = 65536) -> bytes:
        assert self.reader is not None
        async with asyncio.timeout(10):  # a hang guard, not a timing assertion
            return await self.reader.read(n)

    async def _read(self) -> None:
        data = await self.read_raw()
        if not data:
            raise ConnectionError("the server closed the connection")
        self._buffer += data
        *frames, self._buffer = self._buffer.split(b"\x00")
        self.messages.extend(json.loads(f) for f in frames if f)

    async def wait(self, match: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        seen = 0
        while True:
            for msg in self.messages[seen:]:
                if match(msg):
                    return msg
            seen = len(self.messages)
            await self._read()

    async def logon(self, account: str = "", heartbeat_s: int = 30) -> dict[str, Any]:
        self.send(
            {
                "Type": 1,
                "ProtocolVersion": 8,
                "Username": "trader",
                "Password": "",
                "HeartbeatIntervalInSeconds": heartbeat_s,
                "TradeAccount": account,
                "ClientName": "test",
            }
        )
        return await self.wait(lambda m: m["Type"] == 2)

    async def request(self, msg_type: int, answer_type: int, **fields: Any) -> list[dict[str, Any]]:
        """A request with a RequestID; its answers until MessageNumber reaches the total."""
        rid = next(self._ids)
        self.send({"Type": msg_type, "RequestID": rid, **fields})
        got: list[dict[str, Any]] = []
        while True:
            msg = await self.wait(lambda m: m.get("RequestID") == rid and m not in got and m["Type"] == answer_type)
            got.append(msg)
            total = msg.get("TotalNumMessages", msg.get("TotalNumberMessages", 1))
            if msg.get("MessageNumber", 1) >= total:
                return got

    async def market(self, account: str, symbol: str, buy_sell: int, qty: int, coid: str) -> dict[str, Any]:
        self.send(
            {
                "Type": 208,
                "Symbol": symbol,
                "Exchange": "",
                "TradeAccount": account,
                "ClientOrderID": coid,
                "OrderType": 1,
                "BuySell": buy_sell,
                "Quantity": qty,
                "TimeInForce": 1,
                "IsAutomatedOrder": 0,
            }
        )
        return await self.wait(lambda m: m["Type"] == 301 and m.get("ClientOrderID") == coid)

    async def net(self, account: str, symbol: str) -> int:
        answers = await self.request(305, 306, TradeAccount=account)
        return int(sum(a.get("Quantity", 0) for a in answers if a.get("Symbol") == symbol and not a.get("NoPositions")))

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()
