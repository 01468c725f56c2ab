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
            self.failures.append((task.get_name(), exc))
            log.error("task %s failed: %s", task.get_name(), exc, exc_info=exc)

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
    caller = asyncio.current_task(loop)
    if caller is not None:
        _asyncio_tasks._leave_task(loop, caller)
    _asyncio_tasks._enter_task(loop, task)
    try:
        rest.first = ctx.run(coro.send, None)
    except BaseException as exc:  # StopIteration (finished at once) included: the task reports it
        rest.outcome = exc
    finally:
        _asyncio_tasks._leave_task(loop, task)
        if caller is not None:
            _asyncio_tasks._enter_task(loop, caller)
    return task
