"""The copy engine end to end on the paper exchange with a real journal file."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from adapters.paper import Faults, PaperAdapter
from copytui.config import SymbolMapping
from copytui.engine.sizing import SizingRule, round_qty
from copytui.models import AccountEvent, EventKind, OrderStatus, OrderType, Side
from tests.engine_harness import LEADER, follower, running


@pytest.mark.parametrize(
    ("x", "mode", "want"),
    [(0.5, "nearest", 1), (0.49, "nearest", 0), (1.5, "nearest", 2), (2.5, "down", 2), (2.01, "up", 3),
     (0.3 * 3, "down", 0), (0.1 * 3 * 10, "down", 3), (3.0, "up", 3)],
)
def test_round_qty(x: float, mode: str, want: int) -> None:
    assert round_qty(x, mode) == want


def test_sizing_rule_targets() -> None:
    assert SizingRule(multiplier=0.5).target(-3) == -2
    assert SizingRule(multiplier=0.5, rounding="down").target(-3) == -1
    assert SizingRule(fixed_qty=2).target(7) == 2
    assert SizingRule(fixed_qty=2).target(0) == 0
    assert SizingRule(multiplier=3, max_position=4).target(2) == 4
    assert SizingRule(reverse=True).target(2) == -2
    assert SizingRule().target(3, factor=10) == 30


async def test_fills_mode_copies_each_rule(tmp_path) -> None:
    fs = [
        follower("one"),
        follower("half", multiplier=0.5),
        follower("halfdown", multiplier=0.5, rounding="down"),
        follower("halfup", multiplier=0.5, rounding="up"),
        follower("fixed", fixed_qty=2),
        follower("capped", multiplier=3, max_position=4),
        follower("rev", reverse=True),
        follower("split", multiplier=2, max_order_qty=2),
    ]
    async with running(tmp_path, fs) as h:
        h.buy("ES", 3)
        await h.settle()
        got = {f.name: h.pos(f.name, "ES") for f in fs}
        assert got == {"one": 3, "half": 2, "halfdown": 1, "halfup": 2, "fixed": 2, "capped": 4, "rev": -3,
                       "split": 6}
        # the split follower's 6 went out as three orders of at most 2
        sizes = [r[0] for r in h.rows("SELECT qty FROM intents WHERE follower='split' AND status!='skipped'")]
        assert sizes == [2, 2, 2]
        h.sell("ES", 3)
        await h.settle()
        assert {f.name: h.pos(f.name, "ES") for f in fs} == dict.fromkeys(got, 0)


async def test_symbol_map_nq_to_mnq_times_ten(tmp_path) -> None:
    fs = [follower("micro", symbol_map={"NQ": SymbolMapping(symbol="MNQ", factor=10)})]
    async with running(tmp_path, fs) as h:
        h.buy("NQ", 2)
        await h.settle()
        assert h.pos("micro", "MNQ") == 20
        assert h.pos("micro", "NQ") == 0
        h.sell("NQ", 1)
        await h.settle()
        assert h.pos("micro", "MNQ") == 10


@pytest.mark.parametrize("ratio", [0.33, 1.5, 3])
async def test_partial_fills_never_overshoot(tmp_path, ratio: float) -> None:
    """Each leader partial fill moves the follower to rule(leader position), never past it."""
    rule = SizingRule(multiplier=ratio)
    async with running(tmp_path, [follower("f", multiplier=ratio)]) as h:
        bid, ask = h.x.quote("ES")
        entry = h.limit(Side.BUY, "ES", 7, bid - 50)
        for part in (1, 2, 1, 3):
            h.x.fill(LEADER, entry, part)
            await h.settle()
            lead = h.pos(LEADER, "ES")
            assert h.pos("f", "ES") == rule.target(lead), f"leader {lead}"
        assert h.pos(LEADER, "ES") == 7
        exit_ = h.limit(Side.SELL, "ES", 7, ask + 50)
        for part in (2, 2, 1, 1, 1):
            h.x.fill(LEADER, exit_, part)
            await h.settle()
            assert h.pos("f", "ES") == rule.target(h.pos(LEADER, "ES"))
        assert h.pos("f", "ES") == 0
        assert h.x.duplicate_submissions("f") == 0


async def test_duplicate_and_replayed_leader_events_are_dropped(tmp_path) -> None:
    fs = [follower("a"), follower("b", multiplier=2)]
    async with running(tmp_path, fs, leader_faults=Faults(duplicate_prob=1.0, reorder_prob=0.3), seed=5) as h:
        for _ in range(5):
            h.buy("ES", 1)
            await h.settle()
        h.sell("ES", 5)
        await h.settle()
        h.x.flush_held(LEADER)
        await h.settle()
        # replay a fill by hand, as a broker resync would
        fill = h.x.accounts[LEADER].fills[0].event
        h.engine.on_leader_event(fill)
        h.engine.on_leader_event(fill.model_copy(update={"recv_ns": 1}))
        await h.settle()
        assert h.pos("a", "ES") == 0 and h.pos("b", "ES") == 0
        assert h.x.duplicate_submissions("a") == 0 and h.x.duplicate_submissions("b") == 0
        # 5 entries + 1 exit each, nothing more
        assert len(h.x.accounts["a"].submissions) == 6
        assert len(h.x.accounts["b"].submissions) == 6
        dropped = h.engine.duplicates + h.engine.builder.stale_dropped
        assert dropped >= 5


async def test_rejected_entry_never_becomes_a_wrong_way_exit(tmp_path) -> None:
    fs = [follower("rej"), follower("ok")]
    async with running(tmp_path, fs, faults={"rej": Faults(reject_rate=1.0)}) as h:
        h.buy("ES", 2)
        await h.settle()
        assert h.pos("rej", "ES") == 0 and h.pos("ok", "ES") == 2
        statuses = [r[0] for r in h.rows("SELECT status FROM intents WHERE follower='rej'")]
        assert statuses == ["rejected"]
        h.x.accounts["rej"].faults = Faults()
        h.sell("ES", 2)
        await h.settle()
        assert h.pos("rej", "ES") == 0  # not short 2
        assert h.pos("ok", "ES") == 0
        assert h.engine.snapshot().followers[0].rejects == 1


async def test_mirror_mode_copies_limit_modify_and_cancel(tmp_path) -> None:
    fs = [follower("m", mode="mirror", multiplier=2)]
    async with running(tmp_path, fs) as h:
        bid, _ = h.x.quote("ES")
        oid = h.limit(Side.BUY, "ES", 1, bid - 10)
        await h.settle()
        [copy] = h.x.open_orders("m")
        assert (copy.order_type, copy.side, copy.qty, copy.price) == (OrderType.LIMIT, Side.BUY, 2, bid - 10)
        h.x.modify(LEADER, oid, price=bid - 9, qty=2)
        await h.settle()
        [copy] = h.x.open_orders("m")
        assert (copy.price, copy.qty) == (bid - 9, 4)
        h.x.cancel(LEADER, oid)
        await h.settle()
        assert h.x.open_orders("m") == []
        assert h.x.accounts["m"].orders[copy.broker_order_id].status is OrderStatus.CANCELLED


class NoModifyPaper(PaperAdapter):
    """A broker that cannot modify an order, only cancel it and take a new one."""

    capabilities = replace(PaperAdapter.capabilities, modify=False)

    async def modify(self, order):  # type: ignore[no-untyped-def]
        raise AssertionError("the engine asked a broker without modify to modify")


async def test_a_broker_without_modify_gets_cancel_and_replace(tmp_path) -> None:
    fs = [follower("m", mode="mirror", multiplier=2)]
    async with running(tmp_path, fs, adapter_types={"m": NoModifyPaper}) as h:
        bid, _ = h.x.quote("ES")
        oid = h.limit(Side.BUY, "ES", 1, bid - 10)
        await h.settle()
        [first] = h.x.open_orders("m")
        h.x.modify(LEADER, oid, price=bid - 9, qty=2)
        await h.settle()
        [second] = h.x.open_orders("m")
        assert (second.price, second.qty) == (bid - 9, 4)
        assert second.broker_order_id != first.broker_order_id
        assert h.x.accounts["m"].orders[first.broker_order_id].status is OrderStatus.CANCELLED
        h.x.cancel(LEADER, oid)  # the leader's cancel reaches the replacement
        await h.settle()
        assert h.x.open_orders("m") == [] and h.x.duplicate_submissions("m") == 0
        assert h.x.accounts["m"].orders[second.broker_order_id].status is OrderStatus.CANCELLED


async def test_a_replacement_is_not_sent_when_its_original_filled_first(tmp_path) -> None:
    fs = [follower("m", mode="mirror")]
    slow = {"m": Faults(latency_ms=400)}  # the cancel takes 0.2 s to reach the exchange
    async with running(tmp_path, fs, adapter_types={"m": NoModifyPaper}, faults=slow) as h:
        bid, ask = h.x.quote("ES")
        oid = h.limit(Side.BUY, "ES", 1, bid - 10)
        await h.settle()
        [copy] = h.x.open_orders("m")
        h.x.modify(LEADER, oid, price=bid - 9)
        for _ in range(50):  # the leader's change routed: the cancel is on its way
            await asyncio.sleep(0.002)
            if h.engine.followers["m"].state.replacing:
                break
        assert h.engine.followers["m"].state.replacing
        h.x.modify("m", copy.broker_order_id, price=ask + 5)  # ...and the copy fills before it arrives
        await h.settle()
        assert h.pos("m", "ES") == 1 and h.x.open_orders("m") == []  # never 2: no overshoot
        alerts = [a.message for a in h.engine.alerts if a.kind == "replacement not sent"]
        assert alerts and "was not cancelled" in alerts[0]


async def test_mirror_copy_fills_on_its_own(tmp_path) -> None:
    fs = [follower("m", mode="mirror")]
    async with running(tmp_path, fs) as h:
        bid, _ = h.x.quote("ES")
        h.limit(Side.BUY, "ES", 1, bid - 1)
        await h.settle()
        h.x.set_price("ES", bid - 2)  # both orders become marketable
        await h.settle()
        assert h.pos(LEADER, "ES") == 1 and h.pos("m", "ES") == 1


async def test_paused_follower_is_not_copied_and_resume_syncs(tmp_path) -> None:
    fs = [follower("p"), follower("q")]
    async with running(tmp_path, fs) as h:
        h.engine.pause("p")
        h.buy("ES", 2)
        await h.settle()
        assert h.pos("p", "ES") == 0 and h.pos("q", "ES") == 2
        h.engine.resume("p", sync=True)
        await h.settle()
        assert h.pos("p", "ES") == 2
        acts = [r[0] for r in h.rows("SELECT action FROM operator_actions ORDER BY id")]
        assert acts == ["pause", "resume"]


async def test_flatten_leaves_follower_flat_and_paused(tmp_path) -> None:
    fs = [follower("a", mode="mirror")]
    async with running(tmp_path, fs) as h:
        h.buy("ES", 2)
        bid, _ = h.x.quote("ES")
        h.limit(Side.BUY, "ES", 1, bid - 20)
        await h.settle()
        assert h.pos("a", "ES") == 2 and len(h.x.open_orders("a")) == 1
        await h.engine.flatten("a")
        await h.settle()
        assert h.pos("a", "ES") == 0 and h.x.open_orders("a") == []
        h.buy("ES", 1)
        await h.settle()
        assert h.pos("a", "ES") == 0
        assert h.engine.snapshot().followers[0].copy_state == "paused"


async def test_bad_leader_event_is_journaled_and_skipped(tmp_path) -> None:
    async with running(tmp_path, [follower("a")]) as h:
        bad = AccountEvent(account=LEADER, kind=EventKind.FILL, order_id="X1", symbol="ZZ", side=Side.BUY,
                           qty=1, fill_qty=1, cum_qty=1, fill_price=1.0)
        h.engine.on_leader_event(bad)
        h.buy("ES", 1)
        await h.settle()
        assert h.pos("a", "ES") == 1
        [(msg,)] = h.rows("SELECT message FROM errors")
        assert "unknown symbol 'ZZ'" in msg


async def test_restart_resumes_from_journal_without_resending(tmp_path) -> None:
    from adapters.paper import PaperExchange

    x = PaperExchange(seed=2)
    fs = [follower("a", multiplier=0.5)]
    async with running(tmp_path, fs, exchange=x) as h:
        h.buy("ES", 1)
        await h.settle()
        assert h.pos("a", "ES") == 1
        fills = [r.event for r in x.accounts[LEADER].fills]
    # same exchange, same journal: a second process picks up where the first stopped
    async with running(tmp_path, fs, exchange=x) as h:
        for ev in fills:  # a broker replaying its history after reconnect
            h.engine.on_leader_event(ev)
        await h.settle()
        assert len(x.accounts["a"].submissions) == 1
        h.buy("ES", 1)  # leader 2 -> follower target 1: already there
        await h.settle()
        assert h.pos("a", "ES") == 1 and len(x.accounts["a"].submissions) == 1
        h.buy("ES", 1)  # leader 3 -> target 2
        await h.settle()
        assert h.pos("a", "ES") == 2


async def test_resume_with_sync_does_not_buy_again_what_a_protective_stop_guards(tmp_path) -> None:
    """A mirror follower holds 2 with the leader's protective stop copied: paused and resumed with
    sync, it already holds what the leader holds; the working stop is not a position to make up."""
    async with running(tmp_path, [follower("m", mode="mirror")]) as h:
        h.buy("ES", 2)
        await h.settle()
        bid, _ = h.x.quote("ES")
        h.x.submit(LEADER, symbol="ES", side=Side.SELL, qty=2, order_type=OrderType.STOP, stop_price=bid - 5)
        await h.settle()
        assert [r[0] for r in h.rows("SELECT order_type FROM intents WHERE status = 'working'")] == ["stop"]
        h.engine.pause("m")
        h.engine.resume("m", sync=True)
        await h.settle()
        assert h.pos("m", "ES") == 2 and h.pos(LEADER, "ES") == 2
        assert h.rows("SELECT count(*) FROM intents WHERE follower = 'm' AND order_type = 'market'") == [(1,)]


async def test_a_follower_fill_missed_while_down_is_read_back_at_restart(tmp_path) -> None:
    """A mirrored limit order journaled as working filled while copytui was down (its report died with
    the process): the restart asks the broker, journals the fill once, and sends nothing again."""
    from adapters.paper import PaperExchange

    x = PaperExchange(seed=2)
    fs = [follower("m", mode="mirror")]
    async with running(tmp_path, fs, exchange=x) as h:
        bid, _ = x.quote("ES")
        h.limit(Side.BUY, "ES", 2, bid - 5.0)
        await h.settle()
        [(coid, status)] = h.rows("SELECT client_order_id, status FROM intents WHERE follower='m'")
        assert status == "working"
    x.set_price("ES", bid - 10.0)  # while copytui is down: both the leader's order and the copy fill
    assert {p.symbol: p.qty for p in x.position_list("m")} == {"ES": 2}
    async with running(tmp_path, fs, exchange=x) as h:
        await h.settle()
        assert h.rows("SELECT status, filled_qty FROM intents WHERE client_order_id = ?", coid) == [("filled", 2)]
        assert h.rows("SELECT qty FROM executions WHERE follower='m'") == [(2,)]
        assert len(x.accounts["m"].submissions) == 1  # asked, never resent


async def test_journal_records_latency_and_slippage(tmp_path) -> None:
    async with running(tmp_path, [follower("a")]) as h:
        h.buy("ES", 1)
        await h.settle()
        [(recv, journaled, sent, ack, status, send_count)] = h.rows(
            "SELECT recv_ns, journaled_ns, sent_ns, ack_ns, status, send_count FROM intents")
        assert 0 < recv <= journaled <= sent <= ack
        assert status == "filled" and send_count == 1
        [(px, ticks)] = h.rows("SELECT price, slippage_ticks FROM executions")
        assert px > 0 and ticks is not None


async def test_mirror_copy_left_unfilled_goes_to_market(tmp_path) -> None:
    fs = [follower("m", mode="mirror", mirror_unfilled="market", mirror_unfilled_after_s=0.5),
          follower("c", mode="mirror", mirror_unfilled="cancel", mirror_unfilled_after_s=0.5)]
    async with running(tmp_path, fs) as h:
        h.engine.tasks.spawn(h.engine.reconciler.run(tick_s=0.05), "reconciler-fast")
        bid, _ = h.x.quote("ES")
        oid = h.limit(Side.BUY, "ES", 2, bid - 30)
        await h.settle()
        assert len(h.x.open_orders("m")) == 1 and len(h.x.open_orders("c")) == 1
        h.x.fill(LEADER, oid, 2)  # the leader got filled, the copies did not
        await h.settle()
        assert h.pos("m", "ES") == 0
        for _ in range(60):
            await asyncio.sleep(0.05)
            if h.pos("m", "ES") == 2 and not h.x.open_orders("c"):
                break
        assert h.pos("m", "ES") == 2 and h.x.open_orders("m") == []
        assert h.pos("c", "ES") == 0 and h.x.open_orders("c") == []
        assert h.x.duplicate_submissions("m") == 0


async def test_leader_gap_recovery_after_reconnect(tmp_path) -> None:
    """Fills the leader's stream lost are fetched with fills_since once the reconnect is quiet."""
    async with running(tmp_path, [follower("a")]) as h:
        h.engine.tasks.spawn(h.engine.reconciler.run(tick_s=0.05), "reconciler-fast")
        leader = h.engine.leader
        h.buy("ES", 1)
        await h.settle()
        leader._dropped = True  # the wire loses everything from here, and the broker sends no resync
        h.buy("ES", 2)
        h.sell("NQ", 1)
        await h.settle()
        assert h.pos("a", "ES") == 1 and h.pos("a", "NQ") == 0
        leader._dropped = False
        leader.health.reconnects += 1
        for _ in range(60):
            await asyncio.sleep(0.05)
            if h.pos("a", "ES") == 3 and h.pos("a", "NQ") == -1:
                break
        assert h.pos("a", "ES") == 3 and h.pos("a", "NQ") == -1
        assert h.x.duplicate_submissions("a") == 0


async def test_reconcile_runs_after_fanout_and_names_drift(tmp_path) -> None:
    async with running(tmp_path, [follower("a")]) as h:
        h.engine.tasks.spawn(h.engine.reconciler.run(tick_s=0.05), "reconciler-fast")
        h.engine.reconciler.cfg = h.engine.reconciler.cfg.model_copy(update={"min_gap_s": 0.5})
        h.buy("ES", 2)
        await h.settle()
        h.x.submit("a", symbol="ES", side=Side.SELL, qty=1)  # someone trades the follower by hand
        passes = h.engine.reconciler.passes
        h.buy("ES", 1)  # a fan-out: a pass follows once it settles
        for _ in range(100):
            await asyncio.sleep(0.05)
            if h.engine.reconciler.passes > passes:
                break
        assert h.engine.reconciler.passes > passes
        rows = h.rows("SELECT follower, symbol, expected, actual FROM reconciliation")
        assert ("a", "ES", 3, 2) in rows
        await h.engine.reconcile_now()  # the trader presses r: a persisting drift is named at once
        drift = [a for a in h.engine.alerts if a.kind == "drift" and a.follower == "a"]
        assert drift and drift[-1].message == "ES expected +3, broker +2: wrong size"


async def test_an_order_without_answer_is_given_up_on_and_never_resent(tmp_path) -> None:
    """The broker stays silent past order_timeout_s: the order's outcome becomes unknown (said in an
    alert), the broker is asked by client id, and an order it never saw is counted as not sent."""
    slow = Faults(latency_ms=4000)  # the paper "wire" holds the request 2 s before the exchange sees it
    async with running(tmp_path, [follower("slow"), follower("quick")], faults={"slow": slow},
                       order_timeout_s=0.2) as h:
        h.buy("ES", 1)
        for _ in range(100):
            await asyncio.sleep(0.02)
            if any(a.kind == "order outcome unknown" for a in h.engine.alerts):
                break
        assert h.rows("SELECT status FROM intents WHERE follower='slow'") == [("unknown",)]
        assert h.pos("quick", "ES") == 1  # the other follower was never held up
        assert h.engine.followers["slow"].busy == 0  # its lane is free for the next order
        for _ in range(3):
            await h.engine.reconcile_now()
        assert [a.kind for a in h.engine.alerts if a.follower == "slow"][-1] == "order never arrived"
        assert h.rows("SELECT status FROM intents WHERE follower='slow'") == [("cancelled",)]
        assert h.x.accounts["slow"].submissions == []  # nothing reached the exchange, nothing resent


async def test_a_reconcile_mid_copy_does_not_call_orders_on_their_way_drift(tmp_path) -> None:
    slow = {"slow": Faults(latency_ms=600)}  # the order reaches the exchange 0.3 s after it is written
    async with running(tmp_path, [follower("slow")], faults=slow) as h:
        h.buy("ES", 2)
        for _ in range(100):
            await asyncio.sleep(0.005)
            if h.engine.followers["slow"].busy:
                break
        await h.engine.reconcile_now()  # the order is on its way: the broker shows nothing yet
        view = h.engine.snapshot().followers[0]
        assert view.positions == {} and view.expected == {"ES": 2}
        assert view.drift == {}  # expected, not drift
        assert not [a for a in h.engine.alerts if a.kind == "drift"]
        await h.settle()
        await h.engine.reconcile_now()
        assert h.engine.snapshot().followers[0].drift == {} and h.pos("slow", "ES") == 2


def _old_fill(h, qty: int, age_s: float):  # type: ignore[no-untyped-def]
    """A leader buy fill read now but made ``age_s`` ago (a reconnect backlog)."""
    import time

    from copytui.models import AccountEvent, EventKind, OrderType

    h.n_old = getattr(h, "n_old", 0) + 1
    oid = f"old-{h.n_old}"
    return AccountEvent(account=LEADER, kind=EventKind.FILL, order_id=oid, symbol="ES", side=Side.BUY,
                        order_type=OrderType.MARKET, qty=qty, cum_qty=qty, fill_qty=qty, fill_price=5000.25,
                        fill_id=f"{oid}-F1", wall_ns=time.time_ns() - int(age_s * 1e9), recv_ns=1)  # fmt: skip


async def test_close_only_copies_exits_and_never_opens(tmp_path) -> None:
    async with running(tmp_path, [follower("wind", close_only=True), follower("plain")]) as h:
        h.buy("ES", 2)
        await h.settle()
        assert h.pos("wind", "ES") == 0 and h.pos("plain", "ES") == 2  # nothing opened
        reasons = [r[0] for r in h.rows("SELECT reason FROM intents WHERE follower='wind'")]
        assert reasons == ["close only: nothing opens"]
        h.engine.resume("wind")  # a manual sync is the operator's: it may open (close_only is about copying)
        await h.settle()
        assert h.pos("wind", "ES") == 2
        h.sell("ES", 3)  # a reversal: the follower goes flat, not short
        await h.settle()
        assert h.pos("wind", "ES") == 0 and h.pos("plain", "ES") == -1


async def test_close_only_in_mirror_mode_copies_no_market_entry_but_the_exit(tmp_path) -> None:
    """The leader's market orders reach a mirror follower as fills of orders it did not mirror:
    close_only holds for them too (they once opened a position)."""
    fs = [follower("wind", mode="mirror", close_only=True), follower("plain", mode="mirror")]
    async with running(tmp_path, fs) as h:
        h.buy("ES", 2)
        await h.settle()
        assert h.pos("wind", "ES") == 0 and h.pos("plain", "ES") == 2
        assert [r[0] for r in h.rows("SELECT reason FROM intents WHERE follower='wind'")] == [
            "close only: nothing opens"
        ]
        h.engine.resume("wind")  # the operator's sync may open
        await h.settle()
        assert h.pos("wind", "ES") == 2
        h.sell("ES", 3)  # a reversal: the mirror follower goes flat, not short
        await h.settle()
        assert h.pos("wind", "ES") == 0 and h.pos("plain", "ES") == -1


async def test_a_late_leader_fill_does_not_open_late_but_exits_always_go(tmp_path) -> None:
    fs = [
        follower("skip", max_copy_delay_ms=1000),
        follower("limit", max_copy_delay_ms=1000, late_entry="limit_at_leader_price"),
        follower("anyway", max_copy_delay_ms=1000, late_entry="market"),
    ]
    async with running(tmp_path, fs) as h:
        h.engine.on_leader_event(_old_fill(h, 2, age_s=5.0))
        await h.settle()
        assert h.pos("skip", "ES") == 0 and h.pos("anyway", "ES") == 2
        assert "late entry skipped: the leader's fill is 5.0s old" in h.rows(
            "SELECT reason FROM intents WHERE follower='skip'")[0][0]  # fmt: skip
        [(otype, price, qty)] = h.rows("SELECT order_type, price, qty FROM intents WHERE follower='limit'")
        assert (otype, price, qty) == ("limit", 5000.25, 2)  # at the leader's price, not chasing the market
        h.buy("ES", 1)  # a fresh fill: copied at once by all
        await h.settle()
        assert h.pos("skip", "ES") == 1 and h.pos("anyway", "ES") == 3
        h.sell("ES", 3)  # exits go whatever their age
        await h.settle()
        assert h.pos("skip", "ES") == 0 and h.pos("anyway", "ES") == 0
