"""kill -9 runs of `copytui run --headless` against a broker simulator in its own process, shared by
tests/test_crash_recovery.py (Tradovate) and tests/test_crash_recovery_brokers.py (the others).

A test supplies a :class:`Venue`: how the leader trades on its broker and what the broker itself
says about each account afterwards. This module holds the rest: the loop of bursts and SIGKILLs
(some during start-up and the catch-up of missed fills), the last restart that must settle, and
the checks made at the broker: every follower at exactly rule(leader position), no client order id
that reached the broker twice, each follower's fills following the leader's in order.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import IO, Any, Protocol, TypeVar

import yaml
from keyring.backend import KeyringBackend
from keyring.compat import properties
from keyring.errors import PasswordDeleteError, PasswordSetError

from copytui.engine.sizing import SizingRule

REPO = Path(__file__).resolve().parent.parent
LEADER = "lead"
FOLLOWER_RULES = (SizingRule(multiplier=1), SizingRule(multiplier=0.5), SizingRule(multiplier=3, rounding="down"),
                  SizingRule(fixed_qty=2))  # fmt: skip
"""The paper rules every kill run copies with: x1, x0.5, x3 rounded down, a fixed 2."""
KEYRING_FILE_ENV = "COPYTUI_KILL_KEYRING"
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Venue(Protocol):
    """One broker as the kill loop sees it. ``who`` is ``LEADER`` or a follower's config name."""

    reads_while_copying: bool
    """False when the broker can only be read while copytui is down (MetaTrader's terminals dial
    one bridge port; a FIX session per SenderCompID): the last settle then waits on copytui's
    journal and reads the broker once copytui stopped."""

    def leader_market(self, side: str, qty: int) -> None:
        """A market order on the leader's account, as the trader's own platform would send it."""

    def net(self, who: str) -> int: ...

    def position_path(self, who: str) -> list[int]:
        """The account's net position after each of its fills, in the broker's order (0 first)."""

    def client_ids(self, who: str) -> list[str]:
        """Every client order id of an order request the broker received for the account."""

    def leader_fills(self) -> str:
        """The leader's fills at the broker, for the message of a failed settle."""


class SimKeyring(KeyringBackend):
    """The OS keyring of a `copytui run` under test, holding the simulators' demo secrets (the
    ones each simulator prints when it starts; never a real one). ``PYTHON_KEYRING_BACKEND`` names
    it in the child's environment only; elsewhere it is not viable, so nothing else ever picks it."""

    @properties.classproperty
    def priority(cls) -> float:
        if not os.environ.get(KEYRING_FILE_ENV):
            raise RuntimeError(f"only for the kill tests (${KEYRING_FILE_ENV})")
        return 1.0

    def get_password(self, service: str, username: str) -> str | None:
        entries = json.loads(Path(os.environ[KEYRING_FILE_ENV]).read_text())
        value = entries.get(username) if service == "copytui" else None
        return value if isinstance(value, str) else None

    def set_password(self, service: str, username: str, password: str) -> None:
        raise PasswordSetError("the kill tests' keyring is read-only")

    def delete_password(self, service: str, username: str) -> None:
        raise PasswordDeleteError("the kill tests' keyring is read-only")


def copytui_env(tmp_path: Path, secrets: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of every process a kill test starts: its own data and config folders, and a
    keyring that holds ``secrets`` (keyring entry -> value), or none at all."""
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path / "cfg"),
           "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}  # fmt: skip
    if secrets is not None:
        store = tmp_path / "keyring.json"
        store.touch(mode=0o600)
        store.write_text(json.dumps(secrets))
        path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
        env |= {"PYTHON_KEYRING_BACKEND": f"{__name__}.SimKeyring", KEYRING_FILE_ENV: str(store), "PYTHONPATH": path}
    return env


class Lines:
    """A child's output read on a thread of its own, so that a full pipe never stalls it."""

    def __init__(self, stream: IO[str], keep: int = 400) -> None:
        self.lines: collections.deque[str] = collections.deque(maxlen=keep)
        self.thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self.thread.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.append(line)

    def text(self, *, wait: bool = True) -> str:
        """What was read; with ``wait``, once the child closed its output."""
        if wait:
            self.thread.join(timeout=30)
        return "".join(self.lines)


def write_config(path: Path, accounts: dict[str, dict[str, Any]], rules: dict[str, SizingRule]) -> None:
    """copytui's config: ``accounts[LEADER]`` copied to each account named in ``rules``, by its rule."""
    followers = [
        {"name": name, **accounts[name], "multiplier": rule.multiplier, "rounding": rule.rounding,
         "fixed_qty": rule.fixed_qty, "auto_correct": False}
        for name, rule in rules.items()
    ]  # fmt: skip
    leader = {"name": LEADER, **accounts[LEADER]}
    path.write_text(yaml.safe_dump({"leader": leader, "followers": followers, "reconcile": {"interval_s": 1}}))


def start_sim(broker: str, args: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    """`copytui sim BROKER ARGS` in its own process, and what it printed until it was ready."""
    command = [sys.executable, "-m", "copytui.cli", "sim", broker, *args]
    sim = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    assert sim.stdout is not None
    out = Lines(sim.stdout)
    deadline = time.monotonic() + 30
    while "Ctrl-C to stop" not in out.text(wait=False):
        assert sim.poll() is None and time.monotonic() < deadline, out.text(wait=False)
        time.sleep(0.05)
    return sim, out.text(wait=False)


def audited(audit: Path, account: str, actions: tuple[str, ...]) -> list[dict[str, Any]]:
    """The order requests a simulator's ``--audit`` file holds for ``account``, in arrival order."""
    rows = [json.loads(line) for line in audit.read_text().splitlines()]
    return [r for r in rows if r["account"] == account and r["action"] in actions]


def accepted_path(rows: list[dict[str, Any]], signed_qty: Callable[[dict[str, Any]], int]) -> list[int]:
    """The position path of audited market orders the broker accepted, for a broker that keeps no
    fill history: with no fault switched on, each filled whole when it was accepted."""
    path = [0]
    for row in rows:
        if row["outcome"] == "accepted":
            path.append(path[-1] + signed_qty(row["request"]))
    return path


class LoopThread:
    """An asyncio loop on a thread, for the test's own adapters and stand-ins: they stay connected
    while the test's body, plain blocking code, starts and kills processes."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        # not a daemon, nor are the threads it starts (quickfix stops in one): the interpreter waits
        # for them at exit instead of cutting them off inside quickfix, which aborts the process
        self.thread = threading.Thread(target=self.loop.run_forever, name="kill-test-loop", daemon=False)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.run(self.loop.shutdown_default_executor())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=30)
        self.loop.close()


class Leader:
    """The leader's trades as the test made them, and the position they add up to."""

    def __init__(self, venue: Venue) -> None:
        self.venue = venue
        self.position = 0

    def trade(self, side: str, qty: int) -> None:
        self.venue.leader_market(side, qty)
        self.position += qty if side == "Buy" else -qty

    def toward_flat(self, qty: int = 1) -> None:
        self.trade("Sell" if self.position > 0 else "Buy", qty)


class Copier:
    """`copytui run --headless` on one journal: started, killed and started again."""

    def __init__(self, config: Path, journal: Path, env: dict[str, str], stderr: Path) -> None:
        self.run = [sys.executable, "-m", "copytui.cli", "run", "--headless", "--config", str(config), "--journal",
                    str(journal)]  # fmt: skip
        self.journal, self.env, self.stderr_path = journal, env, stderr
        self.errors = stderr.open("a")
        self.proc: subprocess.Popen[str] | None = None
        self.out: Lines | None = None

    def start(
        self, leader: Leader | None = None, trades_while_starting: int = 0, rng: random.Random | None = None
    ) -> None:
        """Start and wait until the engine is up (recovery done); the leader may trade meanwhile."""
        self.proc = subprocess.Popen(self.run, stdout=subprocess.PIPE, stderr=self.errors, text=True, env=self.env)
        assert self.proc.stdout is not None
        for _ in range(trades_while_starting):  # the leader keeps trading while copytui catches up
            assert leader is not None and rng is not None
            time.sleep(rng.uniform(0.1, 0.4))
            leader.trade("Sell" if leader.position > 0 else "Buy", 2)
        line = self.proc.stdout.readline()  # printed once the engine is up
        assert line.startswith("copytui: copying leader"), line + self.stderr_path.read_text()[-2000:]
        self.out = Lines(self.proc.stdout)

    def start_and_kill_early(self, leader: Leader, rng: random.Random) -> None:
        """Die while starting: in recovery, or in the catch-up of a fill the leader just made."""
        early = subprocess.Popen(self.run, stdout=subprocess.DEVNULL, stderr=self.errors, text=True, env=self.env)
        leader.toward_flat(1)  # missed, or live at start
        time.sleep(rng.uniform(0.05, 0.8))
        early.kill()
        early.wait(timeout=30)

    def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.proc = None

    def stop(self) -> str:
        """SIGTERM: copytui finishes its orders in flight and stops; its output."""
        assert self.proc is not None and self.out is not None
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)
        self.proc = None
        return self.out.text()

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        self.errors.close()


def kill_during_bursts(
    copier: Copier, leader: Leader, rng: random.Random, kills: int, more_until_recovered: int = 0
) -> None:
    """SIGKILL copytui ``kills`` times: in the fan-out of a burst of leader trades or just after it,
    a quarter of the restarts also killed while starting; the leader trades while copytui is
    down and while it starts. Up to ``more_until_recovered`` more kills while no restart has yet
    found an order the kill left unresolved (a short run's kills may all miss the fan-out)."""
    kill = 0
    while kill < kills or (kill < kills + more_until_recovered and not recovered(copier.journal)):
        if kill % 4 == 1:
            copier.start_and_kill_early(leader, rng)
        copier.start(leader, 3 if kill % 3 == 2 else 0, rng)  # the first start has no cursor yet
        for _ in range(rng.randint(2, 5)):  # a burst of leader trades
            if abs(leader.position) < 6:
                leader.trade(rng.choice(["Buy", "Sell"]), rng.randint(1, 3))
            else:
                leader.toward_flat(rng.randint(1, 3))
            time.sleep(rng.uniform(0, 0.03))
        time.sleep(rng.choice([0, 0, 0.002, 0.005, 0.02, 0.1]))  # die in the fan-out, or after it
        copier.kill()
        if kill % 5 == 4:  # the leader trades while copytui is down too
            leader.toward_flat(1)
        kill += 1


def recovered(journal: Path) -> list[str]:
    """What restarts found unresolved and asked the broker about (``operator_actions``)."""
    db = sqlite3.connect(journal)
    try:
        return [d for (d,) in db.execute("SELECT detail FROM operator_actions WHERE action = 'recovered'")]
    finally:
        db.close()


def journaled_positions(journal: Path) -> dict[str, int]:
    """Each follower's position as copytui's journal has it, its orders still on their way counted
    whole: when this reaches the targets copytui has sent everything (a wait's hint, never the truth)."""
    db = sqlite3.connect(journal)
    try:
        held = "CASE WHEN status IN ('filled', 'rejected', 'cancelled', 'skipped') THEN filled_qty ELSE qty END"
        sql = f"SELECT follower, SUM(CASE side WHEN 'buy' THEN {held} ELSE -{held} END) FROM intents GROUP BY 1"
        return {name: int(net or 0) for name, net in db.execute(sql)}
    finally:
        db.close()


def settle(copier: Copier, venue: Venue, leader: Leader, rules: dict[str, SizingRule], timeout_s: float = 60) -> None:
    """The last restart: recovery, gap recovery, then every follower at exactly its rule applied to
    the leader's position, read at the broker."""
    assert venue.net(LEADER) == leader.position
    copier.start()
    want = {name: rule.target(leader.position) for name, rule in rules.items()}
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if venue.reads_while_copying:
            got = {name: venue.net(name) for name in rules}
        else:
            held = journaled_positions(copier.journal)
            got = {name: held.get(name, 0) for name in rules}
        if got == want:
            break
        time.sleep(0.5)
    out = copier.stop()
    if not venue.reads_while_copying:
        got = {name: venue.net(name) for name in rules}
    if got != want:  # say which leader fill copytui has not seen
        db = sqlite3.connect(copier.journal)
        sql = "SELECT leader_order_id, cum_qty FROM signals WHERE kind='fill' ORDER BY rowid"
        seen = list(db.execute(sql))
        db.close()
        raise AssertionError(
            f"leader {leader.position}: followers {got}, expected {want}\nleader fills at the broker: "
            f"{venue.leader_fills()}\njournaled: {seen}\n{out[-2000:]}"
        )


def check_at_the_broker(venue: Venue, rules: dict[str, SizingRule], journal: Path) -> None:
    """No client order id reached the broker twice; each follower's fills follow the leader's in
    order; and the kills really landed mid-flight: restarts had orders to resolve with the broker."""
    for name in rules:
        repeated = [c for c, n in collections.Counter(venue.client_ids(name)).items() if n > 1]
        assert repeated == [], f"{name}: client order ids sent twice: {repeated}"
    # time order: each follower's positions, fill by fill, are the leader's positions through its
    # rule, visited in the leader's order (a fill may cover several of the leader's, never undo one)
    leader_path = venue.position_path(LEADER)
    for name, rule in rules.items():
        allowed = [rule.target(p) for p in leader_path]
        path = venue.position_path(name)
        j = 0
        for step, pos in enumerate(path):
            while j < len(allowed) and allowed[j] != pos:
                j += 1
            assert j < len(allowed), (
                f"{name} held {pos} at its fill {step}, a position the leader's fills do not "
                f"lead to in order: follower {path}, leader through the rule {allowed}"
            )
    assert recovered(journal), "no kill point left an order unresolved: the test did not test recovery"
