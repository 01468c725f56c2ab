"""Follower groups and the control socket: `copytui ctl` in another terminal pauses, resumes and
flattens a follower, a @group or all of a running copytui; the desk's `g` does the same. What the
broker (the paper exchange) ends up holding is what is checked."""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from copytui.config import ConfigError, parse_config
from copytui.control import ask, control_path
from copytui.engine import CopyState
from copytui.models import OrderType, Side
from copytui.runtime import Runtime, build_runtime
from copytui.tui.app import CopyDeskApp
from copytui.tui.groups import GroupScreen
from copytui.tui.modals import ConfirmScreen

CONFIG = """
leader: {name: lead, broker: paper}
followers:
  - {name: alpha, broker: paper, groups: [apex]}
  - {name: bravo, broker: paper, groups: [apex, eval]}
  - {name: charlie, broker: paper}
reconcile: {interval_s: 3600}
"""


@asynccontextmanager
async def running(tmp_path: Path) -> AsyncIterator[Runtime]:
    rt = build_runtime(parse_config(CONFIG), seed=3, journal_path=tmp_path / "journal.sqlite3")
    rt.walk = False
    await rt.start()
    try:
        yield rt
    finally:
        await rt.stop(flatten_leader=False)


async def command(rt: Runtime, **request: object) -> dict:
    return await asyncio.to_thread(ask, control_path(rt.journal.path), dict(request))


def held(rt: Runtime, account: str) -> dict[str, int]:
    return {p.symbol: p.qty for p in rt.exchange.position_list(account) if p.qty}


async def settled(rt: Runtime, signals: int | None = None) -> None:
    """Every follower order answered, after the engine journaled ``signals`` signals (if given)."""
    deadline = time.monotonic() + 10
    while signals is not None and rt.engine.signals < signals and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    assert await rt.engine.drain()


async def test_a_group_is_paused_resumed_and_flattened_over_the_socket(tmp_path: Path) -> None:
    async with running(tmp_path) as rt:
        path = control_path(rt.journal.path)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600  # only the user running copytui commands it
        rt.exchange.submit("lead", symbol="ES", side=Side.BUY, qty=2, order_type=OrderType.MARKET)
        await settled(rt, 1)
        assert held(rt, "alpha") == held(rt, "bravo") == held(rt, "charlie") == {"ES": 2}

        answer = await command(rt, cmd="pause", target="@apex")
        assert answer["ok"] and answer["message"] == "paused group @apex (alpha, bravo)"
        states = {n: f.state.copy_state for n, f in rt.engine.followers.items()}
        assert states == {"alpha": CopyState.PAUSED, "bravo": CopyState.PAUSED, "charlie": CopyState.COPYING}
        rt.exchange.submit("lead", symbol="ES", side=Side.BUY, qty=1, order_type=OrderType.MARKET)
        await settled(rt, 2)
        assert held(rt, "alpha") == {"ES": 2} and held(rt, "charlie") == {"ES": 3}  # paused: not copied

        answer = await command(rt, cmd="resume", target="alpha", sync=True)
        assert answer["message"] == "resumed alpha: synced to the leader"
        await settled(rt)
        assert held(rt, "alpha") == {"ES": 3} and held(rt, "bravo") == {"ES": 2}

        answer = await command(rt, cmd="flatten", target="@eval")
        assert answer["ok"] and "bravo" in answer["message"]
        await settled(rt)
        assert held(rt, "bravo") == {} and held(rt, "alpha") == {"ES": 3}
        status = {f["name"]: f for f in (await command(rt, cmd="status"))["followers"]}
        assert status["bravo"]["copy"] == "paused" and status["bravo"]["groups"] == ["apex", "eval"]
        assert status["alpha"]["positions"] == {"ES": 3}


async def test_bad_commands_are_answered_with_what_to_do(tmp_path: Path) -> None:
    async with running(tmp_path) as rt:
        nope = await command(rt, cmd="pause", target="@nope")
        assert not nope["ok"] and nope["error"] == "no group '@nope'; groups: @apex, @eval"
        who = await command(rt, cmd="flatten", target="zulu")
        assert not who["ok"] and "no follower 'zulu'; followers: alpha, bravo, charlie" in who["error"]
        what = await command(rt, cmd="sell-everything")
        assert not what["ok"] and "commands: status, pause, resume, flatten, reconcile" in what["error"]

        def raw(line: bytes) -> bytes:
            import socket

            with socket.socket(socket.AF_UNIX) as s:
                s.connect(str(control_path(rt.journal.path)))
                s.sendall(line)
                return s.makefile("rb").readline()

        assert b"one JSON object per line" in await asyncio.to_thread(raw, b"pause everyone\n")
        assert all(f.state.copy_state is CopyState.COPYING for f in rt.engine.followers.values())  # nothing changed
    assert not control_path(tmp_path / "journal.sqlite3").exists()  # gone with the copytui that made it


def test_group_names_are_checked_in_the_config() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config("leader: {name: l}\nfollowers:\n  - {name: a, groups: ['two words']}\n")
    assert "group 'two words': use letters, digits" in str(err.value)


def test_ctl_commands_a_running_headless_copytui(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG + f"journal: {tmp_path / 'j.sqlite3'}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("XDG_")} | {"HOME": str(tmp_path / "home")}
    copytui = [sys.executable, "-m", "copytui.cli"]
    run = subprocess.Popen(
        [*copytui, "run", "--headless", "--config", str(config), "--duration", "60"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert run.stdout is not None and "copying" in run.stdout.readline()
        deadline = time.monotonic() + 30
        while not control_path(tmp_path / "j.sqlite3").exists() and time.monotonic() < deadline:
            time.sleep(0.05)

        def ctl(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [*copytui, "ctl", *args, "--config", str(config)],
                capture_output=True, text=True, env=env, timeout=60, stdin=subprocess.DEVNULL,
            )  # fmt: skip

        paused = ctl("pause", "@apex")
        assert paused.returncode == 0, paused.stderr
        assert paused.stdout.startswith("paused group @apex (alpha, bravo)")
        assert "charlie      copying" in paused.stdout
        refused = ctl("flatten", "all")  # no terminal to ask in, no --yes
        assert refused.returncode == 2 and "pass --yes" in refused.stderr
        flat = ctl("flatten", "all", "--yes")
        assert flat.returncode == 0 and "all 3 followers flat and paused" in flat.stdout
        missing = subprocess.run(
            [*copytui, "ctl", "status", "--journal", str(tmp_path / "other.sqlite3")],
            capture_output=True, text=True, env=env, timeout=60,
        )  # fmt: skip
        assert missing.returncode == 2 and "no copytui is running on that journal" in missing.stderr
    finally:
        run.terminate()
        run.communicate(timeout=60)


async def test_desk_g_pauses_and_flattens_a_group(tmp_path: Path) -> None:
    rt = build_runtime(parse_config(CONFIG), seed=3, journal_path=tmp_path / "journal.sqlite3")
    rt.walk = False
    app = CopyDeskApp(rt, state_file=tmp_path / "state.json")
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            while not app._running:
                await pilot.pause(0.02)
            app.bridge.call(lambda: rt.exchange.submit("lead", symbol="NQ", side=Side.SELL, qty=1)).result(10)
            for _ in range(300):
                if app.bridge.call(lambda: held(rt, "charlie")).result(10):
                    break
                await pilot.pause(0.02)
            await app.bridge.ask_async(rt.engine.drain)
            await pilot.press("g")
            assert isinstance(app.screen, GroupScreen)
            await pilot.press("p")  # the first row: @apex
            for _ in range(200):
                if rt.engine.followers["bravo"].state.copy_state is CopyState.PAUSED:
                    break
                await pilot.pause(0.02)
            assert rt.engine.followers["alpha"].state.copy_state is CopyState.PAUSED
            assert rt.engine.followers["charlie"].state.copy_state is CopyState.COPYING
            await pilot.press("g", "down", "f")  # @eval: asks first
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("y")
            for _ in range(300):
                if not held(rt, "bravo"):
                    break
                await pilot.pause(0.02)
            assert held(rt, "bravo") == {} and held(rt, "alpha") == {"NQ": -1} and held(rt, "charlie") == {"NQ": -1}
    finally:
        await app.stop_runtime()
