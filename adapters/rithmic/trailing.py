"""Rithmic's native trailing stop as copytui sends it, reads it, and as the simulator holds it.

What is known (async-rithmic 1.6.6's protobufs): RequestNewOrder (312) has ``trailing_stop`` (bool,
157063), ``trail_by_ticks`` (int32, 157064) and ``trail_by_price_id`` (int32, 157065);
RequestModifyOrder (314) has ``trailing_stop`` and ``trail_by_ticks``; ExchangeOrderNotification
(352) has ``trail_by_ticks`` and ``trail_by_price_id``. RithmicOrderNotification (351) has no trail
field at all, so only a 352 tells that an order trails. None of these fields is documented.

What copytui chose where that stops (unverified; the simulator refuses every other form with a
reason naming the field):

- a trailing stop is a stop order (``price_type`` STOP_MARKET) with ``trailing_stop`` true and
  ``trail_by_ticks`` >= 1, the trail in ticks of the contract; ``trail_by_ticks`` means nothing
  without ``trailing_stop`` (the simulator refuses it alone), and ``trail_by_price_id`` (perhaps
  which price the trail follows) is never sent and ignored when read;
- ``trigger_price`` is where the stop starts when the leader's stop is known; without one the
  broker starts it ``trail_by_ticks`` from the market;
- a modify of a trailing stop sends its quantity, ``trailing_stop`` and ``trail_by_ticks`` again,
  never a trigger price (the broker owns where the stop stands);
- read side: a 352 with ``trail_by_ticks`` > 0 on a STOP_MARKET order makes it a TRAILING_STOP with
  ``trail`` = ticks x tick size, even when a 351 told the order first as a plain stop.
"""

from __future__ import annotations

from copytui.instruments import instrument
from copytui.models import OrderType


def ticks_of(symbol: str, trail: float) -> int:
    """``trail_by_ticks`` for a trail in price points: the nearest whole number of ticks, at least one."""
    return max(1, round(trail / instrument(symbol).tick_size))


def trail_of(symbol: str, ticks: int) -> float | None:
    """The trail in price points that ``trail_by_ticks`` says, or None when it says none."""
    if ticks <= 0:
        return None
    return instrument(symbol).round_price(ticks * instrument(symbol).tick_size)


def read_type(symbol: str, order_type: OrderType, ticks: int) -> tuple[OrderType, float | None]:
    """(order type, trail) of a notified order: a stop with a trail in ticks trails."""
    trail = trail_of(symbol, ticks) if order_type is OrderType.STOP else None
    return (OrderType.TRAILING_STOP, trail) if trail is not None else (order_type, None)


def sim_refusal(trailing_stop: bool, ticks: int, stop_order: bool) -> str | None:
    """Why the simulator refuses a request's trail fields (copytui's reading made strict), or None."""
    if trailing_stop and ticks < 1:
        return f"trailing_stop needs trail_by_ticks of at least 1 (got {ticks})"
    if ticks and not trailing_stop:
        return f"trail_by_ticks {ticks} without trailing_stop: the simulator takes it only on a trailing stop"
    if trailing_stop and not stop_order:
        return "trailing_stop is taken only on a STOP_MARKET order (price_type 4)"
    return None
