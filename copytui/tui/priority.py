"""The copy path goes first: the desk's thread steps aside whenever the engine's loop has work.

The engine runs on a thread of its own, but both threads share the GIL: left alone, CPython hands
the interpreter back and forth every switch interval, so a fan-out that meets a frame being drawn
is cut into slices with the desk's work between them. ``EngineFirst`` is a trace hook on the desk's
thread (``sys.settrace``, 'call' events only: no line tracing). At every Python function the desk
enters it reads one flag; while the engine's loop is busy it waits on the loop's idle event, which
gives up the GIL, so the copy path runs with the interpreter to itself until its loop has nothing
left to run. The desk needs nothing else to be polite: no drawing code has to remember to yield.

A budget keeps a long burst of copying from freezing the desk: the desk waits at most
``BUDGET_S`` in every ``WINDOW_S``; past that it draws on, sharing the interpreter, until the next
window. What is left is the time the engine waits for the GIL when it wakes while the desk holds
it, bounded by the switch interval (``bridge.SWITCH_INTERVAL_S``).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from types import FrameType
from typing import Any

log = logging.getLogger("copytui.tui")

BUDGET_S = 0.05  # of every WINDOW_S, the longest the desk waits for a busy engine
WINDOW_S = 0.1


class Idle:
    """The engine loop's idle state: a plain flag for the desk's per-call look, an event to wait on."""

    __slots__ = ("now", "event")

    def __init__(self) -> None:
        self.now = False
        self.event = threading.Event()

    def set(self) -> None:
        self.now = True
        self.event.set()

    def clear(self) -> None:
        self.now = False
        self.event.clear()

    def is_set(self) -> bool:
        return self.now

    def wait(self, timeout: float | None = None) -> bool:
        return self.event.wait(timeout)


class EngineFirst:
    """A trace hook that makes the thread it is installed on wait while the engine's loop is busy."""

    def __init__(self, idle: Idle, *, budget_s: float = BUDGET_S, window_s: float = WINDOW_S) -> None:
        self.idle = idle
        self.budget_s = budget_s
        self.window_s = window_s
        self.waited_s = 0.0  # in all, for the curious (tests, the bench)
        self.thread_id: int | None = None
        self._left = 0.0
        self._window_end = 0.0
        self._off = True

    @property
    def installed(self) -> bool:
        return not self._off

    def install(self) -> bool:
        """Hook the calling thread. A thread already traced (a debugger, coverage) is left alone: False."""
        if sys.gettrace() is not None:
            log.warning("a tracer is active on the desk's thread: the desk will not step aside for the engine")
            return False
        self.thread_id = threading.get_ident()
        self._off = False
        sys.settrace(self._hook)
        return True

    def remove(self) -> None:
        """Unhook: at once when called on the hooked thread, else at its next function call."""
        self._off = True
        if threading.get_ident() == self.thread_id and sys.gettrace() == self._hook:
            sys.settrace(None)

    def _hook(self, frame: FrameType, event: str, arg: Any) -> None:
        if self._off:
            sys.settrace(None)  # removed from another thread: unhook this one now
            return None
        if self.idle.now:
            return None
        now = time.perf_counter()
        if now >= self._window_end:
            self._window_end = now + self.window_s
            self._left = self.budget_s
        if self._left > 0:
            self.idle.event.wait(self._left)  # without the GIL, until the engine's loop is idle
            waited = time.perf_counter() - now
            self._left -= waited
            self.waited_s += waited
        return None
