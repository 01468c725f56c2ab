"""An order lane's one long-lived task (EagerWorker): each order is written inside put_nowait, as a
task of its own was, and a failure, an expiry or a real cancellation ends the same way."""

from __future__ import annotations

import asyncio

import pytest

from adapters.kit.tasks import EagerWorker, TaskGroup
from copytui.engine.lane import OrderLane
from copytui.models import FollowerOrder, OrderAction, Side


def order(n: int) -> FollowerOrder:
    return FollowerOrder(follower="f", signal_id=f"s{n}", client_order_id=f"c{n}", action=OrderAction.PLACE,
                         symbol="ES", side=Side.BUY, qty=1)  # fmt: skip


async def test_each_coroutine_runs_its_first_step_inside_start_as_the_same_task() -> None:
    worker = EagerWorker(TaskGroup(), "orders-f")
    steps: list[tuple[str, asyncio.Task[object] | None]] = []
    answers = [asyncio.get_running_loop().create_future() for _ in range(2)]

    async def send(n: int) -> None:
        steps.append((f"written {n}", asyncio.current_task()))
        async with asyncio.timeout(5):  # bound to the worker's task, as it was to an order's own task
            await answers[n]
        steps.append((f"answered {n}", asyncio.current_task()))

    caller = asyncio.current_task()
    task = worker.start(send(0))
    assert steps == [("written 0", task)]  # before the caller awaited anything
    assert asyncio.current_task() is caller
    answers[0].set_result(None)
    await asyncio.sleep(0.01)
    assert steps[-1] == ("answered 0", task)
    assert worker.start(send(1)) is task  # no new task for the next order
    assert steps[-1] == ("written 1", task)
    answers[1].set_result(None)
    await asyncio.sleep(0.01)
    assert steps[-1] == ("answered 1", task) and not task.done()


async def test_a_second_coroutine_is_refused_while_one_runs() -> None:
    worker = EagerWorker(TaskGroup(), "orders-f")
    worker.start(asyncio.sleep(30))
    second = asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="still running"):
        worker.start(second)
    second.close()
    await worker.group.cancel_all()


async def test_a_failing_coroutine_is_recorded_and_the_next_one_still_runs() -> None:
    group = TaskGroup()
    worker = EagerWorker(group, "orders-f")
    ran: list[str] = []

    async def broken_at_once() -> None:
        raise ValueError("bad order")

    async def broken_later() -> None:
        await asyncio.sleep(0)
        raise KeyError("lost answer")

    async def fine() -> None:
        ran.append("sent")
        await asyncio.sleep(0)
        ran.append("answered")

    task = worker.start(broken_at_once())
    worker.start(broken_later())
    await asyncio.sleep(0.01)
    assert worker.start(fine()) is task
    await asyncio.sleep(0.01)
    assert ran == ["sent", "answered"]
    assert [(name, type(exc)) for name, exc in group.failures] == [("orders-f", ValueError), ("orders-f", KeyError)]


async def test_a_real_cancellation_ends_the_task_and_the_next_start_makes_a_new_one() -> None:
    group = TaskGroup()
    worker = EagerWorker(group, "orders-f")
    cleaned: list[str] = []

    async def waits() -> None:
        try:
            await asyncio.sleep(30)
        finally:
            cleaned.append("closed")

    first = worker.start(waits())
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    assert cleaned == ["closed"] and first not in group.tasks
    second = worker.start(waits())
    assert second is not first and not second.done()
    await group.cancel_all()  # an engine's stop: the idle or busy worker ends
    assert second.cancelled() and cleaned == ["closed", "closed"] and not group.tasks


async def test_an_idle_worker_ends_when_the_engine_stops() -> None:
    group = TaskGroup()
    worker = EagerWorker(group, "orders-f")

    async def quick() -> None:
        await asyncio.sleep(0)

    task = worker.start(quick())
    await asyncio.sleep(0.01)
    assert not task.done()  # idle, waiting for the next order
    await group.cancel_all()
    assert task.cancelled() and not group.tasks and not group.failures


async def test_after_an_expiry_the_lane_writes_its_next_order_at_once() -> None:
    outcome: list[str] = []
    lane: OrderLane

    async def execute(o: FollowerOrder) -> None:
        outcome.append(f"written {o.client_order_id}")
        try:
            await asyncio.sleep(30)  # the broker never answers
        except asyncio.CancelledError:
            outcome.append("expired" if lane.take_expiry() else "cancelled")
            if outcome[-1] == "cancelled":
                raise

    lane = OrderLane("f", execute, TaskGroup())
    lane.put_nowait(order(1))
    assert lane.expire_overdue(lane.since + 6.0, timeout_s=5.0)
    await asyncio.sleep(0.01)
    assert outcome == ["written c1", "expired"] and lane.busy == 0
    lane.put_nowait(order(2))
    assert outcome[-1] == "written c2" and lane.busy  # inside put_nowait, on the same lane
    assert lane.expire_overdue(lane.since + 6.0, timeout_s=5.0)
    await asyncio.sleep(0.01)
    assert outcome[-1] == "expired" and lane.busy == 0


async def test_orders_left_by_a_cancelled_run_go_before_a_new_one() -> None:
    sent: list[str] = []
    gates: dict[str, asyncio.Future[None]] = {}

    async def execute(o: FollowerOrder) -> None:
        sent.append(o.client_order_id)
        gates[o.client_order_id] = asyncio.get_running_loop().create_future()
        await gates[o.client_order_id]

    group = TaskGroup()
    lane = OrderLane("f", execute, group)
    lane.put_nowait(order(1))
    lane.put_nowait(order(2))
    lane.put_nowait(order(3))
    await group.cancel_all()  # a real cancellation mid-order: c2 and c3 were never sent
    assert sent == ["c1"] and lane.busy == 0 and lane.qsize() == 2
    lane.put_nowait(order(4))
    assert sent == ["c1", "c2"]  # the oldest waiting order first, written at once
    for n in (2, 3):
        gates[f"c{n}"].set_result(None)
        await asyncio.sleep(0.01)
    assert sent == ["c1", "c2", "c3", "c4"]
