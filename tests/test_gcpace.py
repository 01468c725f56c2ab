"""The collector runs between leader events: off while an engine runs, paced by the engine's loop."""

from __future__ import annotations

import gc
import weakref

from copytui.engine.gcpace import FULL_EVERY_S, QUIET_S, YOUNG_LIMIT, GcPacer
from tests.engine_harness import follower, running


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def cycle() -> weakref.ref[Node]:
    """A two-object cycle, already garbage: only the collector can free it."""
    a, b = Node(), Node()
    a.other, b.other = b, a
    return weakref.ref(a)


async def test_a_running_engine_turns_automatic_collection_off_and_gives_it_back(tmp_path) -> None:
    assert gc.isenabled()
    threshold = gc.get_threshold()
    async with running(tmp_path, [follower("a")]) as h:
        assert not gc.isenabled()  # nothing collects in the middle of a fan-out
        h.buy("ES", 1)
        await h.settle()
        assert h.pos("a", "ES") == 1
    assert gc.isenabled() and gc.get_threshold() == threshold


def test_tick_collects_young_garbage_and_freezes_the_survivors() -> None:
    pacer = GcPacer()
    pacer.start()
    try:
        frozen_before = gc.get_freeze_count()
        dead = cycle()
        alive = [[] for _ in range(YOUNG_LIMIT)]  # young and still in use
        assert dead() is not None  # automatic collection is off: the cycle waits for the pacer
        assert pacer.tick(quiet_for_s=0.0)
        assert dead() is None  # collected between events
        assert gc.get_freeze_count() >= frozen_before + len(alive)  # survivors are never walked again
        assert gc.get_count()[0] < YOUNG_LIMIT
        assert not pacer.tick(quiet_for_s=0.0)  # nothing due now
    finally:
        pacer.stop()


def test_a_quiet_leader_lets_a_full_collection_reclaim_frozen_cycles() -> None:
    pacer = GcPacer()
    pacer.start()
    try:
        a, b = Node(), Node()
        a.other, b.other = b, a
        ref = weakref.ref(a)
        keep = [[] for _ in range(YOUNG_LIMIT)]  # make a young collection due
        assert pacer.tick(quiet_for_s=0.0)  # the cycle is alive: it survives and is frozen
        del a, b, keep  # now it is garbage, but frozen
        pacer._last_full -= FULL_EVERY_S
        assert not pacer.tick(quiet_for_s=1.0)  # the leader is active: no full collection
        assert ref() is not None
        assert pacer.tick(quiet_for_s=QUIET_S)  # quiet long enough
        assert ref() is None and pacer.full_collections == 1
    finally:
        pacer.stop()
