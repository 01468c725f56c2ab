"""Brackets across a restart, and orphan stops: a new engine on the same journal keeps a copied
bracket's pair; a stop left working at a flat follower while the leader is flat is found."""

from __future__ import annotations

from adapters.paper import PaperExchange
from copytui.models import OrderStatus, OrderType, Side
from tests.engine_harness import LEADER, follower, running
from tests.test_oco import bracket, cancels, legs, oco_rows, status


async def test_a_restart_mid_bracket_keeps_the_pair(tmp_path) -> None:
    x = PaperExchange(seed=4)
    fs = [follower("m", mode="mirror", multiplier=2)]
    async with running(tmp_path, fs, exchange=x) as h:
        stop, target = bracket(h)
        await h.settle()
        m_stop, m_target = legs(h, "m")
    async with running(tmp_path, fs, exchange=x) as h:  # a new process on the same journal
        assert legs(h, "m") == (m_stop, m_target)
        h.x.fill("m", m_target.broker_order_id, 1)
        await h.settle()
        assert legs(h, "m")[0].qty == 3
        h.x.fill("m", m_target.broker_order_id, 3)
        await h.settle()
        assert status(h, "m", m_stop.broker_order_id) is OrderStatus.CANCELLED and h.pos("m", "ES") == 0
        assert [r[2] for r in oco_rows(h, "m")] == ["oco: target partly filled (1 of 4)", "oco: target filled"]
        h.x.fill(LEADER, target, 2)  # the leader's own OCO cancel, after the restart too: a no-op
        await h.settle()
        assert cancels(h, "m") == 1 and status(h, LEADER, stop) is OrderStatus.CANCELLED
        assert len(x.accounts["m"].submissions) == 3 and x.duplicate_submissions("m") == 0
        assert not [a for a in h.engine.alerts if a.level != "info"]


async def test_the_stop_of_a_restart_is_paired_again_from_the_leaders_broker(tmp_path) -> None:
    """The stop filling first after a restart cancels the target, the other way round."""
    x = PaperExchange(seed=4)
    fs = [follower("m", mode="mirror")]
    async with running(tmp_path, fs, exchange=x) as h:
        bracket(h)
        await h.settle()
        m_stop, m_target = legs(h, "m")
    async with running(tmp_path, fs, exchange=x) as h:
        h.x.fill("m", m_stop.broker_order_id, 2)
        await h.settle()
        assert status(h, "m", m_target.broker_order_id) is OrderStatus.CANCELLED and h.pos("m", "ES") == 0
        assert oco_rows(h, "m") == [("cancel", 0, "oco: stop filled")]


async def test_a_stop_shrunk_before_a_restart_completes_the_pair_after_it(tmp_path) -> None:
    """The journal has the stop at its placed size and the accepted shrink: the pair counts the shrink."""
    x = PaperExchange(seed=4)
    fs = [follower("m", mode="mirror")]
    async with running(tmp_path, fs, exchange=x) as h:
        bracket(h)
        await h.settle()
        m_stop, m_target = legs(h, "m")
        h.x.fill("m", m_target.broker_order_id, 1)  # the stop is shrunk to 1
        await h.settle()
        assert legs(h, "m")[0].qty == 1
    async with running(tmp_path, fs, exchange=x) as h:
        h.x.fill("m", m_stop.broker_order_id, 1)  # the stop is complete: the target's rest must go
        await h.settle()
        assert status(h, "m", m_target.broker_order_id) is OrderStatus.CANCELLED and h.pos("m", "ES") == 0
        assert [r[2] for r in oco_rows(h, "m")] == ["oco: target partly filled (1 of 2)", "oco: stop filled"]
        h.x.set_price("ES", h.x.price("ES") + 40)  # through where the target was: nothing more fills
        await h.settle()
        assert h.pos("m", "ES") == 0


async def orphaned(tmp_path, x: PaperExchange) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """A bracket copied to a and b, then, while copytui is down, the leader cancels its legs and
    sells out: the cancels are not fills, so no catch-up brings them back. Returns a's copies' ids."""
    fs = [follower("a", mode="mirror", auto_correct=True), follower("b", mode="mirror")]
    async with running(tmp_path, fs, exchange=x) as h:
        stop, target = bracket(h)
        await h.settle()
        a_stop, a_target = legs(h, "a")
    x.cancel(LEADER, stop)
    x.cancel(LEADER, target)
    x.submit(LEADER, symbol="ES", side=Side.SELL, qty=2)
    return a_stop.broker_order_id, a_target.broker_order_id


async def test_an_orphan_stop_is_alerted_and_cancelled_where_the_follower_auto_corrects(tmp_path) -> None:
    x = PaperExchange(seed=6)
    a_stop, a_target = await orphaned(tmp_path, x)
    fs = [follower("a", mode="mirror", auto_correct=True), follower("b", mode="mirror")]
    async with running(tmp_path, fs, exchange=x) as h:
        await h.settle()  # the leader's sell was caught up: both followers are flat again
        assert h.pos(LEADER, "ES") == 0 and h.pos("a", "ES") == 0 and h.pos("b", "ES") == 0
        assert len(h.x.open_orders("a")) == 2 and len(h.x.open_orders("b")) == 2
        await h.engine.reconcile_now()
        await h.settle()
        orphans = sorted((a.follower, a.level, a.message.split(" is working")[0]) for a in h.engine.alerts
                         if a.kind == "orphan stop")  # fmt: skip
        b_ids = sorted(o.broker_order_id for o in h.x.open_orders("b"))
        assert [(f, lvl) for f, lvl, _ in orphans] == [("a", "warning")] * 2 + [("b", "warning")] * 2
        said = {m for f, _, m in orphans if f == "a"}
        assert said == {f"sell 2 ES stop ({a_stop})", f"sell 2 ES limit ({a_target})"}
        assert h.x.open_orders("a") == []  # cancelled, journaled with their reason
        assert status(h, "a", a_stop) is OrderStatus.CANCELLED and status(h, "a", a_target) is OrderStatus.CANCELLED
        reasons = h.rows("SELECT action, reason FROM intents WHERE follower='a' AND reason LIKE 'orphan%'")
        assert reasons == [("cancel", "orphan stop: follower and leader flat")] * 2
        assert len(h.rows("SELECT 1 FROM operator_actions WHERE action='auto_correct' AND target='a'")) == 2
        assert sorted(o.broker_order_id for o in h.x.open_orders("b")) == b_ids  # b only hears of it
        await h.engine.reconcile_now()  # said once, not on every pass
        assert len([a for a in h.engine.alerts if a.kind == "orphan stop"]) == 4
        h.x.set_price("ES", h.x.price("ES") - 40)  # b's orphan stop fills: a position the leader never had
        await h.settle()
        assert h.pos("a", "ES") == 0 and h.pos("b", "ES") == -2


async def test_a_working_entry_or_a_protected_position_is_no_orphan(tmp_path) -> None:
    fs = [follower("a", mode="mirror", auto_correct=True)]
    async with running(tmp_path, fs) as h:
        bid, _ = h.x.quote("ES")
        h.limit(Side.BUY, "ES", 1, bid - 20)  # the leader is flat with a working entry: its copy is no orphan
        await h.settle()
        for _ in range(2):
            await h.engine.reconcile_now()
        bracket(h)  # a position with its bracket: neither leg is an orphan
        await h.settle()
        for _ in range(2):
            await h.engine.reconcile_now()
        assert not [a for a in h.engine.alerts if a.kind == "orphan stop"]
        assert sorted(o.order_type for o in h.x.open_orders("a")) == [OrderType.LIMIT, OrderType.LIMIT, OrderType.STOP]
