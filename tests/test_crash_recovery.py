"""kill -9 at random moments of a burst, restart on the same journal, and count at the broker.

The broker is the Tradovate simulator in its own process (`copytui sim tradovate`), so it keeps
every order across copytui's deaths. The test plays the leader over the simulator's REST API as a
trader's platform would, SIGKILLs `copytui run` at 20+ random points, restarts it each time on
the same journal, and at the end reads the broker's own records: every follower at exactly
rule(leader position), and no client order id that reached the broker twice. Some kills land
during start-up and the catch-up of missed fills; every follower's fills, read back from the
broker, follow the leader's own fills in order: a follower never holds a position the leader
never had, and the fixed-size follower never makes a round trip the leader did not make.
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

from tests.kill_support import (
    FOLLOWER_RULES,
    LEADER,
    Copier,
    Leader,
    check_at_the_broker,
    copytui_env,
    free_port,
    kill_during_bursts,
    settle,
)

KILLS = 22
RULES = dict(zip(("f2", "f3", "f4", "f5"), FOLLOWER_RULES, strict=True))
USERS = {LEADER: "trader1", "f2": "trader2", "f3": "trader3", "f4": "trader4", "f5": "trader5"}


class Broker:
    """The simulator's REST API, as a trader's platform (and an auditor) would use it."""

    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}/v1"
        self.tokens: dict[str, str] = {}

    def _call(self, path: str, body: object | None = None, user: str | None = None) -> object:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method="POST" if data else "GET")
        req.add_header("Content-Type", "application/json")
        if user is not None:
            req.add_header("Authorization", f"Bearer {self.token(user)}")
        with urllib.request.urlopen(req, timeout=10) as resp:  # 127.0.0.1 only
            return json.loads(resp.read())

    def token(self, user: str) -> str:
        if user not in self.tokens:
            out = self._call("/auth/accesstokenrequest", {"name": user, "password": "demo", "appId": "crash-test",
                                                          "appVersion": "1", "cid": 0, "sec": "demo"})
            assert isinstance(out, dict) and "accessToken" in out, out
            self.tokens[user] = out["accessToken"]
        return self.tokens[user]

    def front_es(self) -> str:
        out = self._call("/contract/suggest?t=ES&l=5", user="trader1")
        assert isinstance(out, list)
        return next(c["name"] for c in out if re.fullmatch(r"ES[FGHJKMNQUVXZ]\d", c["name"]))

    def leader_market(self, symbol: str, side: str, qty: int) -> None:
        acct = next(a for a in self._call("/account/list", user="trader1") if a["name"] == "DEMO0001")  # type: ignore[union-attr]
        out = self._call("/order/placeorder", {"accountSpec": "DEMO0001", "accountId": acct["id"], "action": side,
                                               "symbol": symbol, "orderQty": qty, "orderType": "Market",
                                               "isAutomated": True}, user="trader1")
        assert isinstance(out, dict) and out.get("orderId"), out

    def net(self, user: str) -> int:
        positions = self._call("/position/list", user=user)
        assert isinstance(positions, list)
        return sum(p["netPos"] for p in positions)

    def position_path(self, user: str) -> list[int]:
        """The account's net position after each of its fills, in the broker's order."""
        fills = self._call("/fill/list", user=user)
        assert isinstance(fills, list)
        path, net = [0], 0
        for fill in sorted(fills, key=lambda f: f["id"]):
            net += fill["qty"] if fill["action"] == "Buy" else -fill["qty"]
            path.append(net)
        return path

    def client_ids(self, user: str) -> list[str]:
        commands = self._call("/command/list", user=user)
        assert isinstance(commands, list)
        return [c["clOrdId"] for c in commands if c.get("clOrdId")]


class TradovateVenue:
    """The kill loop's view of the simulator: config names to the users that own the accounts."""

    reads_while_copying = True

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.es = broker.front_es()

    def leader_market(self, side: str, qty: int) -> None:
        self.broker.leader_market(self.es, side, qty)

    def net(self, who: str) -> int:
        return self.broker.net(USERS[who])

    def position_path(self, who: str) -> list[int]:
        return self.broker.position_path(USERS[who])

    def client_ids(self, who: str) -> list[str]:
        return self.broker.client_ids(USERS[who])

    def leader_fills(self) -> str:
        fills = self.broker._call("/fill/list", user="trader1")
        assert isinstance(fills, list)
        return str([(f["orderId"], f["qty"], f["action"]) for f in sorted(fills, key=lambda f: f["id"])])


def _config(path: Path, port: int) -> None:
    followers = "".join(
        f"""  - name: f{i}
    broker: tradovate
    environment: sim
    host: 127.0.0.1
    port: {port}
    username: trader{i}
    account_id: DEMO000{i}
    multiplier: {rule.multiplier}
    rounding: {rule.rounding}
    fixed_qty: {rule.fixed_qty or "null"}
    auto_correct: false
"""
        for i, rule in zip((2, 3, 4, 5), RULES.values(), strict=True)
    )
    path.write_text(
        f"""leader:
  name: {LEADER}
  broker: tradovate
  environment: sim
  host: 127.0.0.1
  port: {port}
  username: trader1
  account_id: DEMO0001
followers:
{followers}reconcile:
  interval_s: 1
"""
    )


def test_sigkill_during_bursts_never_loses_or_doubles(tmp_path) -> None:
    rng = random.Random(20261121)
    port = free_port()
    env = copytui_env(tmp_path)
    sim = subprocess.Popen([sys.executable, "-m", "copytui.cli", "sim", "tradovate", "--port", str(port),
                            "--accounts", "5", "--seed", "3"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, env=env)
    copier: Copier | None = None
    try:
        assert sim.stdout is not None
        assert "listening" in sim.stdout.readline()
        venue = TradovateVenue(Broker(port))
        cfg = tmp_path / "config.yaml"
        _config(cfg, port)
        copier = Copier(cfg, tmp_path / "journal.sqlite3", env, tmp_path / "copytui.stderr")
        leader = Leader(venue)
        kill_during_bursts(copier, leader, rng, KILLS)
        settle(copier, venue, leader, RULES)
        check_at_the_broker(venue, RULES, copier.journal)
    finally:
        if copier is not None:
            copier.close()
        if sim.poll() is None:
            sim.kill()
            sim.wait(timeout=30)
