"""Helpers for the FIX tests: free ports, unique CompIDs, a simulator and adapters built through
the real factory (real quickfix sessions over 127.0.0.1)."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from adapters.base import AdapterContext
from adapters.fix import FixAdapter, create_adapter
from adapters.fix.simulator import FixSimulator, LockedExchange
from copytui.config import AccountConfig
from copytui.models import FollowerOrder, OrderAction, OrderType, Side

_ids = itertools.count(1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def comp_id(prefix: str = "CT") -> str:
    """A SenderCompID no other test uses: quickfix sessions are process-wide."""
    return f"{prefix}{next(_ids)}"


def account(name: str, port: int, sender: str, begin: str = "FIX.4.4", **options: Any) -> AccountConfig:
    opts: dict[str, Any] = {
        "begin_string": begin,
        "sender_comp_id": sender,
        "target_comp_id": "SIM",
        "heartbeat_interval": 1,
        "reconnect_interval": 1,
        "ack_timeout_s": 3.0,
        "request_timeout_s": 2.0,
        "logon_timeout_s": 5.0,
    }
    opts.update(options)
    account_id = opts.pop("account_id", name.upper())
    return AccountConfig(name=name, broker="fix", account_id=account_id, host="127.0.0.1", port=port, options=opts)


def adapter(cfg: AccountConfig, data_dir: Path, password: str | None = None) -> FixAdapter:
    secrets = {f"{cfg.name}:password": password} if password else {}
    made = create_adapter(cfg, AdapterContext(secret=secrets.get, data_dir=str(data_dir)))
    assert isinstance(made, FixAdapter)
    return made


@contextlib.contextmanager
def simulator(tmp_path: Path, clients: tuple[str, ...], **kw: Any) -> Iterator[FixSimulator]:
    port = kw.pop("port", None) or free_port()
    exchange = kw.pop("exchange", None) or LockedExchange(seed=5)
    kw.setdefault("log_path", tmp_path / f"sim-{port}.log")  # scrubbed; read it when a test fails
    sim = FixSimulator(port, exchange=exchange, clients=clients, store_dir=tmp_path / f"sim-{port}", **kw)
    with sim:
        yield sim


def order(coid: str, side: Side = Side.BUY, qty: int = 1, **kw: Any) -> FollowerOrder:
    kw.setdefault("order_type", OrderType.MARKET)
    return FollowerOrder(
        follower="f", signal_id=f"sig-{coid}", client_order_id=coid, action=OrderAction.PLACE,
        symbol=kw.pop("symbol", "ES"), side=side, qty=qty, **kw,
    )  # fmt: skip


async def until(what: str, cond: Callable[[], Any], timeout: float = 5.0) -> Any:
    async def check() -> Any:
        while True:
            got = cond()
            if inspect.isawaitable(got):
                got = await got
            if got:
                return got
            await asyncio.sleep(0.01)

    try:
        return await asyncio.wait_for(check(), timeout)
    except TimeoutError:
        raise AssertionError(f"{what} did not happen within {timeout}s") from None


def sent(a: FixAdapter, msg_type: str) -> int:
    """How many ``msg_type`` messages the adapter wrote, read from its own message log."""
    log = a.data_dir / "messages.log"
    if not log.exists():
        return 0
    return sum(1 for line in log.read_text().splitlines() if " out " in line and f"|35={msg_type}|" in line)
