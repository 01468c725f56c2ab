"""kill -9 with two leaders: each leader's fills are caught up from its own cursor after every
restart, and the followers end at the sum of their leaders' positions through their rules.

The broker is the Tradovate simulator in its own process (`copytui sim tradovate`). Two leader
accounts trade over its REST API, as two traders' platforms would; `copytui run` is SIGKILLed in
and after their bursts and restarted on the same journal. At the end the broker's own records
are read: every follower at exactly the sum of the leaders it follows through its rule, and no
client order id that reached the broker twice.
"""

from __future__ import annotations

import collections
import random
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from copytui.engine.sizing import SizingRule
from tests.kill_support import Copier, copytui_env, free_port
from tests.test_crash_recovery import Broker

KILLS = 12
LEADERS = {"day": ("trader1", "DEMO0001"), "swing": ("trader2", "DEMO0002")}
FOLLOWERS = {  # name: (user, account, rule, the leaders it follows)
    "f3": ("trader3", "DEMO0003", SizingRule(), ("day", "swing")),
    "f4": ("trader4", "DEMO0004", SizingRule(), ("swing",)),
    "f5": ("trader5", "DEMO0005", SizingRule(multiplier=0.5, rounding="down"), ("day", "swing")),
}


def trade(broker: Broker, leader: str, side: str, qty: int, symbol: str) -> None:
    user, spec = LEADERS[leader]
    acct = next(a for a in broker._call("/account/list", user=user) if a["name"] == spec)  # type: ignore[union-attr]
    out = broker._call(
        "/order/placeorder",
        {"accountSpec": spec, "accountId": acct["id"], "action": side, "symbol": symbol, "orderQty": qty,
         "orderType": "Market", "isAutomated": True},
        user=user,
    )  # fmt: skip
    assert isinstance(out, dict) and out.get("orderId"), out


def write_config(path: Path, port: int) -> None:
    def account(name: str, user: str, spec: str) -> str:
        return (
            f"  - name: {name}\n    broker: tradovate\n    environment: sim\n    host: 127.0.0.1\n"
            f"    port: {port}\n    username: {user}\n    account_id: {spec}\n"
        )

    leaders = "".join(account(n, u, s) for n, (u, s) in LEADERS.items())
    followers = "".join(
        account(n, u, s)
        + f"    multiplier: {r.multiplier}\n    rounding: {r.rounding}\n    follows: [{', '.join(f)}]\n"
        for n, (u, s, r, f) in FOLLOWERS.items()
    )
    path.write_text(f"leaders:\n{leaders}followers:\n{followers}reconcile:\n  interval_s: 1\n")


def test_sigkill_with_two_leaders_never_loses_or_doubles(tmp_path: Path) -> None:
    rng = random.Random(20261207)
    port = free_port()
    env = copytui_env(tmp_path)
    sim = subprocess.Popen(
        [sys.executable, "-m", "copytui.cli", "sim", "tradovate", "--port", str(port), "--accounts", "5",
         "--seed", "3"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    copier: Copier | None = None
    try:
        assert sim.stdout is not None
        assert "listening" in sim.stdout.readline()
        broker = Broker(port)
        es = broker.front_es()
        cfg = tmp_path / "config.yaml"
        write_config(cfg, port)
        copier = Copier(cfg, tmp_path / "journal.sqlite3", env, tmp_path / "copytui.stderr")
        held = dict.fromkeys(LEADERS, 0)

        def lead(name: str, side: str | None = None, qty: int | None = None) -> None:
            if side is None:  # toward flat when large, else either way
                side = ("Sell" if held[name] > 0 else "Buy") if abs(held[name]) >= 5 else rng.choice(["Buy", "Sell"])
            qty = qty or rng.randint(1, 3)
            trade(broker, name, side, qty, es)
            held[name] += qty if side == "Buy" else -qty

        for kill in range(KILLS):
            copier.start()
            for _ in range(rng.randint(2, 5)):  # both leaders trade, in any order
                lead(rng.choice(list(LEADERS)))
                time.sleep(rng.uniform(0, 0.03))
            time.sleep(rng.choice([0, 0, 0.002, 0.005, 0.02, 0.1]))  # die in the fan-out, or after it
            copier.kill()
            if kill % 3 == 2:  # a leader trades while copytui is down
                lead(rng.choice(list(LEADERS)), qty=1)

        for name, (user, _) in LEADERS.items():
            assert broker.net(user) == held[name]
        want = {
            n: sum(rule.target(held[leader]) for leader in follows) for n, (_, _, rule, follows) in FOLLOWERS.items()
        }
        copier.start()
        deadline = time.monotonic() + 60
        got: dict[str, int] = {}
        while time.monotonic() < deadline:
            got = {n: broker.net(user) for n, (user, *_) in FOLLOWERS.items()}
            if got == want:
                break
            time.sleep(0.5)
        out = copier.stop()
        assert got == want, f"leaders {held}: followers {got}, expected {want}\n{out[-2000:]}"
        for n, (user, *_) in FOLLOWERS.items():
            repeated = [c for c, k in collections.Counter(broker.client_ids(user)).items() if k > 1]
            assert repeated == [], f"{n}: client order ids sent twice: {repeated}"
        # each leader's fills are journaled under its own name, each once (a fill's id is its own)
        db = sqlite3.connect(copier.journal)
        per_leader = dict(db.execute("SELECT leader, COUNT(*) FROM signals WHERE kind='fill' GROUP BY leader"))
        db.close()
        assert set(per_leader) == set(LEADERS), per_leader
    finally:
        if copier is not None:
            copier.close()
        if sim.poll() is None:
            sim.kill()
            sim.wait(timeout=30)
