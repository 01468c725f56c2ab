"""QuickFIX's own executor, in C++ and in Python, as a counterparty (issue 14). It fills every limit
order at its price and refuses everything else: a market order with a session reject naming
OrdType (40); AN / AF / H with a business reject (the Python one: 380=5 'Conditionally Required
Field Missing (40)') or a session reject (the C++ one answers H with 373=1). Each is asked once.

The Python executor as shipped in quickfix 1.15 cannot fill under the quickfix 1.16 binding
(``fix.OrderID(int)`` raises TypeError in its fromApp), so only the C++ one is traded with here;
its refusals are the same code path either way."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.base import BrokerError
from adapters.fix import FixAdapter
from copytui.models import OrderStatus, OrderType, Side
from tests.adapters.fix_examples import example, running, settings
from tests.adapters.fix_support import account, adapter, free_port, order, sent, until

VERSIONS = ["FIX.4.2", "FIX.4.4"]
EXECUTORS = ["executor", "executor.py"]


def _peer(port: int, begin: str, data: Path, **options: object) -> FixAdapter:
    cfg = account("qfx", port, "CLIENT1", begin, target_comp_id="EXECUTOR", account_id=None, **options)
    return adapter(cfg, data)


@pytest.mark.parametrize("begin", VERSIONS)
@pytest.mark.parametrize("program", EXECUTORS)
async def test_executor_refuses_each_read_once_and_positions_come_from_the_session(
    tmp_path: Path, program: str, begin: str
) -> None:
    example(program)
    port = free_port()
    cfg = settings(port, tmp_path, "EXECUTOR", [(begin, "CLIENT1")])
    with running(program, port, cfg, tmp_path):
        a = _peer(port, begin, tmp_path / "data", marketable_limit_ticks=2)
        await a.connect()
        try:
            held = []
            if program == "executor":
                ack = await a.place(order("x-buy", qty=3, reference_price=5000.0))
                assert ack.status is OrderStatus.FILLED, ack.reason
                sell = await a.place(order("x-sell", Side.SELL, reference_price=5001.0))
                assert sell.status is OrderStatus.FILLED, sell.reason
                held = [("ES", 2)]
            await until("AN and AF refused", lambda: a.supports == {"positions": False, "open_orders": False})
            for _ in range(4):  # the reconciler reads every few seconds: none of these may ask again
                assert [(p.symbol, p.qty) for p in await a.positions()] == held
                assert await a.open_orders() == []
                with pytest.raises(BrokerError, match=r"OrderStatusRequest \(H\)"):
                    await a.find_order("x-never-sent")
            assert (sent(a, "AN"), sent(a, "AF"), sent(a, "H")) == (1, 1, 1)
            assert set(a.refused) == {"positions", "open_orders", "order_status"}
            assert "positions come from this session's own fills" in a.health.detail
            if program == "executor.py" and begin == "FIX.4.4":  # the answer the issue reported
                assert (
                    "business reject of RequestForPositions (AN): Conditionally Required Field Missing (40)"
                    in (a.refused["positions"])
                )
            if held:
                info = await a.find_order("x-buy")  # known to the session: no question needed
                assert info is not None and info.filled_qty == 3 and sent(a, "H") == 1
        finally:
            await a.disconnect()


@pytest.mark.parametrize("begin", VERSIONS)
@pytest.mark.parametrize("program", EXECUTORS)
async def test_a_refused_market_order_names_the_tag_and_the_option_that_fixes_it(
    tmp_path: Path, program: str, begin: str
) -> None:
    """35=3 58='Value is incorrect (out of range) for this tag' 371=40 373=5: the trader reads
    which tag (OrdType (40)) and which option sends market orders as limits."""
    example(program)
    port = free_port()
    cfg = settings(port, tmp_path, "EXECUTOR", [(begin, "CLIENT1")])
    with running(program, port, cfg, tmp_path):
        a = _peer(port, begin, tmp_path / "data")  # no marketable_limit_ticks
        await a.connect()
        try:
            rejected = await a.place(order("x-mkt"))
            reason = rejected.reason or ""
            assert rejected.status is OrderStatus.REJECTED
            assert "session reject of NewOrderSingle (D): OrdType (40) refused" in reason, reason
            assert "Value is incorrect (out of range) for this tag" in reason
            assert "marketable_limit_ticks" in reason and "qfx" in reason
            if program == "executor":
                limit = await a.place(order("x-lim", order_type=OrderType.LIMIT, price=5000.0))
                assert limit.status is OrderStatus.FILLED  # only the order type was refused
        finally:
            await a.disconnect()
