"""The simulator's bracket orders (RequestBracketOrder, 330) and the link fields of its notifications.

A bracket is an entry with a stop and/or a target ``*_ticks`` away from the entry's fill. The entry
is an ordinary paper order. Each time it fills, the legs are released for the quantity filled: the
first fill places them (opposite side: the target a limit, the stop a stop) as one OCO group of the
paper exchange, so a filled leg shrinks or cancels the other; a later fill grows the working legs
(told as a modify), or places a new pair if the first one is done. ``_STATIC`` types are treated as
the others (what they change at Rithmic is not public). The legs carry no ``user_tag``: the entry's
is the client's.

Refused (rp_code "3", nothing placed): an unknown ``bracket_type``, a stop or target without its
ticks, ``stop_quantity`` / ``target_quantity`` other than 0 or the entry's quantity (partial legs
are not simulated). Trailing, break-even and timed fields are not read.

Every 351/352 the simulator sends, for any order, says what the adapter reads
(:mod:`adapters.rithmic.oco_groups`): ``bracket_type`` on a bracket's entry and legs,
``original_basket_id`` = the entry's basket id on its legs, ``linked_basket_ids`` = the other
orders of its paper OCO group, comma separated (a bracket's other leg, or orders linked with 344).
A leg's very first notifications come before its partner exists and name no link yet: the leg's
``original_basket_id`` and two-legged ``bracket_type`` are what pair it from the start.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from adapters.paper.exchange import PaperExchange, PaperOrder
from adapters.rithmic import sim_orders
from adapters.rithmic.enums import BracketType
from adapters.rithmic.order_messages import ExchangeOrderNotification, RequestBracketOrder, RithmicOrderNotification
from adapters.rithmic.proto import Message
from adapters.rithmic.sim_orders import Desk, Refused
from copytui.instruments import instrument
from copytui.models import AccountEvent, EventKind, OrderType

WITH_STOP = {
    BracketType.STOP_ONLY,
    BracketType.TARGET_AND_STOP,
    BracketType.STOP_ONLY_STATIC,
    BracketType.TARGET_AND_STOP_STATIC,
}
WITH_TARGET = {
    BracketType.TARGET_ONLY,
    BracketType.TARGET_AND_STOP,
    BracketType.TARGET_ONLY_STATIC,
    BracketType.TARGET_AND_STOP_STATIC,
}


@dataclass
class Plan:
    """One bracket: its entry and the legs released so far."""

    account: str
    bracket_type: BracketType
    stop_ticks: int
    target_ticks: int
    entry: str = ""
    """The entry's paper order id (its basket id), once the paper exchange named it."""
    released: int = 0
    """The entry quantity legs were placed or grown for."""
    legs: list[str] = field(default_factory=list)
    """The paper ids of the current pair's legs."""
    pairs: int = 0


def plan_of(request: RequestBracketOrder) -> Plan:
    """The bracket a request asks for; Refused with the reason when the simulator cannot keep it."""
    try:
        kind = BracketType(request.bracket_type)
    except ValueError:
        raise Refused("3", f"bracket_type {request.bracket_type} is not one Rithmic lists") from None
    for wanted, ticks, qty, name in (
        (kind in WITH_STOP, request.stop_ticks, request.stop_quantity, "stop"),
        (kind in WITH_TARGET, request.target_ticks, request.target_quantity, "target"),
    ):
        if wanted and ticks <= 0:
            raise Refused("3", f"a {kind.name} bracket needs {name}_ticks above 0, got {ticks}")
        if wanted and qty not in (0, request.quantity):
            raise Refused("3", f"{name}_quantity {qty} differs from quantity {request.quantity}: not simulated")
    return Plan(sim_orders.account_of(request), kind, request.stop_ticks, request.target_ticks)


class Brackets:
    """The simulator's brackets, by account and paper order id."""

    def __init__(self, exchange: PaperExchange) -> None:
        self.exchange = exchange
        self.entries: dict[tuple[str, str], Plan] = {}
        self.leg_of: dict[tuple[str, str], Plan] = {}
        self._claiming: tuple[Plan, bool] | None = None
        """While an entry (True) or a leg (False) is submitted: the plan its first event names it in
        (the paper exchange tells the order's events before ``submit`` returns)."""

    def submit(self, desk: Desk, request: RequestBracketOrder) -> PaperOrder:
        plan = plan_of(request)
        self._claiming = (plan, True)
        try:
            entry = sim_orders.submit(self.exchange, desk, request)
        finally:
            self._claiming = None
        self._claim(plan, True, entry.id)
        if entry.filled:
            self._soon(plan)
        return entry

    def _claim(self, plan: Plan, is_entry: bool, order_id: str) -> None:
        if is_entry and not plan.entry:
            plan.entry = order_id
            self.entries[(plan.account, order_id)] = plan
        elif not is_entry and order_id not in plan.legs:
            plan.legs.append(order_id)
            self.leg_of[(plan.account, order_id)] = plan

    def told(self, account: str, ev: AccountEvent, msgs: list[Message]) -> None:
        """The notifications of one paper event are about to go: stamp their link fields, and after
        an entry's fill release its legs (once this event's notifications are out)."""
        order_id = ev.order_id or ""
        if self._claiming is not None and self._claiming[0].account == account:
            plan, is_entry = self._claiming
            if (account, order_id) not in self.entries and (account, order_id) not in self.leg_of:
                self._claim(plan, is_entry, order_id)
        self.stamp(account, order_id, msgs)
        entry = self.entries.get((account, order_id))
        if entry is not None and ev.kind is EventKind.FILL:
            self._soon(entry)

    def stamp(self, account: str, order_id: str, msgs: list[Message]) -> None:
        """Set ``bracket_type``, ``original_basket_id`` and ``linked_basket_ids`` on each 351/352."""
        plan = self.entries.get((account, order_id)) or self.leg_of.get((account, order_id))
        order = self.exchange.accounts[account].orders.get(order_id)
        group = order.oco_group if order is not None else None
        legs = self.exchange.accounts[account].oco_groups.get(group, []) if group else []
        linked = ",".join(o.id for o in legs if o.id != order_id)
        for msg in msgs:
            if isinstance(msg, RithmicOrderNotification | ExchangeOrderNotification):
                msg.linked_basket_ids = linked
                if plan is not None:
                    msg.bracket_type = plan.bracket_type
                    msg.original_basket_id = plan.entry if plan.entry != order_id else ""

    def _soon(self, plan: Plan) -> None:
        try:
            asyncio.get_running_loop().call_soon(self._release, plan)
        except RuntimeError:  # no loop (a synchronous caller): now
            self._release(plan)

    def _release(self, plan: Plan) -> None:
        acct = self.exchange.accounts[plan.account]
        entry = acct.orders[plan.entry]
        grow = entry.filled - plan.released
        if grow <= 0 or entry.avg_fill_price is None:
            return
        plan.released = entry.filled
        working = [acct.orders[leg] for leg in plan.legs if not acct.orders[leg].status.final]
        if working:
            for leg in working:
                self.exchange.modify(plan.account, leg.id, qty=leg.qty + grow)
            return
        plan.pairs += 1
        plan.legs = []
        group = f"bracket-{entry.id}" + (f"-{plan.pairs}" if plan.pairs > 1 else "")
        inst = instrument(entry.symbol)
        away = entry.side.sign * inst.tick_size
        legs: list[tuple[OrderType, float | None, float | None]] = []
        if plan.bracket_type in WITH_STOP:
            legs.append((OrderType.STOP, None, entry.avg_fill_price - away * plan.stop_ticks))
        if plan.bracket_type in WITH_TARGET:
            legs.append((OrderType.LIMIT, entry.avg_fill_price + away * plan.target_ticks, None))
        for order_type, price, stop in legs:
            self._claiming = (plan, False)
            try:
                leg = self.exchange.submit(
                    plan.account, symbol=entry.symbol, side=entry.side.opposite, qty=grow, order_type=order_type,
                    price=price, stop_price=stop, tif=entry.tif, oco_group=group,
                )  # fmt: skip
            finally:
                self._claiming = None
            self._claim(plan, False, leg.id)
            if leg.status.final:
                break  # filled at once: no other leg to pair it with
