"""Circuit breaker, risk guards and the one-controller lease, on the real engine and paper exchange."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta

import pytest

from adapters.paper import Faults
from copytui.config import RiskConfig
from copytui.engine.guards import Breaker, in_window
from copytui.engine.lease import LeaseHeld, Leases
from tests.engine_harness import follower, running


def test_breaker_opens_half_opens_and_closes() -> None:
    now = [0.0]
    b = Breaker(failures_to_open=2, cooldown_s=10, clock=lambda: now[0])
    assert b.allow()
    assert not b.failure("x")
    assert b.failure("x") and b.state == "open"
    assert not b.allow()
    now[0] = 11
    assert b.allow() and b.state == "half-open"
    assert not b.allow()  # one probe only
    assert b.failure("still bad") and b.state == "open"
    now[0] = 22
    assert b.allow()
    assert b.success() and b.state == "closed"


def test_trading_window_crossing_midnight() -> None:
    day = datetime(2026, 11, 20).astimezone()
    assert in_window("08:30-15:00", day.replace(hour=9))
    assert not in_window("08:30-15:00", day.replace(hour=16))
    assert in_window("17:00-16:00", day.replace(hour=23))
    assert not in_window("17:00-16:00", day.replace(hour=16, minute=30))
    assert in_window(None)


async def test_breaker_stops_sending_after_rejects_and_shows_it(tmp_path) -> None:
    fs = [follower("bad", risk=RiskConfig(breaker_failures=2, breaker_cooldown_s=3600)), follower("good")]
    async with running(tmp_path, fs, faults={"bad": Faults(reject_rate=1.0)}) as h:
        for _ in range(4):
            h.buy("ES", 1)
            await h.settle()
        assert len(h.x.accounts["bad"].submissions) == 2  # the third and fourth never left
        assert h.pos("good", "ES") == 4
        snap = {f.name: f for f in h.engine.snapshot().followers}
        assert snap["bad"].copy_state == "breaker open"
        kinds = [a.kind for a in h.engine.snapshot().alerts]
        assert "breaker open" in kinds
        skipped = h.rows("SELECT reason FROM intents WHERE follower='bad' AND status='skipped'")
        assert skipped and all(r[0].startswith("breaker open") for r in skipped)


async def test_breaker_probe_closes_it(tmp_path) -> None:
    fs = [follower("f", risk=RiskConfig(breaker_failures=1, breaker_cooldown_s=1))]
    async with running(tmp_path, fs, faults={"f": Faults(reject_rate=1.0)}) as h:
        h.buy("ES", 1)
        await h.settle()
        br = h.engine.followers["f"].state.breaker
        assert br.state == "open"
        h.x.accounts["f"].faults = Faults()
        br.opened_at -= 2  # the cooldown has passed
        h.buy("ES", 1)
        await h.settle()
        assert br.state == "closed"
        assert h.pos("f", "ES") == 2  # the probe caught up the rejected entry too


async def test_max_order_and_trading_hours_guards(tmp_path) -> None:
    closed_now = datetime.now().astimezone()
    start = (closed_now + timedelta(hours=2)).strftime("%H:%M")
    end = (closed_now + timedelta(hours=3)).strftime("%H:%M")
    fs = [
        follower("small", risk=RiskConfig(max_order=2)),
        follower("hours", risk=RiskConfig(trading_hours=f"{start}-{end}")),
    ]
    async with running(tmp_path, fs) as h:
        h.buy("ES", 3)
        await h.settle()
        assert h.pos("small", "ES") == 0
        assert h.pos("hours", "ES") == 0
        reasons = dict(h.rows("SELECT follower, reason FROM intents WHERE status='skipped'"))
        assert reasons["small"] == "risk: order above max_order 2"
        assert reasons["hours"].startswith("risk: outside trading hours")


async def test_reducing_orders_pass_outside_trading_hours(tmp_path) -> None:
    fs = [follower("hours")]
    async with running(tmp_path, fs) as h:
        h.buy("ES", 2)
        await h.settle()
        assert h.pos("hours", "ES") == 2
        now = datetime.now().astimezone()
        window = f"{(now + timedelta(hours=2)).strftime('%H:%M')}-{(now + timedelta(hours=3)).strftime('%H:%M')}"
        st = h.engine.followers["hours"].state
        st.cfg = st.cfg.model_copy(update={"risk": RiskConfig(trading_hours=window)})
        h.buy("ES", 1)  # opening more: refused
        await h.settle()
        assert h.pos("hours", "ES") == 2
        h.sell("ES", 3)  # the exit still goes
        await h.settle()
        assert h.pos("hours", "ES") == 0


async def test_daily_loss_limit_flattens_and_disables(tmp_path) -> None:
    fs = [follower("risky", risk=RiskConfig(daily_loss_limit=100))]
    async with running(tmp_path, fs) as h:
        h.buy("ES", 2)
        await h.settle()
        h.x.set_price("ES", h.x.price("ES") - 5)  # 2 ES x 5 points x $50 = $500 down
        await h.engine.reconcile_now()
        await h.settle()
        assert h.pos("risky", "ES") == 0
        view = h.engine.snapshot().followers[0]
        assert view.copy_state == "disabled"
        h.buy("ES", 1)
        await h.settle()
        assert h.pos("risky", "ES") == 0
        [(action, detail)] = h.rows("SELECT action, detail FROM operator_actions WHERE action='risk_stop'")
        assert "daily loss" in detail


def test_second_controller_is_refused(tmp_path) -> None:
    first = Leases(tmp_path / "j.sqlite3", tmp_path / "leases")
    first.take([("a", "tradovate-acct-1", False)])
    other_journal = Leases(tmp_path / "k.sqlite3", tmp_path / "leases")
    with pytest.raises(LeaseHeld, match="follower a .tradovate-acct-1. is already driven by copytui pid"):
        other_journal.take([("a", "tradovate-acct-1", False)])
    same_journal = Leases(tmp_path / "j.sqlite3", tmp_path / "leases")
    with pytest.raises(LeaseHeld, match="journal"):
        same_journal.take([])
    first.release()
    other_journal.take([("a", "tradovate-acct-1", False)])
    other_journal.release()


def test_two_followers_on_one_account_are_refused_naming_both(tmp_path) -> None:
    leases = Leases(tmp_path / "j.sqlite3", tmp_path / "leases")
    with pytest.raises(LeaseHeld) as refused:
        leases.take(
            [("alpha", "tradovate-demo-123", False), ("bravo", "x", False), ("charlie", "tradovate-demo-123", False)]
        )
    text = str(refused.value)
    assert "followers alpha and charlie are the same broker account (tradovate-demo-123)" in text
    assert "pid" not in text  # not blamed on a process: it is the config
    assert leases.held == []
    assert not (tmp_path / "j.sqlite3.lock").exists()


def test_process_local_accounts_take_no_lease_file(tmp_path) -> None:
    first = Leases(tmp_path / "j.sqlite3", tmp_path / "leases")
    first.take([("a", "paper-a", True)])
    second = Leases(tmp_path / "k.sqlite3", tmp_path / "leases")
    second.take([("a", "paper-a", True)])  # another process's paper exchange has its own account a
    assert not (tmp_path / "leases").exists()
    first.release()
    second.release()


def test_second_copytui_process_refuses_clearly(tmp_path) -> None:
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "d"), "XDG_CONFIG_HOME": str(tmp_path / "c")}
    journal = str(tmp_path / "j.sqlite3")
    args = [sys.executable, "-m", "copytui.cli", "run", "--demo", "--headless", "--journal", journal]
    first = subprocess.Popen(
        [*args, "--duration", "8"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True
    )
    try:
        assert first.stdout is not None
        assert "copytui: copying leader" in first.stdout.readline()
        second = subprocess.run([*args, "--duration", "1"], capture_output=True, text=True, env=env, timeout=60)
        assert second.returncode != 0
        assert "is already driven by copytui pid" in second.stderr
        assert "Traceback" not in second.stderr
    finally:
        first.terminate()
        first.wait(timeout=30)


async def test_rate_limited_order_waits_out_the_hint_and_goes_once(tmp_path) -> None:
    from adapters.base import RateLimited
    from adapters.paper import PaperAdapter

    class Limited(PaperAdapter):
        """The paper broker answering 429 twice before it takes the order."""

        refusals = 2

        async def place(self, order):  # type: ignore[no-untyped-def]
            if self.refusals:
                self.refusals -= 1
                raise RateLimited("429 Too Many Requests", retry_after_s=0.05)
            return await super().place(order)

    async with running(tmp_path, [follower("a")]) as h:
        f = h.engine.followers["a"]
        f.adapter.__class__ = Limited  # same connection, a stricter broker
        h.buy("ES", 2)
        for _ in range(40):
            await h.settle()
            if h.pos("a", "ES") == 2:
                break
        assert h.pos("a", "ES") == 2
        assert h.x.accounts["a"].submissions == [h.rows("SELECT client_order_id FROM intents")[0][0]]
        assert f.state.breaker.state == "closed"
