"""ProjectX decoding of every documented enum value, and of values nobody documented: status 7
(PendingCancellation) and 8 (Suspended bracket children), ``fillVolume: null``, and an unknown value
in any enum the decoders read, which is kept as UNKNOWN with its event (and counted), never a reason
to drop the event. Issue 14: project-x-py 4.4 and the Rust crate projectx-client both know 7 and 8."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.projectx import signalr
from adapters.projectx.events import Translator
from adapters.projectx.payloads import (
    GwOrder,
    GwPosition,
    GwPositionType,
    GwSide,
    GwStatus,
    GwTrade,
    GwType,
    PayloadError,
    copy_status,
    validate,
)
from copytui.models import EventKind, OrderStatus, OrderType, Side
from tests.adapters.px_support import order, px_session

ORDER: dict[str, Any] = {
    "id": 7,
    "accountId": 1001,
    "contractId": "CON.F.US.MES.H25",
    "status": 1,
    "type": 4,
    "side": 1,
    "size": 2,
    "stopPrice": 4990.0,
    "fillVolume": 0,
    "customTag": "ct7",
    "updateTimestamp": "2025-01-21T16:13:52+00:00",
}
TRADE: dict[str, Any] = {
    "id": 70,
    "accountId": 1001,
    "contractId": "CON.F.US.MES.H25",
    "price": 4990.0,
    "side": 1,
    "size": 1,
    "orderId": 7,
}


def _order(**kw: Any) -> GwOrder:
    return validate(GwOrder, {**ORDER, **kw}, "GatewayUserOrder")


def _at(second: int) -> str:
    return f"2025-01-21T16:14:{second:02d}+00:00"


@pytest.mark.parametrize(("raw", "status"), [(7, GwStatus.PENDING_CANCELLATION), (8, GwStatus.SUSPENDED)])
def test_status_7_and_8_decode(raw, status):
    p = _order(status=raw)
    assert p.status is status and p.unknown_values == ()
    assert copy_status(p.status, 0) is OrderStatus.WORKING  # still working at the gateway
    assert copy_status(p.status, 1) is OrderStatus.PARTIALLY_FILLED


def test_fill_volume_null_decodes_and_infers_no_fill():
    p = _order(fillVolume=None, filledPrice=4990.0)
    assert p.fillVolume is None and p.filled == 0
    tr = Translator("a", 1001)
    assert [e.kind for e in tr.on_order(p)] == [EventKind.ORDER_NEW]
    assert tr.orders[7].cum == 0


def test_suspended_bracket_child_is_announced_only_once_active():
    tr = Translator("a", 1001)
    assert tr.on_order(_order(status=8)) == []  # inactive at the leader's gateway: nothing to copy yet
    assert tr.on_order(_order(status=8, stopPrice=4989.0, updateTimestamp=_at(1))) == []
    [new] = tr.on_order(_order(status=1, stopPrice=4989.0, updateTimestamp=_at(2)))
    assert (new.kind, new.stop_price, new.order_type, new.side) == (
        EventKind.ORDER_NEW,
        4989.0,
        OrderType.STOP,
        Side.SELL,
    )
    # a cancel on its way: no event, then the cancel itself, once
    assert tr.on_order(_order(status=7, stopPrice=4989.0, updateTimestamp=_at(3))) == []
    [gone] = tr.on_order(_order(status=3, stopPrice=4989.0, updateTimestamp=_at(4)))
    assert gone.kind is EventKind.ORDER_CANCELLED


def test_fills_count_while_a_cancel_is_pending():
    tr = Translator("a", 1001)
    tr.on_order(_order())
    evs = tr.on_order(_order(status=7, fillVolume=1, filledPrice=4990.0, updateTimestamp=_at(1)))
    assert [(e.kind, e.fill_qty, e.cum_qty) for e in evs] == [(EventKind.FILL, 1, 1)]


@pytest.mark.parametrize(
    ("model", "raw", "field", "unknown"),
    [
        (GwOrder, {**ORDER, "status": 42}, "status", GwStatus.UNKNOWN),
        (GwOrder, {**ORDER, "status": -1}, "status", GwStatus.UNKNOWN),  # -1 is ours, never the wire's
        (GwOrder, {**ORDER, "type": 12}, "type", GwType.UNKNOWN),
        (GwOrder, {**ORDER, "side": 2}, "side", GwSide.UNKNOWN),
        (GwTrade, {**TRADE, "side": 5}, "side", GwSide.UNKNOWN),
        (GwPosition, {"accountId": 1001, "contractId": "CON.F.US.MES.H25", "type": 3, "size": 0}, "type", None),
    ],
)
def test_unknown_enum_values_are_kept_not_refused(model, raw, field, unknown):
    p = validate(model, raw, "payload")
    assert p.unknown_values == (f"{field}={raw[field]}",)
    if unknown is not None:
        assert getattr(p, field) is unknown
    else:
        assert p.type is GwPositionType.UNKNOWN and p.signed_size == 0  # a closed position needs no direction


def test_a_value_of_the_wrong_kind_is_still_malformed():
    with pytest.raises(PayloadError, match=r"GatewayUserOrder\.side: .*\(got 'buy'\)"):
        validate(GwOrder, {**ORDER, "side": "buy"}, "GatewayUserOrder")


def test_unknown_status_keeps_the_order_and_its_fills():
    tr = Translator("a", 1001)
    tr.on_order(_order())
    evs = tr.on_order(_order(status=42, fillVolume=2, filledPrice=4990.0, updateTimestamp=_at(1)))
    assert [(e.kind, e.cum_qty) for e in evs] == [(EventKind.FILL, 2)]
    assert tr.orders[7].status is GwStatus.UNKNOWN
    [gone] = tr.on_order(_order(status=3, fillVolume=2, filledPrice=4990.0, updateTimestamp=_at(2)))
    assert gone.kind is EventKind.ORDER_CANCELLED


def test_unknown_type_or_side_is_taken_from_what_place_said():
    tr = Translator("a", 1001)
    tr.learn(7, "ct7", "MES", Side.SELL, OrderType.STOP, 2)
    [new] = tr.on_order(_order(type=12, side=9))
    assert (new.kind, new.order_type, new.side, new.client_order_id) == (
        EventKind.ORDER_NEW,
        OrderType.STOP,
        Side.SELL,
        "ct7",
    )
    [fill] = tr.on_trade(validate(GwTrade, {**TRADE, "side": 9}, "t"))
    assert (fill.side, fill.cum_qty) == (Side.SELL, 1)


def test_an_order_of_unknown_type_is_not_announced_but_its_fills_are_copied():
    tr = Translator("a", 1001)
    assert tr.on_order(_order(type=12)) == []  # never guessed into a market or limit order
    [fill] = tr.on_trade(validate(GwTrade, TRADE, "t"))
    assert (fill.kind, fill.side, fill.order_type, fill.cum_qty) == (EventKind.FILL, Side.SELL, None, 1)


def test_a_position_without_a_known_direction_is_named_not_guessed():
    p = validate(GwPosition, {"accountId": 1001, "contractId": "CON.F.US.MES.H25", "type": 3, "size": 2}, "p")
    with pytest.raises(PayloadError, match=r"GatewayUserPosition\.type: 3 with size 2"):
        _ = p.signed_size


async def test_unknown_and_new_values_over_the_wire_are_counted_and_the_events_kept():
    async with px_session() as (x, sim, a, c):
        [conn] = list(sim.hub.connections)
        await a.place(order("known1", qty=1))
        await c.wait(lambda _: c.filled("known1") == 1)
        oid = int(c.kinds(EventKind.FILL, "known1")[0].order_id or 0)
        base = {
            **ORDER,
            "id": 99_000_001,
            "customTag": "outside1",
            "type": 1,
            "side": 0,
            "limitPrice": 5000.0,
            "stopPrice": None,
        }
        frames = [
            {**base, "status": 8, "fillVolume": None},  # suspended: kept quietly
            {**base, "status": 1, "fillVolume": None, "updateTimestamp": _at(1)},  # active: announced
            {**base, "status": 42, "fillVolume": 1, "filledPrice": 5000.0, "updateTimestamp": _at(2)},  # unknown
            {**base, "status": 7, "fillVolume": 1, "filledPrice": 5000.0, "updateTimestamp": _at(3)},
            {**base, "status": 3, "fillVolume": 1, "filledPrice": 5000.0, "updateTimestamp": _at(4)},
        ]
        for f in frames:
            conn.queue.put_nowait(signalr.invocation("GatewayUserOrder", [{"action": 1, "data": f}]))
        await c.wait(lambda _: bool(c.kinds(EventKind.ORDER_CANCELLED, "outside1")))
        assert [e.kind for e in c.events if e.client_order_id == "outside1"] == [
            EventKind.ORDER_NEW,
            EventKind.FILL,
            EventKind.ORDER_CANCELLED,
        ]
        assert a.unknown_values["GatewayUserOrder.status=42"] == 1
        assert "GatewayUserOrder.status=42" in a.health.detail
        assert not any("status" in m for m in a.malformed)  # none of them was refused
        assert oid and a.health.connected


async def test_open_orders_report_new_statuses_and_null_fill_volume():
    async with px_session() as (x, sim, a, c):
        live = {
            **ORDER,
            "accountId": 1001,
            "id": 5,
            "status": 8,
            "fillVolume": None,
            "type": 1,
            "limitPrice": 1.0,
            "stopPrice": None,
        }
        odd = {**live, "id": 6, "status": 7, "type": 99, "customTag": "ct6"}

        async def search_open(_body: dict[str, Any], _user: str) -> dict[str, Any]:
            return {"orders": [live, odd], "success": True, "errorCode": 0, "errorMessage": None}

        sim.routes["/api/Order/searchOpen"] = search_open
        infos = await a.open_orders()
        assert [(i.broker_order_id, i.status, i.filled_qty, i.order_type) for i in infos] == [
            ("5", OrderStatus.WORKING, 0, OrderType.LIMIT),
            ("6", OrderStatus.WORKING, 0, OrderType.LIMIT),  # type 99 unknown: its prices tell a limit
        ]
        assert a.unknown_values["Order/searchOpen.type=99"] == 1
