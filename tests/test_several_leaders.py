"""Several leaders in one copytui, on the real paper exchange with a real journal file: each
follower targets the sum of the positions of the leaders it follows, through its rule."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time

import pytest

from adapters.paper import PaperAdapter, PaperExchange
from copytui.config import AccountConfig, ConfigError, parse_config
from copytui.control import control_path
from copytui.engine import Engine
from copytui.journal import Journal
from copytui.journal.summary import summary, summary_text
from copytui.models import OrderType, Side
from tests.engine_harness import follower, running

A, B = "alpha-lead", "beta-lead"


async def test_a_follower_of_two_leaders_holds_the_sum_of_their_positions(tmp_path) -> None:
    async with running(tmp_path, [follower("both")], leaders=(A, B)) as h:
        h.buy("ES", 2, by=A)
        await h.settle()
        assert h.pos("both", "ES") == 2
        h.buy("ES", 1, by=B)
        await h.settle()
        assert h.pos("both", "ES") == 3
        h.sell("ES", 2, by=A)
        await h.settle()
        assert h.pos("both", "ES") == 1
        h.sell("ES", 1, by=B)
        await h.settle()
        assert h.pos("both", "ES") == 0
        # each leader's signals are journaled under its own name, and the summary says so
        by_leader = dict(h.rows("SELECT leader, COUNT(*) FROM signals WHERE kind='fill' GROUP BY leader"))
        assert by_leader == {A: 2, B: 2}
        said = summary_text(await summary(h.journal.path))
        assert f"leader fills copied: {A} 2  {B} 2" in said


async def test_opposite_leaders_net_out_instead_of_fighting(tmp_path) -> None:
    """A long and B short the same contract: the follower holds the net, and one leader's exit
    moves it by that leader's part only."""
    async with running(tmp_path, [follower("both")], leaders=(A, B)) as h:
        h.buy("NQ", 3, by=A)
        h.sell("NQ", 2, by=B)
        await h.settle()
        assert h.pos("both", "NQ") == 1
        h.buy("NQ", 2, by=B)  # B goes flat: the follower holds A's 3
        await h.settle()
        assert h.pos("both", "NQ") == 3
        sent = h.rows("SELECT side, qty FROM intents WHERE follower='both' AND status!='skipped' ORDER BY rowid")
        assert sent == [("buy", 3), ("sell", 2), ("buy", 2)]


async def test_follows_picks_the_leaders_each_follower_copies(tmp_path) -> None:
    fs = [follower("only-a", follows=[A]), follower("only-b", follows=[B]), follower("all", multiplier=2)]
    async with running(tmp_path, fs, leaders=(A, B)) as h:
        h.buy("ES", 1, by=A)
        h.sell("CL", 2, by=B)
        await h.settle()
        assert (h.pos("only-a", "ES"), h.pos("only-a", "CL")) == (1, 0)
        assert (h.pos("only-b", "ES"), h.pos("only-b", "CL")) == (0, -2)
        assert (h.pos("all", "ES"), h.pos("all", "CL")) == (2, -4)
        # a leader's signal reaches only its followers: nothing was even journaled for the others
        rows = h.rows("SELECT follower FROM intents i JOIN signals s ON s.id = i.signal_id WHERE s.leader=?", B)
        assert sorted({r[0] for r in rows}) == ["all", "only-b"]
        snap = h.engine.snapshot()
        assert [(lv.name, lv.followers) for lv in snap.leaders] == [(A, ("only-a", "all")), (B, ("only-b", "all"))]
        assert {v.name: v.follows for v in snap.followers} == {"only-a": (A,), "only-b": (B,), "all": (A, B)}


async def test_rounding_applies_to_each_leader_then_sums(tmp_path) -> None:
    """x0.5 of each leader's 1 lot rounds to 1 each (nearest): the follower holds 2, and max_position
    caps the sum."""
    fs = [follower("half", multiplier=0.5), follower("capped", multiplier=0.5, max_position=1)]
    async with running(tmp_path, fs, leaders=(A, B)) as h:
        h.buy("ES", 1, by=A)
        h.buy("ES", 1, by=B)
        await h.settle()
        assert h.pos("half", "ES") == 2
        assert h.pos("capped", "ES") == 1
        assert h.engine.followers["half"].state.expected() == {"ES": 2}


async def test_each_leader_can_have_its_own_sizing(tmp_path) -> None:
    """x1 of A and x3 of B; a hedge account that trades B reversed; a fixed 1 lot whenever A holds."""
    fs = [
        follower("mixed", follows=[A, {"leader": B, "multiplier": 3}]),
        follower("hedge-b", follows=[A, {"leader": B, "reverse": True}]),
        follower("fixed-a", multiplier=2, follows=[{"leader": A, "fixed_qty": 1}, B]),
    ]
    async with running(tmp_path, fs, leaders=(A, B)) as h:
        h.buy("ES", 2, by=A)
        h.buy("ES", 1, by=B)
        await h.settle()
        assert h.pos("mixed", "ES") == 2 + 3
        assert h.pos("hedge-b", "ES") == 2 - 1
        assert h.pos("fixed-a", "ES") == 1 + 2
        assert h.engine.snapshot().followers[0].rule == f"fills x1 [{B} x3]"
        h.sell("ES", 2, by=A)
        await h.settle()
        assert (h.pos("mixed", "ES"), h.pos("hedge-b", "ES"), h.pos("fixed-a", "ES")) == (3, -1, 2)
        # the feedback guard allows what the largest leader rule can explain: nobody was stopped
        assert not any(f.state.stopped_by_risk for f in h.engine.followers.values())


async def test_a_mirror_follower_uses_its_one_leaders_sizing(tmp_path) -> None:
    fs = [follower("m", mode="mirror", follows=[{"leader": B, "multiplier": 2}])]
    async with running(tmp_path, fs, leaders=(A, B)) as h:
        bid, _ = h.x.quote("ES")
        h.x.submit(B, symbol="ES", side=Side.BUY, qty=2, order_type=OrderType.LIMIT, price=bid - 20)
        h.buy("ES", 5, by=A)  # not followed
        await h.settle()
        working = [o for o in h.x.accounts["m"].orders.values() if not o.status.final]
        assert [(o.side, o.qty, o.order_type) for o in working] == [(Side.BUY, 4, OrderType.LIMIT)]
        assert h.pos("m", "ES") == 0


async def test_reconciler_expects_the_sum_and_sees_no_drift(tmp_path) -> None:
    async with running(tmp_path, [follower("both")], leaders=(A, B)) as h:
        h.buy("GC", 2, by=A)
        h.buy("GC", 1, by=B)
        await h.settle()
        drifts = await h.engine.reconciler.reconcile_once(manual=True)
        assert drifts == {}
        assert h.engine.followers["both"].expected == {"GC": 3}


async def test_resume_with_sync_goes_to_the_sum(tmp_path) -> None:
    async with running(tmp_path, [follower("both")], leaders=(A, B)) as h:
        h.engine.pause("both")
        h.buy("ES", 2, by=A)
        h.buy("ES", 1, by=B)
        await h.settle()
        assert h.pos("both", "ES") == 0
        h.engine.resume("both", sync=True)
        await h.settle()
        assert h.pos("both", "ES") == 3


async def test_resume_without_sync_waits_until_every_followed_leader_is_flat(tmp_path) -> None:
    async with running(tmp_path, [follower("both")], leaders=(A, B)) as h:
        h.engine.pause("both")
        h.buy("ES", 1, by=A)
        h.buy("ES", 1, by=B)
        await h.settle()
        h.engine.resume("both", sync=False)
        h.sell("ES", 1, by=A)  # A flat, B still long: keep waiting
        await h.settle()
        h.buy("ES", 1, by=A)
        await h.settle()
        assert h.pos("both", "ES") == 0
        h.sell("ES", 1, by=A)
        h.sell("ES", 1, by=B)  # both flat: waiting ends
        await h.settle()
        h.buy("ES", 2, by=B)
        await h.settle()
        assert h.pos("both", "ES") == 2


async def test_restart_catches_up_each_leader_from_its_own_cursor(tmp_path) -> None:
    """Both leaders trade while copytui is down: after the restart each one's missed fills are
    copied once, and nothing copied before the stop is copied again."""
    x = PaperExchange(seed=5)
    async with running(tmp_path, [follower("both")], leaders=(A, B), exchange=x) as h:
        h.buy("ES", 1, by=A)
        h.buy("ES", 1, by=B)
        await h.settle()
        assert h.pos("both", "ES") == 2
    x.submit(A, symbol="ES", side=Side.BUY, qty=2)
    x.submit(B, symbol="ES", side=Side.SELL, qty=1)
    journal = Journal(tmp_path / "journal.sqlite3")
    engine = Engine(
        leaders=[(AccountConfig(name=n), PaperAdapter(x, n)) for n in (A, B)],
        followers=[(follower("both"), PaperAdapter(x, "both"))],
        journal=journal,
        reconcile_interval_s=3600,
    )
    await engine.start()
    try:
        for _ in range(3):
            await asyncio.sleep(0.01)
            await engine.drain(timeout_s=5)
        assert x.accounts["both"].positions["ES"].qty == 3  # A 3 + B 0
        journal.flush()
        fills = journal.db.execute("SELECT COUNT(*) FROM signals WHERE kind='fill'").fetchone()[0]
        assert fills == 4  # two before the stop, one per leader caught up: none twice
    finally:
        await engine.stop(settle=False)
        journal.close()


async def test_missed_fills_of_two_leaders_are_caught_up_in_time_order(tmp_path) -> None:
    """While copytui is down: A buys 1, B buys 1, A sells 1, B sells 1 (the sum goes 1, 2, 1, 0). After
    the restart the follower's fills go through those sums in that order, never through a position
    the leaders never held together (each leader's fills one after the other would go 1, 0, 1, 0)."""
    x = PaperExchange(seed=5)
    async with running(tmp_path, [follower("both")], leaders=(A, B), exchange=x) as h:
        h.buy("ES", 1, by=A)
        h.sell("ES", 1, by=A)  # a cursor for each leader's fills
        h.buy("ES", 1, by=B)
        h.sell("ES", 1, by=B)
        await h.settle()
    before = len(x.accounts["both"].fills)
    for who, side in ((A, Side.BUY), (B, Side.BUY), (A, Side.SELL), (B, Side.SELL)):
        x.submit(who, symbol="ES", side=side, qty=1)
    async with running(tmp_path, [follower("both")], leaders=(A, B), exchange=x) as h:
        await h.settle()
        path, net = [], 0
        for rec in x.accounts["both"].fills[before:]:
            net += rec.event.fill_qty * rec.event.side.sign if rec.event.side else 0
            path.append(net)
        assert path == [1, 2, 1, 0]


# ---------------------------------------------------------------- the config
def test_config_leaders_list_and_follows() -> None:
    cfg = parse_config(
        f"""
leaders:
  - {{name: {A}, broker: paper}}
  - {{name: {B}, broker: paper}}
followers:
  - {{name: f1, follows: [{B}]}}
  - {{name: f2}}
"""
    )
    assert [a.name for a in cfg.all_leaders] == [A, B]
    assert cfg.leader.name == A
    assert cfg.follows(cfg.followers[0]) == [B]
    assert cfg.follows(cfg.followers[1]) == [A, B]


def test_config_one_leader_still_reads_as_before() -> None:
    cfg = parse_config("leader: {name: lead}\nfollowers:\n  - {name: f1}\n")
    assert [a.name for a in cfg.all_leaders] == ["lead"]
    assert cfg.follows(cfg.followers[0]) == ["lead"]


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (
            "leader: {name: a}\nleaders:\n  - {name: b}\nfollowers: []\n",
            "write either `leader:` (one leader) or `leaders:`",
        ),
        (
            "leaders:\n  - {name: a}\n  - {name: b}\nfollowers:\n  - {name: f, follows: [c]}\n",
            "<config>:5: followers[1].follows[1]: 'c' is not a leader; the leaders are a, b.",
        ),
        (
            "leaders:\n  - {name: a}\n  - {name: b}\nfollowers:\n  - {name: f, mode: mirror}\n",
            "mirrors working orders, which copies one leader as it is; it follows a, b",
        ),
        (
            "leaders:\n  - {name: a, account_id: X}\n  - {name: b, account_id: X}\nfollowers: []\n",
            "two leaders on one account would copy every order twice",
        ),
        (
            "leaders:\n  - {name: a}\n  - {name: b}\nfollowers:\n  - {name: f, account_id: b}\n",
            "the leader's own account",
        ),
        (
            "leaders:\n  - {name: a, multiplier: 2}\nfollowers: []\n",
            "leaders[1].multiplier: unknown key",
        ),
    ],
)
def test_config_leader_mistakes_are_said_plainly(text: str, said: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(text)
    assert said in str(err.value)
    assert "leader.multiplier" not in str(err.value)  # said once, where the trader wrote it


def test_a_mirror_follower_of_one_named_leader_is_fine() -> None:
    cfg = parse_config(
        "leaders:\n  - {name: a}\n  - {name: b}\nfollowers:\n  - {name: f, mode: mirror, follows: [b]}\n"
    )
    assert cfg.follows(cfg.followers[0]) == ["b"]


def test_the_demo_drives_every_paper_leader_of_a_config(tmp_path) -> None:
    """`copytui run --demo --config` with two paper leaders: a random trader each, both copied, and
    every follower at the sum of its leaders' positions through its rules when it stops."""
    cfg = tmp_path / "config.yaml"
    journal = tmp_path / "journal.sqlite3"
    cfg.write_text(
        f"journal: {journal}\nleaders:\n  - {{name: {A}}}\n  - {{name: {B}}}\nfollowers:\n"
        f"  - {{name: both}}\n  - {{name: hedge, follows: [{A}, {{leader: {B}, reverse: true}}]}}\n"
    )
    env = {**os.environ, "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data"),
           "XDG_CONFIG_HOME": str(tmp_path / "config")}  # fmt: skip
    run = [sys.executable, "-m", "copytui.cli", "run", "--demo", "--config", str(cfg), "--headless", "--duration", "4"]
    out = subprocess.run(run, capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.startswith(f'copytui: copying leaders "{A}" (paper), "{B}" (paper) to 2 followers')
    said = subprocess.run([sys.executable, "-m", "copytui.cli", "journal", "summary", "--journal", str(journal)],
                          capture_output=True, text=True, env=env, timeout=60).stdout  # fmt: skip
    fills = dict(re.findall(r"(\S+) (\d+)", said.split("leader fills copied:")[1].splitlines()[0]))
    assert set(fills) == {A, B} and all(int(n) > 0 for n in fills.values())
    assert "duplicate orders 0" in said and said.count("drift none") == 2


def test_ctl_status_says_whom_each_follower_follows(tmp_path) -> None:
    cfg = tmp_path / "config.yaml"
    journal = tmp_path / "journal.sqlite3"
    cfg.write_text(
        f"journal: {journal}\nleaders:\n  - {{name: {A}}}\n  - {{name: {B}}}\nfollowers:\n"
        f"  - {{name: both}}\n  - {{name: b-only, follows: [{B}]}}\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("XDG_")} | {"HOME": str(tmp_path / "home")}
    copytui = [sys.executable, "-m", "copytui.cli"]
    run = subprocess.Popen([*copytui, "run", "--headless", "--config", str(cfg), "--duration", "60"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)  # fmt: skip
    try:
        assert run.stdout is not None and "copying leaders" in run.stdout.readline()
        deadline = time.monotonic() + 30
        while not control_path(journal).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        out = subprocess.run([*copytui, "ctl", "status", "--config", str(cfg)], capture_output=True, text=True,
                             env=env, timeout=60, stdin=subprocess.DEVNULL)  # fmt: skip
        assert out.returncode == 0, out.stderr
        lines = {line.split()[0]: line for line in out.stdout.splitlines()[1:]}
        assert f"<- {A}, {B}" in lines["both"] and f"<- {B}" in lines["b-only"] and A not in lines["b-only"]
    finally:
        run.terminate()
        run.communicate(timeout=60)
