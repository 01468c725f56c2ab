"""EngineThread: the engine on a thread and event loop of its own, and the desk's only door to it.

Textual renders on the main thread; the copy path runs on this thread's loop, so a slow frame
never sits between a leader event and the follower orders. Every touch of engine state from
the desk goes through ``call`` (a plain engine method, run on the engine loop) or ``run`` (a
coroutine function, likewise); the desk never reads the engine's deques and dicts itself.

Both threads share the GIL, so the desk steps aside: the engine loop's selector keeps ``idle``
(set exactly while the loop blocks with nothing to run), and ``open`` hooks the desk's thread with
``priority.EngineFirst``, which makes it wait, without the GIL, while the engine loop has work. A
leader event, the journal commit, the order fan-out: all run with the interpreter to themselves,
save the moment the engine waits for the GIL when it wakes while the desk holds it
(``SWITCH_INTERVAL_S``, instead of Python's 5 ms, bounds that).

Snapshots are published, not fetched. ``engine.snapshot()`` costs a millisecond or two, so it is
taken at the one moment that delays no copy: when the engine loop is about to block with nothing
to run (from the selector), once a tick at most ``publish_hz`` times a second found
``engine.version`` moved (or every ``FULL_EVERY`` ticks, for P&L and connection states), and not
within ``COPY_WINDOW_S`` of an engine event (an engine listener, which only records a time). The
desk reads ``latest`` (one attribute, swapped whole) on its own timer.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import selectors
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from adapters.kit.tasks import TaskGroup
from copytui.engine import EngineEvent, EngineSnapshot
from copytui.runtime import Runtime
from copytui.tui.priority import EngineFirst, Idle

log = logging.getLogger("copytui.tui")

T = TypeVar("T")

SWITCH_INTERVAL_S = 0.0002  # measured with `copytui bench --only desk --followers 20`
PUBLISH_HZ = 10
FULL_EVERY = 10  # publish ticks: P&L and connection states move without an engine event
COPY_WINDOW_S = 0.003  # after an engine event (signal, order sent, fill): a fan-out may be in flight
OVERDUE_S = 0.5  # a snapshot due this long is taken at the next idle moment, copying or not


class IdleSignallingSelector(selectors.DefaultSelector):  # type: ignore[misc, valid-type]
    """The engine loop's selector: ``idle`` is set exactly while the loop blocks with nothing to run,
    and ``before_idle`` runs just before it blocks (when it does work, the loop looks round again)."""

    def __init__(self, idle: Idle, before_idle: Callable[[], bool]) -> None:
        super().__init__()
        self.idle = idle
        self.before_idle = before_idle

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is not None and timeout <= 0:  # callbacks are ready: the loop is busy
            return super().select(timeout)  # type: ignore[no-any-return]
        if self.before_idle():
            return []  # time passed: let the loop run what fell due, then come back here
        self.idle.set()
        try:
            return super().select(timeout)  # type: ignore[no-any-return]
        finally:
            self.idle.clear()


class EngineThread:
    def __init__(self, runtime: Runtime, *, publish_hz: float = PUBLISH_HZ) -> None:
        self.runtime = runtime
        self.engine = runtime.engine
        self.publish_hz = publish_hz
        self.latest: EngineSnapshot | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.tasks = TaskGroup()
        self.idle = Idle()  # set by the engine loop's selector while it has nothing to run
        self.engine_first = EngineFirst(self.idle)  # hooked on the thread that opens the bridge (the desk's)
        self.busy_until = 0.0  # perf_counter() seconds; written by the engine thread only
        self._due_since: float | None = None  # a snapshot is due (engine thread only)
        self._published_version = -1
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._closed = False
        self._switch_before: float | None = None

    # ------------------------------------------------------------ priority
    def _on_engine_event(self, _event: EngineEvent) -> None:
        """An engine listener, on the copy path: it only records a time."""
        self.busy_until = time.perf_counter() + COPY_WINDOW_S

    def copying(self) -> bool:
        """True shortly after an engine event: an order fan-out may be in flight."""
        return time.perf_counter() < self.busy_until

    # ------------------------------------------------------------ thread
    def open(self) -> None:
        """Start the thread and its loop (the runtime is started by ``start``), and make the calling
        thread (the desk's) step aside whenever the engine's loop has work. Idempotent."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._main, name="copytui-engine", daemon=True)
        self._thread.start()
        self._ready.wait()
        self._switch_before = sys.getswitchinterval()
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        self.call(self._attach).result()
        self.engine_first.install()

    def _main(self) -> None:
        loop = asyncio.SelectorEventLoop(IdleSignallingSelector(self.idle, self._publish_if_due))
        asyncio.set_event_loop(loop)
        self.loop = loop
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            try:
                pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
                for t in pending:
                    t.cancel()
                if pending:
                    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()

    def call(self, fn: Callable[..., T], *args: Any) -> concurrent.futures.Future[T]:
        """Run the plain function ``fn(*args)`` on the engine loop; its result (or error) in a future."""
        fut: concurrent.futures.Future[T] = concurrent.futures.Future()

        def invoke() -> None:
            if not fut.set_running_or_notify_cancel():
                return
            try:
                fut.set_result(fn(*args))
            except BaseException as exc:  # handed to the caller, who decides
                fut.set_exception(exc)

        self._loop().call_soon_threadsafe(invoke)
        return fut

    def run(self, coro_fn: Callable[..., Awaitable[T]], *args: Any) -> concurrent.futures.Future[T]:
        """Run the coroutine ``coro_fn(*args)`` on the engine loop; its result (or error) in a future."""

        async def invoke() -> T:
            return await coro_fn(*args)

        return asyncio.run_coroutine_threadsafe(invoke(), self._loop())

    async def ask(self, fn: Callable[..., T], *args: Any) -> T:
        """``call`` awaited from another event loop (the desk's)."""
        return await asyncio.wrap_future(self.call(fn, *args))

    async def ask_async(self, coro_fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """``run`` awaited from another event loop (the desk's)."""
        return await asyncio.wrap_future(self.run(coro_fn, *args))

    def _loop(self) -> asyncio.AbstractEventLoop:
        loop = self.loop
        if loop is None or self._closed or loop.is_closed():
            raise RuntimeError("the engine thread is not running")
        return loop

    # ------------------------------------------------------------ runtime
    def start(self) -> concurrent.futures.Future[None]:
        """Start the runtime on the engine thread (once; a started one is left as it is)."""
        self.open()
        return self.run(self._start)

    async def _start(self) -> None:
        if not self.engine.started:
            await self.runtime.start()

    def stop(self, *, stop_runtime: bool = True) -> None:
        """Stop the runtime on its own loop (if it was started), then the loop, then the thread.

        Blocking: call it from a thread of its own (``asyncio.to_thread``) or outside any loop."""
        if self._thread is None or self._closed:
            return
        try:
            if stop_runtime:
                self.run(self._stop).result()
        finally:
            self.call(lambda: None).result()  # nothing queued before this is left unrun
            self.run(self.tasks.cancel_all).result()
            assert self.loop is not None
            self._closed = True
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join()
            self.engine_first.remove()
            self.idle.set()  # nothing to wait for any more
            if self._switch_before is not None:
                sys.setswitchinterval(self._switch_before)

    async def _stop(self) -> None:
        if self.engine.started:
            await self.runtime.stop()
        else:
            self.runtime.journal.close()

    # ------------------------------------------------------------ snapshots
    def _attach(self) -> None:
        self.engine.add_listener(self._on_engine_event)
        self.tasks.spawn(self._tick(), "desk-snapshots")

    async def _tick(self) -> None:
        """Mark a snapshot due when the engine moved (or now and then regardless)."""
        ticks = 0
        while True:
            await asyncio.sleep(1 / self.publish_hz)
            ticks += 1
            if self._due_since is None and (self.engine.version != self._published_version or ticks >= FULL_EVERY):
                self._due_since = time.perf_counter()
                ticks = 0

    def _publish_if_due(self) -> bool:
        """From the selector, the engine loop about to block: take a due snapshot. True when taken."""
        due = self._due_since
        if due is None or self._closed:
            return False
        if self.copying() and time.perf_counter() - due < OVERDUE_S:
            return False
        try:
            self._take()
        except Exception:  # a desk bug must not stop the engine's loop: log it, try again next tick
            self._due_since = None
            log.exception("desk snapshot failed")
        return True

    def _take(self) -> EngineSnapshot:
        snap = self.engine.snapshot()
        self._published_version = snap.version
        self._due_since = None
        self.latest = snap
        return snap

    def snapshot(self) -> concurrent.futures.Future[EngineSnapshot]:
        """A snapshot taken now (after an operator action), published as ``latest`` too."""
        return self.call(self._take)
