"""The simulator's translations between the paper exchange and DTC's ORDER_UPDATE fields, shared
by its order desk (:mod:`adapters.sierrachart.sim_orders`) and its OCO pairs
(:mod:`adapters.sierrachart.sim_oco`), which both speak of orders in the same words."""

from __future__ import annotations

from typing import Any

from adapters.paper.exchange import PaperOrder
from adapters.sierrachart.wire import BuySell, DtcOrderType, Status, Tif
from copytui.models import OrderStatus, OrderType, Side, TimeInForce

TYPES = {DtcOrderType.MARKET: OrderType.MARKET, DtcOrderType.LIMIT: OrderType.LIMIT,
         DtcOrderType.STOP: OrderType.STOP, DtcOrderType.STOP_LIMIT: OrderType.STOP_LIMIT}  # fmt: skip
TYPE_OUT = {v: int(k) for k, v in TYPES.items()}
SIDES = {int(BuySell.BUY): Side.BUY, int(BuySell.SELL): Side.SELL}
SIDE_OUT = {Side.BUY: int(BuySell.BUY), Side.SELL: int(BuySell.SELL)}
TIF_OUT = {TimeInForce.DAY: int(Tif.DAY), TimeInForce.GTC: int(Tif.GOOD_TILL_CANCELED),
           TimeInForce.IOC: int(Tif.IMMEDIATE_OR_CANCEL)}  # fmt: skip
TIF_IN = {v: k for k, v in TIF_OUT.items()}
STATUS_OUT = {OrderStatus.WORKING: Status.OPEN, OrderStatus.PARTIALLY_FILLED: Status.PARTIALLY_FILLED,
              OrderStatus.FILLED: Status.FILLED, OrderStatus.CANCELLED: Status.CANCELED,
              OrderStatus.REJECTED: Status.REJECTED}  # fmt: skip


class Refused(Exception):
    """A request the server refuses; the text goes to InfoText. ``also``: ClientOrderIDs of orders
    held for this request (a bracket's parent) that are refused with it."""

    def __init__(self, why: str, also: tuple[str, ...] = ()) -> None:
        super().__init__(why)
        self.also = also


def prices(order_type: OrderType, limit: float | None, stop: float | None) -> dict[str, float]:
    """Price1 / Price2 of an order: the limit of a limit order, the stop of a stop order, both of a
    stop-limit (Price2 its limit)."""
    if order_type is OrderType.LIMIT and limit is not None:
        return {"Price1": limit}
    if order_type is OrderType.STOP and stop is not None:
        return {"Price1": stop}
    if order_type is OrderType.STOP_LIMIT and stop is not None and limit is not None:
        return {"Price1": stop, "Price2": limit}
    return {}


def order_fields(order: PaperOrder, symbol: str, status: int, reason: int) -> dict[str, Any]:
    """An ORDER_UPDATE of ``order`` as it stands now (its ServerOrderID the paper exchange's id:
    the desk overlays an OCO leg's own)."""
    fields: dict[str, Any] = {
        "Symbol": symbol, "Exchange": "CME", "ServerOrderID": order.id, "ClientOrderID": order.client_order_id or "",
        "OrderStatus": status, "OrderUpdateReason": reason, "OrderType": TYPE_OUT[order.order_type],
        "BuySell": SIDE_OUT[order.side], "TimeInForce": TIF_OUT.get(order.tif, int(Tif.DAY)),
        "OrderQuantity": order.qty, "FilledQuantity": order.filled, "RemainingQuantity": order.leaves,
        "TradeAccount": order.account,
    }  # fmt: skip
    fields.update(prices(order.order_type, order.price, order.stop_price))
    if order.avg_fill_price is not None:
        fields["AverageFillPrice"] = order.avg_fill_price
    return fields
