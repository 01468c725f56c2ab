"""Tradovate's TrailingStop as copytui sends it, and as the simulator holds copytui to it.

What is known: ``TrailingStop`` is an order type of placeorder, modifyorder and OrderVersion, which
all carry a ``pegDifference`` (a double) that the reference does not describe; modifyorder's
failure reasons include ``TrailingStopNonOrderQtyModify``, and modifyorder replaces the whole order
version (a field left out reverts). Public clients that place trailing stops send ``pegDifference``
as a positive offset in price points, with ``stopPrice`` as where the stop starts.

What copytui chose where that stops (unverified, so the simulator refuses every other form with a
reason naming the field): ``pegDifference`` is the trail, positive, in price points on the tick
grid; ``stopPrice`` is sent only when the leader's stop is known (the broker otherwise starts the
stop ``pegDifference`` from the market); a modify of a trailing stop changes its quantity only and
resends the same ``pegDifference``, never a price. A new trail is not a modify at Tradovate: the
adapter refuses it, without a request, saying so.
"""

from __future__ import annotations

from typing import Any

from copytui.instruments import instrument

NON_QTY_MODIFY = "TrailingStopNonOrderQtyModify"


def peg_difference(symbol: str, trail: float) -> float:
    """The ``pegDifference`` for ``trail``: on the tick grid, at least one tick."""
    inst = instrument(symbol)
    return max(inst.round_price(trail), inst.tick_size)


def modify_fields(symbol: str, wanted: float | None, current: float | None) -> dict[str, Any] | str:
    """The trailing fields of a modifyorder body (the version's own ``pegDifference`` again), or why
    the modify cannot be sent: ``wanted`` is the trail the engine asks for, ``current`` the trail the
    order has at the broker (None when the stream has not told it yet)."""
    trail = current if current is not None else wanted
    if trail is None:
        return "a trailing stop's modify needs its trail (pegDifference), which neither the order nor the stream gave"
    if wanted is not None and current is not None and abs(peg_difference(symbol, wanted) - current) > 1e-9:
        return (
            f"Tradovate modifies only the quantity of a trailing stop ({NON_QTY_MODIFY}): its trail {current:g} "
            f"cannot become {wanted:g} by a modify; cancel it and place a new one"
        )
    return {"pegDifference": peg_difference(symbol, trail)}


def peg_refusal(symbol: str, peg: float, market: float) -> str | None:
    """Why the simulator refuses ``pegDifference`` (copytui's reading made strict), or None."""
    inst = instrument(symbol)
    if not peg > 0:
        return f"pegDifference {peg:g}: the simulator takes it as a positive distance in price points"
    if peg >= market:
        return f"pegDifference {peg:g} reads as a price (the market is {market:g}), not a distance from it"
    if abs(inst.round_price(peg) - peg) > 1e-9:
        return f"pegDifference {peg:g} is not on the tick grid ({inst.tick_size:g}): it is in price points"
    return None
