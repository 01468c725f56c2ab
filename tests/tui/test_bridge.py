"""EngineThread: the engine on its own thread and loop; every desk call goes through it."""

from __future__ import annotations

import asyncio
import threading
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


def test_give_way_returns_at_once_while_the_engine_loop_is_idle(bridge: EngineThread) -> None:
    assert bridge.idle.wait(5)  # nothing to run: the loop blocks in its selector
    assert bridge.give_way(1.0) == 0.0
    started = threading.Event()
    release = threading.Event()

    def busy() -> None:  # the engine loop runs something long: the desk waits for it
        started.set()
        release.wait(5)

    bridge.call(busy)
    assert started.wait(5)
    threading.Timer(0.05, release.set).start()
    assert bridge.give_way(5.0) > 0  # it waited (for as long as the engine loop was busy)
    assert bridge.idle.is_set()


def test_stop_ends_the_thread_and_later_calls_say_so(tmp_path: Path) -> None:
    b = EngineThread(make_runtime(tmp_path))
    b.open()
    thread = b._thread
    b.stop()
    assert thread is not None and not thread.is_alive()
    assert b.give_way(1.0) == 0.0
    with pytest.raises(RuntimeError, match="engine thread is not running"):
        b.call(lambda: None)
    b.stop()  # a second stop does nothing
