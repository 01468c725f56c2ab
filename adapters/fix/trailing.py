"""Native FIX trailing stops (issue 23): how copytui sends them, reads them, and how the simulator
holds copytui to that reading. Behind the account option ``trailing_stops`` (off by default).

Why off by default: many FIX gateways take no pegged or trailing orders at all, and those that do
spell them in ways of their own (a custom tag, OrdType P, an offset in ticks). Sent to such a
gateway, a follower's trailing stop is refused, and the position it protects stays unprotected
until someone acts. With the option off, a leader's trailing stop reaches a FIX follower as a plain
stop that copytui moves each time the leader's moves, which every gateway takes.

What the specs say (QuickFIX's data dictionaries FIX42.xml and FIX44.xml):

- ExecInst (18) is a multiple-value string (values separated by spaces). FIX 4.4 defines ``a``,
  Trailing Stop Peg; QuickFIX's FIX 4.2 dictionary has no ``a`` (its values end at W).
- Tag 211 is PegDifference (PRICEOFFSET) in FIX 4.2 and PegOffsetValue (FLOAT) in FIX 4.4, where it
  sits in the PegInstructions component of NewOrderSingle and OrderCancelReplaceRequest with
  PegMoveType (835: 0 floating, 1 fixed) and PegOffsetType (836: 0 price, 1 basis points, 2 ticks,
  3 price tier). The spec defines it as the amount (signed) added to the peg.
- ExecType (150) D, Restated, with ExecRestatementReason (378) 3, repricing of order, exists in both.

What copytui chose where the specs stop (guessed: no gateway's own documentation confirmed it; the
simulator refuses every other reading with a reason naming the tag):

- A trailing stop is OrdType (40) 3 (stop) with ExecInst (18) ``a`` and 211 = the trail, signed as
  "added to the peg": negative for a sell (its stop trails below the market), positive for a buy;
  in price, not ticks; on the tick grid and at least one tick. FIX 4.2 borrows ``a`` from the later
  versions: a gateway that validates against the 4.2 dictionary refuses it with a session reject
  naming ExecInst (18), and copytui's message says to turn the option off.
- FIX 4.4 also sends PegOffsetType (836) 0 (price): ticks and basis points are other readings of the
  same number. PegMoveType (835) is never sent (a trailing peg floats; a fixed one would not trail),
  and neither 835 nor 836 goes out on FIX 4.2, which has neither tag.
- StopPx (99) is where the stop starts, sent only when the leader's stop is known; without one the
  gateway starts the stop 211 from the market.
- A change is an OrderCancelReplaceRequest with the new OrderQty, OrdType 3, ExecInst ``a`` and 211
  again (a replace restates the whole order: left out, the order would stop trailing), and no StopPx
  (the gateway owns where the stop stands).
- Read side: an ExecutionReport with ExecInst ``a`` on OrdType 3 (or P, pegged) is a TRAILING_STOP
  whose trail is the size of 211, whatever its sign (None when 211 says none: copytui then copies
  the stop's moves, as for a broker without native trailing). The gateway's moves of the stop come
  as ExecType D (Restated) with the new StopPx, each read as an ORDER_MODIFIED.
"""

from __future__ import annotations

from adapters.fix import wire as w
from adapters.fix.frames import Field
from adapters.fix.session_config import FixAccount
from copytui.instruments import UnknownSymbol, instrument
from copytui.models import Side

EXEC_INST = 18
PEG_DIFFERENCE = 211
"""PegDifference in FIX 4.2, PegOffsetValue in FIX 4.4."""
EXEC_RESTATEMENT_REASON = 378
PEG_MOVE_TYPE = 835
PEG_OFFSET_TYPE = 836
TRAILING_STOP_PEG = "a"
STOP = "3"
PEGGED = "P"
ET_RESTATED = "D"
REPRICING = "3"
"""ExecRestatementReason (378): repricing of order, what a trailing stop's move is."""
PRICE_OFFSET = "0"
"""PegOffsetType (836): the offset is in price."""

TAG_NAMES = w.TAG_NAMES | {
    EXEC_INST: "ExecInst",
    PEG_DIFFERENCE: "PegDifference",
    EXEC_RESTATEMENT_REASON: "ExecRestatementReason",
    PEG_MOVE_TYPE: "PegMoveType",
    PEG_OFFSET_TYPE: "PegOffsetType",
}
"""The names of :data:`adapters.fix.wire.TAG_NAMES` and of the trailing tags."""

_TRAIL_TAGS = (PEG_DIFFERENCE, PEG_MOVE_TYPE, PEG_OFFSET_TYPE)
TRAIL_TAGS = (EXEC_INST, *_TRAIL_TAGS)
"""Every tag of a trailing stop (a gateway refusing one of them refuses trailing stops)."""


def tag_label(tag: int | str) -> str:
    """``ExecInst (18)`` for a known tag, ``tag 9001`` otherwise (the trailing tags included)."""
    number = w.as_int(str(tag))
    name = TAG_NAMES.get(number) if number is not None else None
    return f"{name} ({number})" if name else f"tag {tag}"


def trails(exec_inst: str | None) -> bool:
    """Whether an ExecInst (18) value holds Trailing Stop Peg among its space-separated values."""
    return TRAILING_STOP_PEG in (exec_inst or "").split()


def peg_offset(symbol: str, side: Side, trail: float) -> float:
    """211 for ``trail``: on the tick grid, at least one tick, negative for a sell."""
    inst = instrument(symbol)
    return side.sign * max(inst.round_price(abs(trail)), inst.tick_size)


def order_fields(
    opts: FixAccount, symbol: str, side: Side, trail: float | None, stop: float | None
) -> tuple[list[Field], float] | str:
    """The order-type fields of a trailing stop's NewOrderSingle or replace (``stop``: where it
    starts, None in a replace) and the trail they send; or why it cannot be sent."""
    if not opts.trailing_stops:
        return (
            f"fix account {opts.name} sends no trailing stops (options.trailing_stops is false): "
            "set it to true where the gateway takes ExecInst (18) a with PegDifference (211)"
        )
    if trail is None:
        return "a trailing stop needs its trail for PegDifference (211), and this order gives none"
    try:
        offset = peg_offset(symbol, side, trail)
    except UnknownSymbol as exc:
        return f"PegDifference (211) is sent on the tick grid, which needs the contract: {exc}"
    fields: list[Field] = [
        (w.HANDL_INST, "1"),
        (w.ORD_TYPE, STOP),
        (w.STOP_PX, stop),
        (EXEC_INST, TRAILING_STOP_PEG),
        (PEG_DIFFERENCE, offset),
    ]
    if opts.begin_string == w.FIX44:
        fields.append((PEG_OFFSET_TYPE, PRICE_OFFSET))
    return fields, abs(offset)


def read(f: w.Fields) -> tuple[bool, float | None]:
    """Whether an ExecutionReport's order is a trailing stop, and its trail (None when 211 gives none)."""
    if not trails(f.get(EXEC_INST)) or f.get(w.ORD_TYPE) not in (STOP, PEGGED):
        return False, None
    offset = f.number(PEG_DIFFERENCE)
    return True, abs(offset) if offset else None


def report_fields(begin: str, symbol: str, side: Side, trail: float | None) -> list[Field]:
    """The trailing fields of the simulator's ExecutionReport of an order (none when it does not trail)."""
    if trail is None:
        return []
    fields: list[Field] = [(EXEC_INST, TRAILING_STOP_PEG), (PEG_DIFFERENCE, peg_offset(symbol, side, trail))]
    if begin == w.FIX44:
        fields.append((PEG_OFFSET_TYPE, PRICE_OFFSET))
    return fields


# ------------------------------------------------------------------ the simulator's reading
def asks_trailing(f: w.Fields) -> bool:
    """Whether a request carries any of the trailing fields."""
    return trails(f.get(EXEC_INST)) or any(tag in f for tag in _TRAIL_TAGS)


def sim_refusal(begin: str, f: w.Fields, symbol: str, side: Side, market: float, *, replace: bool) -> str | None:
    """Why the simulator refuses a request's trailing fields (copytui's reading made strict), or None.
    ``market``: the price the stop would trail (the bid for a sell, the ask for a buy)."""
    if not trails(f.get(EXEC_INST)):
        tag = next(t for t in _TRAIL_TAGS if t in f)
        return f"{tag_label(tag)} without ExecInst (18) a: the simulator takes it on a trailing stop only"
    if f.get(w.ORD_TYPE) != STOP:
        return f"ExecInst (18) a is taken on OrdType (40) 3 (stop) only, not {f.get(w.ORD_TYPE)!r}"
    if replace and w.STOP_PX in f:
        return "StopPx (99) in a replace of a trailing stop: the venue moves the stop, a replace sends the trail only"
    problem = _peg_instructions(begin, f)
    if problem:
        return problem
    offset = f.number(PEG_DIFFERENCE)
    if not offset:
        return f"a trailing stop needs PegDifference (211), its signed distance from the market (got {f.get(211)!r})"
    if offset * side.sign < 0:
        sign = "negative" if side is Side.SELL else "positive"
        return f"PegDifference (211) {offset:g} on a {side.value}: added to the market, a {side.value}'s is {sign}"
    if abs(offset) >= market:
        return f"PegDifference (211) {offset:g} reads as a price (the market is {market:g}), not a distance from it"
    inst = instrument(symbol)
    if abs(inst.round_price(offset) - offset) > 1e-9:
        return f"PegDifference (211) {offset:g} is not on the tick grid ({inst.tick_size:g}): it is in price, not ticks"
    return None


def _peg_instructions(begin: str, f: w.Fields) -> str | None:
    """Why PegMoveType (835) / PegOffsetType (836) are refused, or None."""
    for tag in (PEG_MOVE_TYPE, PEG_OFFSET_TYPE):
        if tag in f and begin == w.FIX42:
            return f"{tag_label(tag)} is not a FIX 4.2 tag"
    move, unit = f.get(PEG_MOVE_TYPE), f.get(PEG_OFFSET_TYPE)
    if move not in (None, "0"):
        return f"PegMoveType (835) {move!r}: a trailing peg floats (0); a fixed one does not trail"
    if unit not in (None, PRICE_OFFSET):
        return f"PegOffsetType (836) {unit!r}: the simulator takes the offset in price (0) only"
    return None
