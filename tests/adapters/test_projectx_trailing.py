"""Trailing stops on ProjectX (issue 23), over real loopback sockets against the simulator.

A follower's TRAILING_STOP reaches the gateway as type 5 with its trail in ``trailPrice``; the
gateway moves the stop as the market rises and fills it when the market turns; a quantity change is
``size`` with the same ``trailPrice``. A leader's type-5 order, placed the way a trader's own
script places it, arrives as a TRAILING_STOP with its trail, and each move of its stop as an
ORDER_MODIFIED. The simulator refuses the readings of ``trailPrice`` copytui did not choose, naming
the field (adapters/projectx/orders.py says what was chosen and why). With COPYTUI_PX_SDK_PYTHON
set, project-x-py's own ``place_trailing_stop_order`` is run against the simulator too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp

from adapters.paper.exchange import PaperExchange, PaperOrder
from adapters.projectx.events import Translator
from adapters.projectx.payloads import GwOrder, validate
from adapters.projectx.simulator import ProjectXSimulator
from adapters.simkit.audit import AuditLog
from copytui.models import AccountEvent, EventKind, FollowerOrder, OrderAction, OrderStatus, OrderType, Side
from tests.adapters.px_support import API_KEY, USER, order, px_session, until
from tests.adapters.test_projectx_sdk import sdk_python

ACCOUNT, ACCOUNT_ID = "PRAC-1001", 1001
SDK_SCRIPT = Path(__file__).parents[1] / "outside" / "projectx" / "place_trailing.py"
HANG_GUARD_S = 300.0  # only against a hung child


def trailing(coid: str, trail: float | None = 5.0, **kw: Any) -> FollowerOrder:
    return order(coid, side=Side.SELL, qty=2, order_type=OrderType.TRAILING_STOP, **kw).model_copy(
        update={"trail": trail}
    )


def requests(sim: ProjectXSimulator, action: str) -> list[dict[str, Any]]:
    """What the gateway received for ``action`` (the audit log's request bodies), in order."""
    return [e.request or {} for e in sim.audit.entries if e.action == action]


def working(x: PaperExchange) -> list[PaperOrder]:
    """The orders the gateway holds on the account (live objects, not snapshots)."""
    return [o for o in x.accounts[ACCOUNT].orders.values() if not o.status.final]


def kind_of(kind: EventKind, order_id: str) -> Callable[[list[AccountEvent]], bool]:
    return lambda evs: any(e.kind is kind and e.order_id == order_id for e in evs)


class Trader:
    """A trader's own script on the gateway's REST API (as project-x-py or a desk tool calls it)."""

    def __init__(self, sim: ProjectXSimulator, http: aiohttp.ClientSession) -> None:
        self.sim, self.http, self.token = sim, http, ""

    async def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        async with self.http.post(f"{self.sim.api_url}/api/{path}", json=body, headers=headers) as r:
            assert r.status == 200, await r.text()
            return dict(await r.json())

    async def place(self, **kw: Any) -> dict[str, Any]:
        body = {"accountId": ACCOUNT_ID, "contractId": self.sim.contract_of("MES"), "type": 5, "side": 1, "size": 2}
        return await self.post("Order/place", body | kw)


@contextlib.asynccontextmanager
async def trader(sim: ProjectXSimulator) -> AsyncIterator[Trader]:
    async with aiohttp.ClientSession() as http:
        t = Trader(sim, http)
        t.token = (await t.post("Auth/loginKey", {"userName": USER, "apiKey": API_KEY}))["token"]
        yield t


async def test_a_follower_trailing_stop_is_sent_as_type_5_trails_is_resized_and_fills() -> None:
    async with px_session() as (x, sim, adapter, events):
        bid, _ = x.quote("MES")
        placed = trailing("pxtrail")
        ack = await adapter.place(placed)
        assert ack.status is OrderStatus.WORKING, ack.reason
        [sent] = requests(sim, "place")
        assert (sent["type"], sent["side"], sent["size"], sent["trailPrice"]) == (5, 1, 2, 5.0)
        assert sent["stopPrice"] is None and sent["limitPrice"] is None  # the gateway starts it 5 from the market
        [paper] = working(x)
        assert (paper.order_type, paper.trail, paper.stop_price) == (OrderType.TRAILING_STOP, 5.0, bid - 5)
        await events.wait(lambda evs: events.kinds(EventKind.ORDER_NEW, "pxtrail"))
        [new] = events.kinds(EventKind.ORDER_NEW, "pxtrail")
        assert (new.order_type, new.trail, new.stop_price) == (OrderType.TRAILING_STOP, 5.0, bid - 5)

        x.set_price("MES", bid + 3)  # the market rises: the gateway raises the stop
        await events.wait(lambda evs: events.kinds(EventKind.ORDER_MODIFIED, "pxtrail"))
        [moved] = events.kinds(EventKind.ORDER_MODIFIED, "pxtrail")
        assert (moved.stop_price, moved.trail, moved.qty) == (bid - 2, 5.0, 2)

        resize = placed.model_copy(
            update={"action": OrderAction.MODIFY, "client_order_id": "pxtrailm", "qty": 1,
                    "target_client_order_id": "pxtrail", "broker_order_id": ack.broker_order_id}
        )  # fmt: skip
        assert (await adapter.modify(resize)).status is OrderStatus.WORKING
        [modify] = requests(sim, "modify")
        assert modify == {
            "accountId": ACCOUNT_ID, "orderId": int(ack.broker_order_id or 0), "size": 1,
            "limitPrice": None, "stopPrice": None, "trailPrice": 5.0,
        }  # fmt: skip
        assert (paper.qty, paper.trail, paper.stop_price) == (1, 5.0, bid - 2)

        x.set_price("MES", bid - 2)  # the market turns down to the stop
        await events.wait(lambda evs: events.filled("pxtrail") == 1)
        [fill] = events.kinds(EventKind.FILL, "pxtrail")
        assert (fill.fill_qty, fill.fill_price, fill.order_type) == (1, bid - 2, OrderType.TRAILING_STOP)
        assert x.accounts[ACCOUNT].positions["MES"].qty == -1


async def test_a_known_leader_stop_is_where_the_follower_starts_and_no_trail_is_not_sent() -> None:
    async with px_session() as (x, sim, adapter, _events):
        bid, _ = x.quote("MES")
        assert (await adapter.place(trailing("pxstart", stop_price=bid - 3))).status is OrderStatus.WORKING
        [sent] = requests(sim, "place")
        assert (sent["trailPrice"], sent["stopPrice"]) == (5.0, bid - 3)
        [paper] = working(x)
        assert (paper.stop_price, paper.trail) == (bid - 3, 5.0)

        refused = await adapter.place(trailing("pxnotrail", trail=None))
        assert refused.status is OrderStatus.REJECTED and "trailPrice" in (refused.reason or "")
        assert len(requests(sim, "place")) == 1


async def test_a_leaders_type_5_order_arrives_with_its_trail_and_each_move_as_a_modification() -> None:
    async with px_session() as (x, sim, adapter, events), trader(sim) as script:
        bid, _ = x.quote("MES")
        answer = await script.place(trailPrice=4.0, customTag="leadtrail")
        assert answer["success"], answer
        oid = str(answer["orderId"])
        await events.wait(kind_of(EventKind.ORDER_NEW, oid))
        [new] = events.kinds(EventKind.ORDER_NEW, "leadtrail")
        assert (new.order_type, new.trail, new.stop_price, new.qty) == (OrderType.TRAILING_STOP, 4.0, bid - 4, 2)
        [listed] = await adapter.open_orders()
        assert (listed.order_type, listed.trail, listed.stop_price) == (OrderType.TRAILING_STOP, 4.0, bid - 4)
        [open_order] = (await script.post("Order/searchOpen", {"accountId": ACCOUNT_ID}))["orders"]
        assert (open_order["type"], open_order["trailPrice"], open_order["stopPrice"]) == (5, 4.0, bid - 4)

        x.set_price("MES", bid + 1)
        x.set_price("MES", bid + 2.5)
        x.set_price("MES", bid + 0.5)  # a dip above the stop: the stop stays
        await events.wait(lambda evs: any(e.stop_price == bid - 1.5 for e in events.kinds(EventKind.ORDER_MODIFIED)))
        moves = events.kinds(EventKind.ORDER_MODIFIED, "leadtrail")
        assert [(e.stop_price, e.trail) for e in moves] == [(bid - 3, 4.0), (bid - 1.5, 4.0)]

        x.set_price("MES", bid - 1.5)
        await events.wait(lambda evs: events.filled("leadtrail") == 2)
        fills = events.kinds(EventKind.FILL, "leadtrail")
        assert {(e.fill_price, e.trail) for e in fills} == {(bid - 1.5, 4.0)}


def test_trailprice_is_read_as_a_distance_and_only_on_a_trailing_stop() -> None:
    """The gateway's recorded events carry ``trailPrice`` signed on bracket legs: a distance either way;
    a type-5 order that says no distance is a trailing stop whose moves copytui follows."""
    base = {"id": 7, "accountId": ACCOUNT_ID, "contractId": "CON.F.US.MES.M26", "status": 1, "side": 0, "size": 1}
    assert validate(GwOrder, base | {"type": 5, "trailPrice": -6.25}, "GatewayUserOrder").trail == 6.25
    assert validate(GwOrder, base | {"type": 4, "stopPrice": 5010.0, "trailPrice": 25.25}, "x").trail is None
    [new] = Translator("lead", ACCOUNT_ID).on_order(validate(GwOrder, base | {"type": 5, "stopPrice": 5006.0}, "x"))
    assert (new.kind, new.order_type, new.trail, new.stop_price) == (
        EventKind.ORDER_NEW, OrderType.TRAILING_STOP, None, 5006.0,
    )  # fmt: skip


async def test_the_simulator_refuses_the_readings_copytui_did_not_choose() -> None:
    async with px_session() as (x, sim, _adapter, _events), trader(sim) as script:
        bid, _ = x.quote("MES")
        refusals = {}
        for name, fields in {
            "missing": {},
            "negative": {"trailPrice": -5.0},
            "a price": {"trailPrice": bid},
            "off the grid": {"trailPrice": 5.1},
        }.items():
            answer = await script.place(**fields)
            assert answer["success"] is False and answer["orderId"] is None, (name, answer)
            refusals[name] = answer["errorMessage"]
        assert all("trailPrice" in why for why in refusals.values()), refusals
        assert "positive distance" in refusals["negative"] and "reads as a price" in refusals["a price"]
        assert "tick grid" in refusals["off the grid"] and working(x) == []

        limit = await script.place(type=1, side=0, size=1, limitPrice=bid - 20)
        refused = await script.post(
            "Order/modify", {"accountId": ACCOUNT_ID, "orderId": limit["orderId"], "trailPrice": 5.0}
        )
        assert refused["success"] is False and "no TrailingStop" in refused["errorMessage"]
        stop = await script.place(trailPrice=5.0)
        retrail = {"accountId": ACCOUNT_ID, "orderId": stop["orderId"]}
        assert (await script.post("Order/modify", retrail | {"trailPrice": -1.0}))["success"] is False
        assert (await script.post("Order/modify", retrail | {"trailPrice": 7.0}))["success"] is True
        assert [o.trail for o in working(x) if o.order_type is OrderType.TRAILING_STOP] == [7.0]


async def test_project_x_py_places_resizes_and_retrails_a_trailing_stop_on_the_simulator() -> None:
    python = sdk_python()
    # prices hold still (no walk): the stop moves only when the test moves the market
    async with ProjectXSimulator(PaperExchange(seed=21), audit=AuditLog("projectx")) as sim:
        proc = await asyncio.create_subprocess_exec(
            python, str(SDK_SCRIPT), sim.api_url, "--trail", "5", "--new-trail", "6",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            out, err = await asyncio.wait_for(proc.communicate(), HANG_GUARD_S)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise AssertionError(f"{SDK_SCRIPT.name} did not finish within {HANG_GUARD_S:.0f}s") from None
        assert proc.returncode != 2, f"project-x-py is not installed for {python}: {err.decode()}"
        assert proc.returncode == 0, f"project-x-py found a mismatch:\n{err.decode()}\n{out.decode()}"
        oid = json.loads(out.decode().strip().splitlines()[-1])["order_id"]
        audit = [(e.action, e.outcome, e.request or {}) for e in sim.audit.entries]
        paper = sim.exchange.accounts[ACCOUNT].orders[f"P{oid}"]
        assert (paper.order_type, paper.side, paper.qty, paper.trail) == (OrderType.TRAILING_STOP, Side.SELL, 1, 6.0)
        sim.exchange.set_price("MES", paper.stop_price - 1)  # the market falls through the stop: it fills
        await until(lambda: paper.status is OrderStatus.FILLED, what="the SDK's trailing stop filled")
    [(a1, o1, place), (a2, o2, resize), (a3, o3, retrail)] = audit
    assert (a1, a2, a3, o1, o2, o3) == ("place", "modify", "modify", "accepted", "accepted", "accepted")
    assert (place["type"], place["trailPrice"], place["stopPrice"], place["side"], place["size"]) == (
        5,
        5.0,
        None,
        1,
        2,
    )
    assert resize.get("size") == 1 and "trailPrice" not in resize
    assert retrail.get("trailPrice") == 6.0 and "size" not in retrail
