"""A follower's bracket as one Tradovate OCO pair: ``/order/placeOCO`` (``options.native_oco``).

Why one request: Tradovate links working orders only as they are placed (placeOCO, placeOSO); the
reference lists no request that links two orders already working. So the engine hands both legs of
a mirrored bracket over together (``BrokerAdapter.place_oco``) and they go out as the first leg's
placeorder body with the second as ``other``; Tradovate then cancels the other leg when one fills.

How each leg stays findable by its client id. Tradovate's Order entity has no ``clOrdId``: the
client id lives on the order's ``New`` command (see ``book.AccountBook.clordids``), which the sync
snapshot and ``command/list`` carry, so it survives a reconnect and a restart. The first leg's
``clOrdId`` is the body's, the second's is ``other.clOrdId`` (the reference lists ``clOrdId`` among
``other``'s fields; that Tradovate records it on the second leg's ``New`` command is our reading,
unverified). The answer ``{orderId, ocoId}`` is read as the first leg's and the second leg's order
ids; where the book already knows the second leg (by its client id, or as the first leg's OCO
partner), the book is trusted over that reading.

What is guessed, and why ``native_oco`` is off by default: the reference says a fill of one leg
cancels the other, nothing about what a cancel of one leg does to the other, nor whether a partial
fill shrinks the other. The simulator's answers (a cancel leaves the other working, a partial fill
shrinks it) are ours; with the option off copytui keeps the OCO itself.
"""

from __future__ import annotations

import time
from typing import Any

from adapters.base import AmbiguousOutcome, BrokerError, OrderRejected
from adapters.tradovate.contracts import Contracts
from adapters.tradovate.orders import OrderPath, OrderSession
from copytui.models import FollowerOrder, OrderAck, OrderAction, OrderStatus

OTHER_FIELDS = ("action", "clOrdId", "orderType", "price", "stopPrice", "pegDifference", "timeInForce")
"""What ``other`` takes of the second leg's placeorder body: the rest (account, symbol, quantity)
is the pair's, named once in the body."""


def unpairable(first: FollowerOrder, second: FollowerOrder) -> str | None:
    """Why two legs cannot be one placeOCO request (None when they can)."""
    if first.action is not OrderAction.PLACE or second.action is not OrderAction.PLACE:
        return "only new orders go out as a pair"
    if first.oco_group is None or first.oco_group != second.oco_group:
        return "the legs are not of one OCO group"
    if first.symbol != second.symbol:
        return "placeOCO names one contract for both legs"
    if first.qty != second.qty:
        return f"placeOCO has one quantity for both legs ({first.qty} and {second.qty})"
    return None


class OcoPairs:
    """placeOCO for the order path. Which groups Tradovate then keeps is the engine's to know (it
    saw both acks): the adapter keeps no second record of it."""

    def __init__(self, path: OrderPath, session: OrderSession, contracts: Contracts, *, enabled: bool) -> None:
        self.path = path
        self.session = session
        self.contracts = contracts
        self.enabled = enabled

    async def place(self, first: FollowerOrder, second: FollowerOrder) -> tuple[OrderAck, OrderAck]:
        if not self.enabled:
            raise BrokerError(f"tradovate {self.session.account}: OCO pairs need options.native_oco: true")
        why = unpairable(first, second)
        if why is not None:  # nothing sent: the engine sends each leg alone and keeps the pair itself
            raise BrokerError(f"tradovate {self.session.account}: not one placeOCO: {why}")
        one, two = await self.path.once_all((first, second), lambda: self._place(first, second))
        return one, two

    def _refused(self, first: FollowerOrder, second: FollowerOrder, sent: int, why: str) -> list[OrderAck]:
        return [self.path.ack(leg, sent, OrderStatus.REJECTED, reason=why) for leg in (first, second)]

    async def _place(self, first: FollowerOrder, second: FollowerOrder) -> list[OrderAck]:
        try:
            contract = await self.contracts.name_for(first.symbol)
        except OrderRejected as exc:
            return self._refused(first, second, time.perf_counter_ns(), str(exc))
        body, other = self.path.place_body(first, contract), self.path.place_body(second, contract)
        if isinstance(body, str) or isinstance(other, str):
            why = body if isinstance(body, str) else other
            return self._refused(first, second, time.perf_counter_ns(), f"placeOCO not sent: {why}")
        body["other"] = {k: other[k] for k in OTHER_FIELDS if k in other}
        sent, status, data = await self.path.command(
            "order/placeoco", body, first.client_order_id, also=second.client_order_id
        )
        failure = self.path.failure(status, data)
        if failure is not None:
            return self._refused(first, second, sent, f"placeOCO refused: {failure}")
        first_id = data.get("orderId") if isinstance(data, dict) else None
        if not isinstance(first_id, int):
            raise AmbiguousOutcome(f"tradovate placeOCO answer has no orderId ({str(data)[:120]}); ask by client id")
        second_id = self._second_id(data, first_id, second.client_order_id)
        if second_id is None:
            raise AmbiguousOutcome(
                f"tradovate placeOCO answer names no second order ({str(data)[:120]}); ask by client id"
            )
        return [
            self.path.ack(leg, sent, self.path.status_of(oid, OrderStatus.WORKING), oid)
            for leg, oid in ((first, first_id), (second, second_id))
        ]

    def _second_id(self, data: dict[str, Any], first_id: int, coid: str) -> int | None:
        """The second leg's order id: the book's (by client id, else the first leg's one OCO
        partner), else the answer's ``ocoId`` as we read it."""
        book = self.session.book
        if book is not None:
            by_coid = book.clordids.get(coid)
            if by_coid is not None and by_coid != first_id:
                return by_coid
            group = book.oco.group(first_id)
            partners = [oid for oid in book.orders if oid != first_id and group and book.oco.group(oid) == group]
            if len(partners) == 1:
                return partners[0]
        oco_id = data.get("ocoId")
        return oco_id if isinstance(oco_id, int) and oco_id != first_id else None
