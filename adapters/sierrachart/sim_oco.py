"""The simulator's OCO pairs and brackets: SUBMIT_NEW_OCO_ORDER (201) as DTC describes it.

DTC (Order Entry and Modification Messages): the two orders of a pair are linked; "when one of the
orders is filled or canceled, the other order will be canceled", and a partial fill of one reduces
the other by the fill (PartialFillHandling REDUCE_QUANTITY, what this simulator does when it is
unset). Each leg has its own ServerOrderID and is changed and cancelled on its own; a client's
cancel of one leg cancels the other too, unless the pair has a parent. A bracket is a
SUBMIT_NEW_SINGLE_ORDER with IsParentOrder 1, held by the server until the SUBMIT_NEW_OCO_ORDER whose
ParentTriggerClientOrderID names it; then the parent goes to the market and the legs wait
(ORDER_STATUS_PENDING_CHILD: "the parent order has not yet filled"). Every ORDER_UPDATE of a leg
names the other leg in OCOLinkedOrderServerOrderID and the parent in ParentServerOrderID.

The paper exchange keeps the working legs as one of its OCO groups (a fill reduces or cancels the
other leg). A leg is given its ServerOrderID here when the pair is accepted, and keeps it once it
reaches the paper exchange (found there by its ClientOrderID): a held leg has no paper order yet.

Where DTC is silent, this simulator chooses: the held legs go to the market once the parent has
filled completely, each with its own quantity; a parent that ends any other way (cancelled,
rejected, cancelled after a part fill) cancels its held legs. A leg refused by the exchange's risk
check ends its partner (rejected if it never worked, cancelled if it did). PartialFillHandling
IMMEDIATE_CANCEL and UseOffsets are refused ("A Server is not required to support this field").
That a client's cancel of one leg cancels its partner, and that a part fill shrinks the partner
rather than cancelling it, follow DTC's page; what Sierra Chart's own server does (it may depend on
the trading service behind it) has not been checked against one: a guess, which is why a follower's
``native_oco`` is off by default.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from adapters.base import OrderRejected
from adapters.paper.exchange import PaperExchange, PaperOrder, run_unique_order_base
from adapters.sierrachart.sim_fields import SIDE_OUT, TIF_OUT, TYPE_OUT, Refused, prices
from adapters.sierrachart.wire import Msg, Reason, Status
from copytui.models import AccountEvent, EventKind, OrderStatus, OrderType, Side, TimeInForce

Say = Callable[[str, int, dict[str, Any]], None]
"""Sends one message to every connection that follows an account."""
_ENDS = (EventKind.FILL, EventKind.ORDER_CANCELLED, EventKind.ORDER_REJECTED)


@dataclass
class Leg:
    server_id: str
    account: str
    client_id: str
    symbol: str
    """copytui's symbol."""
    side: Side
    order_type: OrderType
    qty: int
    limit: float | None
    stop: float | None
    tif: TimeInForce
    group: str
    """The paper exchange's OCO group of the pair."""
    partner: str = ""
    parent: str = ""
    held: bool = True
    """Not at the paper exchange (yet): waiting for its parent's fill, or ended before it got there."""
    ended: int = 0
    """The status a held leg ended with (0: still waiting)."""


class Pairs:
    """The OCO legs of every account, the bracket parents waiting for their pair, and the legs
    waiting for their parent's fill."""

    def __init__(self, exchange: PaperExchange, contracts: dict[str, str], say: Say) -> None:
        self.exchange, self.contracts, self.say = exchange, contracts, say
        self.legs: dict[str, Leg] = {}
        self.by_client: dict[tuple[str, str], str] = {}
        """(account, ClientOrderID) -> the leg's ServerOrderID."""
        self.parents: dict[tuple[str, str], dict[str, Any]] = {}
        """(account, ClientOrderID) -> a parent order (IsParentOrder 1) waiting for its OCO pair."""
        self.waiting: dict[str, list[str]] = {}
        """A parent's paper order id -> its legs, held until it fills."""
        self._ids = itertools.count(run_unique_order_base())  # unique across runs, as the paper exchange's

    # ------------------------------------------------------------ ids and fields
    def server_id(self, account: str, order_id: str | None, client_id: str | None) -> str:
        """The ServerOrderID of a paper order: a leg's own, else the paper exchange's id."""
        return self.by_client.get((account, client_id or ""), order_id or "")

    def ids(self, order: PaperOrder) -> dict[str, str]:
        """What an ORDER_UPDATE of ``order`` says about its ids: a leg's ServerOrderID and links."""
        sid = self.by_client.get((order.account, order.client_order_id or ""))
        return self.links(self.legs[sid]) if sid is not None else {}

    @staticmethod
    def links(leg: Leg) -> dict[str, str]:
        return {"ServerOrderID": leg.server_id, "OCOLinkedOrderServerOrderID": leg.partner,
                "ParentServerOrderID": leg.parent}  # fmt: skip

    def held_fields(self, leg: Leg, status: int, reason: int) -> dict[str, Any]:
        """An ORDER_UPDATE of a held leg (it has no paper order to speak for it)."""
        fields: dict[str, Any] = {
            "Symbol": self.contracts[leg.symbol], "Exchange": "CME", "ClientOrderID": leg.client_id,
            "OrderStatus": status, "OrderUpdateReason": reason, "OrderType": TYPE_OUT[leg.order_type],
            "BuySell": SIDE_OUT[leg.side], "TimeInForce": TIF_OUT[leg.tif], "OrderQuantity": leg.qty,
            "FilledQuantity": 0, "RemainingQuantity": leg.qty, "TradeAccount": leg.account,
            "LatestTransactionDateTime": time.time(), **prices(leg.order_type, leg.limit, leg.stop),
        }  # fmt: skip
        return fields | self.links(leg)

    def _tell(self, leg: Leg, status: int, reason: int, why: str = "") -> None:
        fields = self.held_fields(leg, status, reason)
        if why:
            fields["InfoText"] = why[:95]
        self.say(leg.account, Msg.ORDER_UPDATE, fields)

    def paper(self, leg: Leg) -> PaperOrder | None:
        return None if leg.held else self.exchange.accounts[leg.account].by_client_id.get(leg.client_id)

    def find(self, server_id: str, client_id: str) -> Leg | None:
        """The leg a cancel or replace names (by ServerOrderID, else by ClientOrderID)."""
        if server_id:
            return self.legs.get(server_id)
        return next((self.legs[s] for (_, c), s in self.by_client.items() if c == client_id), None)

    def held_open(self, account: str) -> list[Leg]:
        return [leg for leg in self.legs.values() if leg.account == account and leg.held and not leg.ended]

    # ------------------------------------------------------------ requests
    def hold_parent(self, account: str, order: dict[str, Any]) -> None:
        """A SUBMIT_NEW_SINGLE_ORDER with IsParentOrder 1: held until its OCO pair comes."""
        self.parents[(account, order["client_order_id"])] = order

    def take_parent(self, account: str, client_id: str) -> dict[str, Any] | None:
        return self.parents.pop((account, client_id), None)

    def add(self, account: str, orders: tuple[dict[str, Any], dict[str, Any]], parent: PaperOrder | None) -> None:
        """Two checked legs (``exchange.submit`` keywords) as one OCO pair; sent to the market now,
        or, with a ``parent`` already at the exchange, once it has filled."""
        sids = (f"O{next(self._ids)}", f"O{next(self._ids)}")
        legs = [
            Leg(sid, account, o["client_order_id"], o["symbol"], o["side"], o["order_type"], o["qty"], o["price"],
                o["stop_price"], o["tif"], group=f"dtc-oco-{sids[0]}", partner=other,
                parent=parent.id if parent is not None else "")
            for sid, other, o in zip(sids, reversed(sids), orders, strict=True)
        ]  # fmt: skip
        for leg in legs:
            self.legs[leg.server_id] = leg
            self.by_client[(account, leg.client_id)] = leg.server_id
        if parent is None:
            self._activate(legs)
            return
        for leg in legs:
            self._tell(leg, Status.PENDING_CHILD, Reason.NEW_ORDER_ACCEPTED)
        self.waiting[parent.id] = list(sids)
        self.settle()  # a market parent has filled already

    def cancel_held(self, leg: Leg) -> None:
        """A client's cancel of a leg still waiting for its parent (its partner stays: it has a parent)."""
        if leg.ended:
            raise Refused(f"order {leg.server_id} is not working")
        self._end(leg, Status.CANCELED, "")

    def replace_held(self, leg: Leg, qty: int | None, limit: float | None, stop: float | None) -> None:
        if leg.ended:
            raise Refused(f"order {leg.server_id} is not working")
        if qty is not None and qty <= 0:
            raise Refused(f"new quantity {qty} is not positive")
        leg.qty = qty or leg.qty
        leg.limit = limit if limit is not None else leg.limit
        leg.stop = stop if stop is not None else leg.stop
        self._tell(leg, Status.PENDING_CHILD, Reason.ORDER_CANCEL_REPLACE_COMPLETE)

    def cancelled_by_client(self, order: PaperOrder) -> None:
        """A client cancelled ``order``: the other leg of a pair without a parent goes too."""
        sid = self.by_client.get((order.account, order.client_order_id or ""))
        leg = self.legs.get(sid or "")
        if leg is None or leg.parent:
            return
        other = self.paper(self.legs[leg.partner])
        if other is not None and not other.status.final:
            self.exchange.cancel(other.account, other.id)

    # ------------------------------------------------------------ the parents' outcomes
    def after(self, ev: AccountEvent) -> None:
        """Each paper exchange event, once it went out: a parent that ended settles its legs, after
        every message of the event that ended it (soon, never in the middle of its emission)."""
        if ev.kind not in _ENDS or ev.order_id not in self.waiting:
            return
        try:
            asyncio.get_running_loop().call_soon(self.settle)
        except RuntimeError:  # driven without an event loop (a synchronous test)
            self.settle()

    def settle(self) -> None:
        for parent_id, sids in list(self.waiting.items()):
            legs = [self.legs[s] for s in sids]
            parent = self.exchange.accounts[legs[0].account].orders[parent_id]
            if not parent.status.final:
                continue
            del self.waiting[parent_id]
            if parent.status is OrderStatus.FILLED:
                self._activate(legs)
                continue
            for leg in legs:
                if not leg.ended:
                    self._end(leg, Status.CANCELED, f"parent order {parent_id} {parent.status.value}")

    def _activate(self, legs: list[Leg]) -> None:
        """The legs to the market, one after the other: a leg whose partner filled completely on
        arrival is cancelled, one whose partner filled in part keeps at most the partner's rest."""
        for leg in legs:
            if leg.ended:
                continue
            partner = self.legs[leg.partner]
            live = self.paper(partner)
            if live is not None and live.status is OrderStatus.FILLED:
                self._end(leg, Status.CANCELED, f"OCO: {partner.server_id} filled")
                continue
            if live is not None and live.filled:
                leg.qty = min(leg.qty, live.leaves)
            leg.held = False
            try:
                self.exchange.submit(
                    leg.account, symbol=leg.symbol, side=leg.side, qty=leg.qty, order_type=leg.order_type,
                    price=leg.limit, stop_price=leg.stop, tif=leg.tif, client_order_id=leg.client_id,
                    oco_group=leg.group,
                )  # fmt: skip
            except OrderRejected as exc:  # the exchange's risk check: it told every listener already
                if self.paper(leg) is None:
                    leg.held = True
                    self._end(leg, Status.REJECTED, str(exc))
                self._end_partner(partner, f"its OCO partner {leg.server_id} was rejected")

    def _end_partner(self, partner: Leg, why: str) -> None:
        live = self.paper(partner)
        if live is not None:
            if not live.status.final:
                self.exchange.cancel(live.account, live.id)
        elif not partner.ended:
            self._end(partner, Status.REJECTED, why)

    def _end(self, leg: Leg, status: Status, why: str) -> None:
        leg.ended = status
        reason = Reason.NEW_ORDER_REJECTED if status == Status.REJECTED else Reason.ORDER_CANCELED
        self._tell(leg, status, reason, why)
