"""Supervised background tasks: named, held, and their failures logged (never a naked create_task).

``spawn_eager`` starts a task *now*: its coroutine runs, inside the caller's call, up to its first
real wait (an order written to its socket, then waiting for the answer), and only the rest is left
to the event loop. The engine starts each follower's order this way, so a leader fill's orders are
all written in one pass, before the loop turns to anything else (the answers of the first
followers, say). Python 3.12 does this itself (``Task(..., eager_start=True)``); on 3.11 the same
is done here by hand: the new task is made the loop's current task for that first step (so
``asyncio.timeout`` and client libraries that look up the current task find the right one), and
the task is handed the rest of the coroutine.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import sys
from asyncio import tasks as _asyncio_tasks
from collections.abc import Coroutine, Generator
from typing import Any

log = logging.getLogger("copytui.tasks")


class TaskGroup:
    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[Any]] = set()
        self.failures: list[tuple[str, BaseException]] = []

    def spawn(
        self, coro: Coroutine[Any, Any, Any], name: str, loop: asyncio.AbstractEventLoop | None = None
    ) -> asyncio.Task[Any]:
        """Run ``coro`` as a task named ``name``. ``loop``: for a callback that may be called while
        no loop runs (a paper exchange driven by a test), the loop the adapter connected on."""
        task = (loop or asyncio.get_running_loop()).create_task(coro, name=name)
        self.tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def spawn_eager(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Like ``spawn``, but the coroutine runs at once up to its first wait (see the module's text)."""
        loop = asyncio.get_running_loop()
        if sys.version_info >= (3, 12):
            task: asyncio.Task[Any] = asyncio.Task(coro, loop=loop, name=name, eager_start=True)
        else:
            task = _start_eagerly(loop, coro, name)
        if not task.done():
            self.tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            self.failed(task.get_name(), exc)

    def failed(self, name: str, exc: BaseException) -> None:
        """Record and log the failure of a task's work (or of one coroutine an EagerWorker ran)."""
        self.failures.append((name, exc))
        log.error("task %s failed: %s", name, exc, exc_info=exc)

    async def cancel_all(self) -> None:
        tasks = list(self.tasks)
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)


_NOTHING = object()


class _Rest(Coroutine[Any, Any, Any]):
    """The rest of a coroutine whose first step already ran: first hands its task what that step
    stopped on (the future it waits for), then passes everything through."""

    __slots__ = ("coro", "first", "outcome")

    def __init__(self, coro: Coroutine[Any, Any, Any]) -> None:
        self.coro = coro
        self.first: Any = _NOTHING
        self.outcome: BaseException | None = None  # how the first step ended, when it did

    def send(self, value: Any) -> Any:
        if self.outcome is not None:
            outcome, self.outcome = self.outcome, None
            raise outcome
        first = self.first
        if first is not _NOTHING:
            self.first = _NOTHING
            return first
        return self.coro.send(value)

    def throw(self, typ: Any, val: Any = None, tb: Any = None) -> Any:
        self.first = _NOTHING
        if self.outcome is not None:  # cancelled after it had already finished: finish as it did
            return self.send(None)
        exc = typ if val is None and isinstance(typ, BaseException) else typ(val) if val is None else val
        return self.coro.throw(exc)

    def close(self) -> None:
        self.coro.close()

    def __await__(self) -> Generator[Any, None, Any]:
        raise TypeError("the rest of an eagerly started coroutine belongs to its task; do not await it")


def _start_eagerly(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
    rest = _Rest(coro)
    ctx = contextvars.copy_context()
    task = loop.create_task(rest, name=name, context=ctx)
    try:
        rest.first = _step_as(loop, task, ctx, coro)
    except BaseException as exc:  # StopIteration (finished at once) included: the task reports it
        rest.outcome = exc
    return task


class EagerWorker:
    """One long-lived task that runs the coroutines it is handed, one after another, each started at
    once in the caller's pass as ``spawn_eager`` starts a task, without making a task for each.

    Why: on 3.11 making a task, registering it and finishing it (done callbacks on a later loop turn)
    costs more than the work of a paper order; an order lane starts one coroutine per order, for every
    follower on every leader fill. The worker's task is the current task while a coroutine runs (its
    first step included), so ``asyncio.timeout`` and cancelling ``task`` act on that coroutine. A
    coroutine that fails is logged and recorded in the group's failures, as a failed task is; one
    cancelled for real (not the lane's watchdog, which takes its cancellation back) ends the task,
    and the next ``start`` makes a new one."""

    def __init__(self, group: TaskGroup, name: str) -> None:
        self.group = group
        self.name = name
        self.task: asyncio.Task[None] | None = None
        self._driver: _Driver | None = None
        self._context = contextvars.copy_context()

    def start(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[None]:
        """Run ``coro`` now, up to its first wait, as the worker's task, which runs the rest. Only
        once the coroutine handed before has finished."""
        task, driver = self.task, self._driver
        if task is None or driver is None or task.done():
            loop = asyncio.get_running_loop()
            driver = self._driver = _Driver(self, loop)
            self._context = contextvars.copy_context()
            task = self.task = loop.create_task(driver, name=self.name, context=self._context)
            self.group.tasks.add(task)
            task.add_done_callback(self.group._done)
        elif driver.coro is not None:
            raise RuntimeError(f"{self.name}: a coroutine is still running")
        else:
            # asyncio.get_running_loop() costs a getpid() system call on 3.11: once per task, not per start
            loop = driver.loop
        driver.coro = coro
        try:
            first = _step_as(loop, task, self._context, coro)
        except StopIteration:
            driver.coro = None  # finished at once: the task stays idle
        except Exception as exc:  # as a failed task would be: logged, recorded; the worker goes on
            driver.coro = None
            self.group.failed(self.name, exc)
        except BaseException as exc:  # the task ends with it, as a task would
            driver.coro = None
            driver.outcome = exc
            driver.wake()
        else:
            driver.first = first
            driver.wake()
        return task


# loop -> its current task: asyncio.current_task without its Python frame on 3.11 (where it is one)
_CURRENT_TASKS: dict[asyncio.AbstractEventLoop, asyncio.Task[Any]] | None = getattr(
    _asyncio_tasks, "_current_tasks", None
)


def _step_as(loop: asyncio.AbstractEventLoop, task: asyncio.Task[Any], ctx: contextvars.Context, coro: Any) -> Any:
    """One step of ``coro`` (``send(None)``) with ``task`` as the loop's current task, in ``ctx``."""
    caller = _CURRENT_TASKS.get(loop) if _CURRENT_TASKS is not None else asyncio.current_task(loop)
    if caller is not None:
        _asyncio_tasks._leave_task(loop, caller)
    _asyncio_tasks._enter_task(loop, task)
    try:
        return ctx.run(coro.send, None)
    finally:
        _asyncio_tasks._leave_task(loop, task)
        if caller is not None:
            _asyncio_tasks._enter_task(loop, caller)


class _Driver(Coroutine[Any, Any, None]):
    """The coroutine of an EagerWorker's task: hands the task what the current coroutine's first
    step stopped on, passes everything else through to it, and between coroutines waits on a
    future of its own that ``wake`` resolves."""

    __slots__ = ("coro", "first", "idle", "loop", "outcome", "worker")

    def __init__(self, worker: EagerWorker, loop: asyncio.AbstractEventLoop) -> None:
        self.worker = worker
        self.loop = loop
        self.coro: Coroutine[Any, Any, Any] | None = None
        self.first: Any = _NOTHING
        self.idle: asyncio.Future[None] | None = None  # what the task waits on between coroutines
        self.outcome: BaseException | None = None

    def wake(self) -> None:
        idle, self.idle = self.idle, None
        if idle is not None and not idle.done():
            idle.set_result(None)

    def _wait(self) -> asyncio.Future[None]:
        idle = self.loop.create_future()
        idle._asyncio_future_blocking = True  # what Future.__await__ sets before it yields itself
        self.idle = idle
        return idle

    def send(self, value: Any) -> Any:
        if self.outcome is not None:
            outcome, self.outcome = self.outcome, None
            raise outcome
        first = self.first
        if first is not _NOTHING:
            self.first = _NOTHING
            return first
        coro = self.coro
        if coro is not None:
            try:
                return coro.send(value)
            except StopIteration:
                self.coro = None
            except Exception as exc:
                self.coro = None
                self.worker.group.failed(self.worker.name, exc)
        return self._wait()

    def throw(self, typ: Any, val: Any = None, tb: Any = None) -> Any:
        exc = typ if val is None and isinstance(typ, BaseException) else typ(val) if val is None else val
        self.first = _NOTHING
        coro = self.coro
        if self.outcome is not None or coro is None:  # between coroutines: the worker itself is cancelled
            self.outcome = None
            raise exc
        try:
            return coro.throw(exc)
        except StopIteration:
            self.coro = None
        except Exception as failure:
            self.coro = None
            self.worker.group.failed(self.worker.name, failure)
        return self._wait()

    def close(self) -> None:
        if self.coro is not None:
            self.coro.close()

    def __await__(self) -> Generator[Any, None, Any]:
        raise TypeError("an EagerWorker's driver belongs to its task; do not await it")
