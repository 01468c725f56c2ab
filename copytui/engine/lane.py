"""A follower's order lane: its orders go out one at a time, in the order they were journaled.

An idle lane starts its first order at once, in the caller's pass, on the lane's one long-lived
task (``EagerWorker``: no task per order): a leader fill's orders to every idle follower are
written to their sockets one after another in one go, before the event loop turns to anything
else. Orders that arrive while one is
on its way wait in the lane and follow it, one at a time, so a follower never has two of
copytui's orders racing each other.

Where the follower's broker takes an OCO pair in one request, the first leg of a bracket
(``pairable``) waits in the lane for the rest of the event loop's pass: the leader's broker
announces a bracket's two legs together, so its second leg is routed in that same pass and the two
go out as one pair (``Pair``). Anything else put into the lane, or the end of the pass, sends the
waiting leg alone: the lane's order is still the journal's.

No timer is set per order: the lane notes when its order went out, and the engine's watchdog
(``expire_overdue``, a few times a second) cancels an order that has waited too long for its
answer; ``send`` turns that cancellation into a TimeoutError for the order's own code.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TypeVar

from adapters.kit.tasks import EagerWorker, TaskGroup
from copytui.models import FollowerOrder, OrderAction

T = TypeVar("T")

Pair = tuple[FollowerOrder, FollowerOrder]
"""Two legs of one OCO group, sent in one request."""
Item = FollowerOrder | Pair

_PLACE = OrderAction.PLACE


class OrderLane:
    def __init__(
        self,
        name: str,
        execute: Callable[[Item], Awaitable[None]],
        tasks: TaskGroup,
        pairable: Callable[[FollowerOrder], bool] | None = None,
    ) -> None:
        self.name = name
        self.execute = execute  # sends one order (or one pair) and records its answer; never raises
        self.tasks = tasks
        self.pairable = pairable
        """Whether an order is the first leg of an OCO pair its broker would take in one request."""
        self.held: FollowerOrder | None = None
        """That first leg, for the rest of the loop's pass."""
        self.waiting: deque[Item] = deque()
        self.busy = 0  # 1 while an order of this lane is on its way
        self.since = 0.0  # time.monotonic() when the order on its way was started (or re-armed)
        self._task: asyncio.Task[None] | None = None
        self._expired = False
        self._worker = EagerWorker(tasks, f"orders-{name}")  # one task for the lane's life, not one per order

    def put_nowait(self, order: FollowerOrder) -> None:
        held = self.held
        if held is not None:
            self.held = None
            if order.oco_group == held.oco_group and not order.target_client_order_id and order.action is _PLACE:
                self._put((held, order))
                return
            self._put(held)
        if order.oco_group is not None and self.pairable is not None and self.pairable(order):
            self.held = order
            asyncio.get_running_loop().call_soon(self._release)
            return
        self._put(order)

    def _release(self) -> None:
        """The end of the pass the held leg came in: no second leg came, it goes alone."""
        held, self.held = self.held, None
        if held is not None:
            self._put(held)

    def _put(self, order: Item) -> None:
        if self.busy or self.waiting:  # waiting while idle: a cancelled run left orders, which go first
            self.waiting.append(order)
            if self.busy:
                return
            order = self.waiting.popleft()
        self.busy = 1
        self.since = time.monotonic()
        self._task = self._worker.start(self._run(order))

    def empty(self) -> bool:
        return not self.waiting and self.held is None

    def qsize(self) -> int:
        return len(self.waiting) + (self.held is not None)

    def rearm(self, pause_s: float = 0.0) -> None:
        """The order on its way starts a fresh wait, after ``pause_s`` (a rate-limit pause is not
        the broker's silence)."""
        self.since = time.monotonic() + pause_s

    def expire_overdue(self, now: float, timeout_s: float) -> bool:
        """Cancel the order on its way if it has waited more than ``timeout_s``. True if it did."""
        task = self._task
        if not self.busy or self._expired or task is None or task.done() or now - self.since <= timeout_s:
            return False
        self._expired = True
        task.cancel()
        return True

    async def send(self, request: Awaitable[T], timeout_s: float) -> T:
        """Await one request of the order on its way, with a fresh wait: the watchdog's
        cancellation (no answer within ``timeout_s``) comes out as a TimeoutError."""
        self.rearm()
        try:
            return await request
        except asyncio.CancelledError:
            if self.take_expiry():
                raise TimeoutError(f"no answer within {timeout_s:g}s") from None
            raise

    async def pause(self, pause_s: float) -> None:
        """Wait ``pause_s`` (a rate limit's hint) without the watchdog counting it as silence."""
        self.rearm(pause_s)
        await asyncio.sleep(pause_s)

    def take_expiry(self) -> bool:
        """Inside the lane's task, on CancelledError: was this the watchdog (True, and the
        cancellation is taken back) or a real cancellation (False)?"""
        if not self._expired:
            return False
        self._expired = False
        task = asyncio.current_task()
        if task is not None:
            task.uncancel()
        return True

    async def _run(self, order: Item) -> None:
        try:
            while True:
                await self.execute(order)
                if not self.waiting:
                    return
                order = self.waiting.popleft()
                self.since = time.monotonic()
        finally:
            self.busy = 0
            self._expired = False
