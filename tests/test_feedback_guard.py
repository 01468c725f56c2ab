"""Invariant 10's runtime guard, tested by building a feedback loop on purpose: a bridge outside
copytui (a platform's own account linker, say) places every order the follower receives on the
leader's account as well, so each copy comes back as a new leader order. The identity check at
start cannot see such a loop; this guard stops the follower within a few orders, flattens it and
says why, while the other followers go on copying."""

from __future__ import annotations

import asyncio
from pathlib import Path

from copytui.config import RiskConfig
from copytui.engine.feedback import FeedbackGuard
from copytui.models import EventKind, FollowerOrder, OrderAction, Side, Signal, SignalKind
from tests.engine_harness import LEADER, follower, running


def _bridge(h, source: str, keep_client_ids: bool) -> None:  # type: ignore[no-untyped-def]
    """Every new order on ``source`` is placed again on the leader's account."""
    loop = asyncio.get_running_loop()

    def on_event(ev) -> None:  # type: ignore[no-untyped-def]
        if ev.kind is EventKind.ORDER_NEW:
            coid = ev.client_order_id if keep_client_ids else None
            loop.call_soon(lambda: h.x.submit(LEADER, symbol=ev.symbol, side=ev.side, qty=ev.qty, client_order_id=coid))

    h.x.listen(source, on_event)


async def _run_a_while(h, seconds: float) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        await h.settle()


async def test_a_copy_that_comes_back_as_a_leader_order_stops_the_follower(tmp_path: Path) -> None:
    async with running(tmp_path, [follower("looped"), follower("fine")]) as h:
        _bridge(h, "looped", keep_client_ids=True)
        h.buy("ES", 1)
        await _run_a_while(h, 1.5)
        looped = h.engine.followers["looped"].state
        assert looped.stopped_by_risk.startswith("feedback loop: its order ")
        assert h.pos("looped", "ES") == 0  # flattened
        assert len(h.x.accounts["looped"].submissions) <= 2  # the first copy, and no more
        assert h.pos("fine", "ES") == h.pos(LEADER, "ES")  # the other follower copies on
        alerts = [a for a in h.engine.alerts if a.follower == "looped" and a.kind == "feedback loop"]
        assert alerts
        [(detail,)] = h.rows("SELECT detail FROM operator_actions WHERE action='risk_stop' AND target='looped'")
        assert "came back as a leader order" in detail


async def test_a_loop_without_our_ids_is_stopped_by_the_order_rate(tmp_path: Path) -> None:
    fs = [follower("looped", risk=RiskConfig(max_orders_per_minute=20)), follower("fine")]
    async with running(tmp_path, fs) as h:
        _bridge(h, "looped", keep_client_ids=False)
        h.buy("ES", 1)
        await _run_a_while(h, 2.0)
        looped = h.engine.followers["looped"].state
        assert "more than 20 orders in a minute" in looped.stopped_by_risk
        sent = len(h.x.accounts["looped"].submissions)
        assert sent <= 21 + 1  # the orders the guard allowed, and the flatten
        await _run_a_while(h, 0.5)
        assert len(h.x.accounts["looped"].submissions) == sent  # the loop is over
        assert h.pos("looped", "ES") == 0


def _order(qty: int) -> FollowerOrder:
    return FollowerOrder(client_order_id="c", signal_id="s", follower="f", action=OrderAction.PLACE,
                         symbol="ES", side=Side.BUY, qty=qty)  # fmt: skip


def _fill(qty: int) -> Signal:
    return Signal(id="s", leader=LEADER, kind=SignalKind.FILL, symbol="ES", side=Side.BUY, fill_qty=qty, cum_qty=qty)


def test_contracts_beyond_what_the_rule_explains_are_refused() -> None:
    guard = FeedbackGuard(follower("f", multiplier=2))
    guard.leader_activity(_fill(3))
    assert guard.refuse([_order(6)]) == ""  # 3 leader contracts x2
    guard.sent([_order(6)])
    # 6 + 12 > 2 x 3 + 1 signal + 10 slack
    assert "more than the rule can explain" in guard.refuse([_order(12)])
    assert guard.refuse([_order(5)]) == ""


async def test_a_stopped_follower_gets_no_correction_or_sync_on_resume(tmp_path: Path) -> None:
    fs = [follower("looped", auto_correct=True, risk=RiskConfig(max_orders_per_minute=2))]
    async with running(tmp_path, fs) as h:
        for _ in range(3):  # the third order in a minute trips the guard
            h.buy("ES", 1)
            await h.settle()
        assert "more than 2 orders in a minute" in h.engine.followers["looped"].state.stopped_by_risk
        await _run_a_while(h, 0.3)  # its flatten goes out
        sent = len(h.x.accounts["looped"].submissions)
        h.buy("ES", 2)  # the leader goes on; the stopped follower drifts from it
        await h.settle()
        await h.engine.reconcile_now()
        await h.engine.reconcile_now()  # drift seen on two passes: auto_correct would send now
        h.engine.resume("looped")  # the trader presses resume (with sync) on the stopped follower
        await h.settle()
        assert len(h.x.accounts["looped"].submissions) == sent
        assert h.engine.followers["looped"].state.copy_state == "disabled"
