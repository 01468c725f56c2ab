"""EngineThread: the engine on its own thread and loop; every desk call goes through it."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from pathlib import Path

import pytest

from copytui.tui.bridge import EngineThread
from tests.tui.conftest import make_runtime


@pytest.fixture
def bridge(tmp_path: Path):  # type: ignore[no-untyped-def]
    b = EngineThread(make_runtime(tmp_path))
    b.open()
    yield b
    b.stop()


def test_calls_run_on_the_engine_thread_and_hand_back_results_and_errors(bridge: EngineThread) -> None:
    assert bridge.call(lambda: threading.current_thread().name).result(timeout=5) == "copytui-engine"
    with pytest.raises(KeyError, match="no follower named 'nobody'"):
        bridge.call(bridge.engine.pause, "nobody").result(timeout=5)

    async def where(x: int) -> tuple[str, int]:
        await asyncio.sleep(0)
        return threading.current_thread().name, x + 1

    assert bridge.run(where, 1).result(timeout=5) == ("copytui-engine", 2)
    snap = bridge.snapshot().result(timeout=5)
    assert bridge.latest is snap and [v.name for v in snap.followers][:2] == ["alpha", "bravo"]


def test_snapshots_are_published_when_the_engine_moves(bridge: EngineThread) -> None:
    first = bridge.snapshot().result(timeout=5)
    bridge.call(bridge.engine.pause, "alpha").result(timeout=5)  # an operator action: the version moves
    done = threading.Event()

    def published() -> None:
        while bridge.latest is first:
            bridge.idle.wait(0.05)
        done.set()

    watcher = threading.Thread(target=published, daemon=True)
    watcher.start()
    assert done.wait(10), "no snapshot was published after the engine moved"
    latest = bridge.latest
    assert latest is not None and latest.version > first.version
    assert next(v for v in latest.followers if v.name == "alpha").copy_state == "paused"


def _desk_work_during(bridge: EngineThread, engine_busy_s: float) -> tuple[int, int]:
    """Run Python calls on this (the desk's) thread while the engine loop spins for ``engine_busy_s``:
    (calls made while the engine was busy, calls made in all)."""
    started = threading.Event()
    window: list[float] = []

    def spin() -> None:  # the engine loop runs something long, holding the GIL as a fan-out does
        window.append(time.perf_counter())
        started.set()
        end = time.perf_counter() + engine_busy_s
        while time.perf_counter() < end:
            pass
        window.append(time.perf_counter())

    def step() -> float:
        return time.perf_counter()

    bridge.call(spin)
    assert started.wait(5)
    stamps = [step() for _ in range(20_000)]  # each step() is a Python call: the hook looks at the engine
    assert bridge.idle.wait(5)
    busy_from, busy_to = window
    return sum(busy_from < t < busy_to for t in stamps), len(stamps)


def test_the_desk_thread_waits_while_the_engine_loop_has_work(bridge: EngineThread) -> None:
    assert bridge.engine_first.installed  # open() hooked this thread, the desk's
    assert bridge.idle.wait(5)  # nothing to run: the loop blocks in its selector
    during, total = _desk_work_during(bridge, 0.03)
    # without the hook the interpreter is handed back every switch interval and thousands of the
    # desk's calls land inside the engine's busy spell; with it the desk waits until the loop is idle
    assert during <= 1, f"{during} of {total} desk calls ran while the engine loop was busy"
    assert bridge.engine_first.waited_s > 0


def test_a_long_engine_burst_slows_the_desk_but_never_freezes_it(bridge: EngineThread) -> None:
    assert bridge.idle.wait(5)
    during, _ = _desk_work_during(bridge, 0.5)  # longer than the hook's budget of 50 ms per 100 ms
    assert during > 0, "the desk made no progress during a long engine burst"


def test_without_the_hook_the_desk_shares_the_interpreter(bridge: EngineThread) -> None:
    """The control for the two tests above: unhooked, the desk runs right through an engine spell."""
    bridge.engine_first.remove()
    assert not bridge.engine_first.installed and sys.gettrace() is None
    assert bridge.idle.wait(5)
    during, total = _desk_work_during(bridge, 0.03)
    assert during > 1


def test_stop_ends_the_thread_and_later_calls_say_so(tmp_path: Path) -> None:
    b = EngineThread(make_runtime(tmp_path))
    b.open()
    thread = b._thread
    b.stop()
    assert thread is not None and not thread.is_alive()
    assert sys.gettrace() is None  # the desk's thread is unhooked
    with pytest.raises(RuntimeError, match="engine thread is not running"):
        b.call(lambda: None)
    b.stop()  # a second stop does nothing
