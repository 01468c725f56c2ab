"""Eager tasks and order lanes: a leader fill's orders are all written before the loop turns."""

from __future__ import annotations

import asyncio

import pytest

from adapters.kit.tasks import TaskGroup
from copytui.engine.lane import OrderLane
from copytui.models import FollowerOrder, OrderAction, Side


def order(n: int) -> FollowerOrder:
    return FollowerOrder(follower="f", signal_id=f"s{n}", client_order_id=f"c{n}", action=OrderAction.PLACE,
                         symbol="ES", side=Side.BUY, qty=1)  # fmt: skip


async def test_eager_task_runs_to_its_first_wait_inside_the_call() -> None:
    group = TaskGroup()
    seen: list[str] = []
    current: list[asyncio.Task[object] | None] = []
    answer: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def send() -> str:
        seen.append("written")  # what an adapter does before it waits: write the request
        current.append(asyncio.current_task())  # asyncio.timeout and client libraries look this up
        async with asyncio.timeout(5):  # bound to this task, not to the caller
            got = await answer
        seen.append(got)
        return got

    caller = asyncio.current_task()
    task = group.spawn_eager(send(), "send")
    assert seen == ["written"]  # before the caller awaited anything
    assert current == [task]  # the new task was the current one during its first step
    assert asyncio.current_task() is caller  # and the caller is again now
    answer.set_result("acked")
    assert await task == "acked"
    assert seen == ["written", "acked"]


async def test_eager_task_that_finishes_or_fails_at_once_reports_it() -> None:
    group = TaskGroup()

    async def done() -> int:
        return 7

    async def broken() -> None:
        raise ValueError("bad order")

    ok = group.spawn_eager(done(), "done")
    bad = group.spawn_eager(broken(), "broken")
    assert await ok == 7
    with pytest.raises(ValueError, match="bad order"):
        await bad
    await asyncio.sleep(0)  # done callbacks run on the next loop turn
    assert group.failures and group.failures[0][0] == "broken"


async def test_eager_task_cancelled_while_waiting_runs_its_cleanup() -> None:
    group = TaskGroup()
    cleaned: list[str] = []

    async def waits() -> None:
        try:
            await asyncio.sleep(30)
        finally:
            cleaned.append("closed")

    task = group.spawn_eager(waits(), "waits")
    task.cancel()  # before the loop ever ran it
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cleaned == ["closed"]


async def test_lane_writes_the_first_order_now_and_the_rest_in_order() -> None:
    sent: list[str] = []
    gates: dict[str, asyncio.Future[None]] = {}

    async def execute(o: FollowerOrder) -> None:
        sent.append(o.client_order_id)
        gates[o.client_order_id] = asyncio.get_running_loop().create_future()
        await gates[o.client_order_id]

    lane = OrderLane("f", execute, TaskGroup())
    lane.put_nowait(order(1))
    assert sent == ["c1"] and lane.busy  # written inside put_nowait
    lane.put_nowait(order(2))
    lane.put_nowait(order(3))
    assert sent == ["c1"] and lane.qsize() == 2  # the others wait their turn: never two at once
    for n in (1, 2, 3):
        await asyncio.sleep(0)
        gates[f"c{n}"].set_result(None)
        await asyncio.sleep(0.01)
    assert sent == ["c1", "c2", "c3"]
    assert lane.busy == 0 and lane.empty()


async def test_lane_watchdog_expires_an_order_and_frees_the_lane() -> None:
    outcome: list[str] = []
    lane: OrderLane

    async def execute(o: FollowerOrder) -> None:
        try:
            await asyncio.sleep(30)  # the broker never answers
        except asyncio.CancelledError:
            outcome.append("expired" if lane.take_expiry() else "cancelled")
            if outcome[-1] == "cancelled":
                raise

    lane = OrderLane("f", execute, TaskGroup())
    lane.put_nowait(order(1))
    assert not lane.expire_overdue(lane.since + 1.0, timeout_s=5.0)  # not overdue yet
    assert lane.expire_overdue(lane.since + 6.0, timeout_s=5.0)
    await asyncio.sleep(0.01)
    assert outcome == ["expired"] and lane.busy == 0
