"""The order endpoints of the Tradovate simulator over the paper exchange, and the ``props`` they push.

``order/placeorder|placeoco|modifyorder|cancelorder|liquidateposition`` are validated (sim_bodies.py),
then carried out on the paper exchange. A TrailingStop becomes the paper exchange's trailing stop,
its trail the request's ``pegDifference`` or, without one, the distance from the market to its
``stopPrice``; the forms copytui did not choose are refused naming the field (trailing.py), and so
is a modify that would change a trailing stop beyond its quantity. placeOCO's legs are one paper
OCO group and each leg's ``ocoId`` names the other (the reference leaves open what the field holds;
the adapter reads every likely form, see oco_links.py); each leg's ``New`` command carries its own
``clOrdId`` (the body's, and ``other.clOrdId``). The reference says only that a fill of one leg
cancels the other; the rest is guessed here: a partial fill shrinks the other leg to what is left
of the filled one (a new orderVersion, as a modify), and a leg cancelled alone leaves the other
working (the safer guess for a follower: a leader cancelling its target keeps the follower's stop;
if Tradovate cancels both, a live follower with ``native_oco`` would lose that stop). placeOSO is
not simulated: whether its brackets exist (Suspended) before the entry fills is not in the reference.

The request being handled is a :class:`Command` that ties the paper events it causes to its
clOrdId; the ``props`` gathered meanwhile go out together once it is handled (one ``a[...]``
frame), a fill from the price walk at once. An account's duplicate and reorder faults act here, on
the wire: on the paper exchange a duplicated fill would become a second Tradovate fill with an id
of its own.
"""

from __future__ import annotations

import asyncio
import random
import secrets
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from adapters.base import OrderRejected
from adapters.paper.exchange import PaperAccount
from adapters.tradovate.entities import (
    ACTION_TO_SIDE,
    ORDER_TYPE_FROM_WIRE,
    ORDER_TYPE_TO_WIRE,
    TIF_FROM_WIRE,
    root_symbol,
)
from adapters.tradovate.frames import encode_array
from adapters.tradovate.sim_bodies import (
    ORDER_BODIES,
    CancelOrderBody,
    LiquidateBody,
    ModifyOrderBody,
    PlaceOcoBody,
    PlaceOrderBody,
    bad_body,
    failure,
)
from adapters.tradovate.sim_ledger import Command
from adapters.tradovate.trailing import NON_QTY_MODIFY, peg_refusal
from copytui.models import AccountEvent, OrderType, Side

if TYPE_CHECKING:
    from adapters.tradovate.simulator import SimAccount, TradovateSimulator

ORDER_ENDPOINTS = {
    "order/placeorder", "order/placeoco", "order/modifyorder", "order/cancelorder", "order/liquidateposition",
}  # fmt: skip


class SimOrders:
    def __init__(self, sim: TradovateSimulator, seed: int) -> None:
        self.sim = sim
        self._rng = random.Random(seed + 11)
        self._cmd: Command | None = None
        self._outbox: dict[int, list[dict[str, Any]]] = {}
        self._wire_faults: dict[int, tuple[float, float]] = {}  # account id -> (duplicate, reorder) of props

    def move_wire_faults(self, account_id: int, paper: PaperAccount) -> None:
        """The account's duplicate and reorder faults, taken off the paper exchange onto its props."""
        if paper.faults.duplicate_prob or paper.faults.reorder_prob:
            self._wire_faults[account_id] = (paper.faults.duplicate_prob, paper.faults.reorder_prob)
            paper.faults = replace(paper.faults, duplicate_prob=0.0, reorder_prob=0.0)

    # ------------------------------------------------------------ requests
    async def handle(self, endpoint: str, mine: set[int], body: Any) -> tuple[int, Any]:
        """One order request of a user whose accounts are ``mine``: (status, answer)."""
        sim = self.sim
        if not isinstance(body, dict):
            return 400, {"errorText": f"{endpoint} needs a JSON body"}
        try:
            req = ORDER_BODIES[endpoint].model_validate(body)
        except ValidationError as exc:
            return bad_body(endpoint, exc)
        if isinstance(req, PlaceOrderBody) and req.accountId is None and req.spec is None:
            return 400, {"errorText": f"{endpoint}: accountId or accountSpec is required"}
        acct_id = getattr(req, "accountId", None) or sim.ledger.order_account.get(getattr(req, "orderId", 0))
        if acct_id is None and isinstance(req, PlaceOrderBody):
            acct_id = getattr(sim.account_by_name.get(req.spec or ""), "id", None)
        if acct_id not in mine:
            return 200, failure("Unauthorized", f"account or order is not yours ({endpoint})")
        acct = sim.accounts[acct_id]
        latency = sim.exchange.accounts[acct.name].faults.latency_ms
        if latency:
            await asyncio.sleep(latency / 2000.0)
        try:
            if isinstance(req, PlaceOcoBody):
                return 200, self._place_oco(acct, req)
            if isinstance(req, PlaceOrderBody):
                return 200, self._place(acct, req)
            if isinstance(req, ModifyOrderBody):
                return 200, self._modify(acct, req)
            if isinstance(req, CancelOrderBody):
                return 200, self._cancel(acct, req)
            assert isinstance(req, LiquidateBody)
            return 200, self._liquidate(acct, req)
        finally:
            self._cmd = None
            self._flush(acct_id)

    def _place(self, acct: SimAccount, req: PlaceOrderBody, oco_group: str | None = None) -> dict[str, Any]:
        sim = self.sim
        if req.spec is not None and req.spec != acct.name:
            field = "accountSpec" if req.accountSpec else "accountName"
            return failure("UnknownReason", f"{field} {req.spec!r} is not account {acct.name!r}")
        contract = sim.ledger.contract_by_name.get(req.symbol)
        if contract is None:
            return failure("InvalidContract", f"unknown contract {req.symbol!r}")
        otype = ORDER_TYPE_FROM_WIRE.get(req.orderType)
        if otype is None:
            return failure("Unsupported", f"the simulator does not trade {req.orderType} orders")
        seen = sim.ledger.clordids.get(acct.id, {})
        paper_id = req.clOrdId
        if req.clOrdId and req.clOrdId in seen:
            if sim.faults.unique_clordid:
                return failure("UnknownReason", f"duplicate clOrdId {req.clOrdId}")
            paper_id = f"{req.clOrdId}~{secrets.token_hex(3)}"  # the worst case: a second order
        trail = None
        if otype is OrderType.TRAILING_STOP:
            found = self._trail(req, root_symbol(contract["name"]))
            if isinstance(found, dict):
                return found
            trail = found
        cmd = self._cmd = Command(acct.id, "New", req.clOrdId, peg_given=req.pegDifference is not None)
        try:
            sim.exchange.submit(
                acct.name,
                symbol=root_symbol(contract["name"]),
                side=ACTION_TO_SIDE[req.action],
                qty=req.orderQty,
                order_type=otype,
                price=req.price,
                stop_price=req.stopPrice,
                tif=TIF_FROM_WIRE.get(req.timeInForce or "Day") or next(iter(TIF_FROM_WIRE.values())),
                client_order_id=paper_id,
                oco_group=oco_group,
                trail=trail,
            )
        except OrderRejected as exc:
            extra = {"orderId": cmd.order_id} if cmd.order_id else {}
            return failure("UnknownReason", str(exc), **extra)
        return {"orderId": cmd.order_id}

    def _trail(self, req: PlaceOrderBody, symbol: str) -> float | dict[str, Any]:
        """A TrailingStop's trail, or the failure answer that refuses it."""
        bid, ask = self.sim.exchange.quote(symbol)
        touch = bid if req.action == "Sell" else ask
        if req.pegDifference is not None:
            why = peg_refusal(symbol, req.pegDifference, touch)
            return failure("InvalidPrice", why) if why else req.pegDifference
        if req.stopPrice is None:
            return failure("InvalidPrice", "a TrailingStop needs pegDifference (its trail) or stopPrice (its start)")
        distance = touch - req.stopPrice if req.action == "Sell" else req.stopPrice - touch
        if distance <= 0:
            return failure("InvalidPrice", f"stopPrice {req.stopPrice:g} is on the wrong side of the market {touch:g}")
        return distance

    def _place_oco(self, acct: SimAccount, req: PlaceOcoBody) -> dict[str, Any]:
        """Both legs working, or neither: the second refused, the first is cancelled. Each leg's order
        entity is created with ``ocoId`` naming the other, so a reader knows the pair from its first props."""
        second = req.second()
        for leg in (req, second):
            if ORDER_TYPE_FROM_WIRE.get(leg.orderType) is None:
                return failure("Unsupported", f"the simulator does not trade {leg.orderType} orders")
        ledger = self.sim.ledger
        first_id, second_id = ledger.next_id("order"), ledger.next_id("order")
        ledger.reserved = [(first_id, {"ocoId": second_id}), (second_id, {"ocoId": first_id})]
        group = f"placeoco-{first_id}"
        try:
            out = self._place(acct, req, oco_group=group)
            if "failureReason" in out:
                return out
            other = self._place(acct, second, oco_group=group)
        finally:
            ledger.reserved = []
        first = self._paper_order(first_id)
        done = first is None or self.sim.exchange.accounts[acct.name].orders[first].status.final
        if "failureReason" in other and not done:
            self._cancel_leg(acct, first_id)
        elif "failureReason" not in other and done:
            self._cancel_leg(acct, second_id)  # the first leg filled on arrival, before its partner was in the group
        return other if "failureReason" in other else {"orderId": first_id, "ocoId": second_id}

    def _cancel_leg(self, acct: SimAccount, order_id: int) -> None:
        paper = self._paper_order(order_id)
        if paper is not None and not self.sim.exchange.accounts[acct.name].orders[paper].status.final:
            self._cmd = Command(acct.id, "Cancel", None, order_id=order_id)
            self.sim.exchange.cancel(acct.name, paper)

    def _paper_order(self, order_id: int) -> str | None:
        return next((p for p, o in self.sim.ledger.by_paper.items() if o == order_id), None)

    def _modify(self, acct: SimAccount, req: ModifyOrderBody) -> dict[str, Any]:
        paper = self._paper_order(req.orderId)
        if paper is None:
            return failure("UnknownReason", f"no order {req.orderId}")
        current = self.sim.ledger.latest_version.get(req.orderId, {})
        if current.get("orderType") == "TrailingStop" or req.orderType == "TrailingStop":
            why = _trailing_change(current, req)
            if why:
                return failure(NON_QTY_MODIFY, why)
        self._cmd = Command(acct.id, "Modify", req.clOrdId, order_id=req.orderId)
        try:
            self.sim.exchange.modify(acct.name, paper, qty=req.orderQty, price=req.price, stop_price=req.stopPrice)
        except OrderRejected as exc:
            return failure("UnknownReason", str(exc))
        return {"commandId": self.sim.ledger.next_id("command")}

    def _cancel(self, acct: SimAccount, req: CancelOrderBody) -> dict[str, Any]:
        paper = self._paper_order(req.orderId)
        if paper is None:
            return failure("UnknownReason", f"no order {req.orderId}")
        self._cmd = Command(acct.id, "Cancel", req.clOrdId, order_id=req.orderId)
        try:
            self.sim.exchange.cancel(acct.name, paper)
        except OrderRejected as exc:
            return failure("TooLate", str(exc))
        return {"commandId": self.sim.ledger.next_id("command")}

    def _liquidate(self, acct: SimAccount, req: LiquidateBody) -> dict[str, Any]:
        contract = self.sim.ledger.contracts.get(req.contractId)
        if contract is None:
            return failure("InvalidContract", f"unknown contract id {req.contractId}")
        cmd = self._cmd = Command(acct.id, "Liquidate", None)
        self.sim.exchange.flatten(acct.name, root_symbol(contract["name"]))
        ids = cmd.closing_order_ids
        return {"orderId": ids[-1]} if ids else {}

    # -------------------------------------------------------- paper events
    def on_paper(self, account_id: int, ev: AccountEvent) -> None:
        props = self.sim.ledger.translate(account_id, ev, self._cmd)
        self._outbox.setdefault(account_id, []).extend(props)
        if self._cmd is None:
            self._flush(account_id)  # a fill from the price walk, a manual trade: pushed at once

    def _flush(self, account_id: int) -> None:
        items = self._outbox.pop(account_id, [])
        if not items:
            return
        faults = self.sim.faults
        dup, reorder = self._wire_faults.get(account_id, (0.0, 0.0))
        dup, reorder, r = max(dup, faults.duplicate_props), max(reorder, faults.reorder_props), self._rng
        if dup:
            items = [x for item in items for x in ([item, item] if r.random() < dup else [item])]
        if reorder:
            for i in range(len(items) - 1):
                if r.random() < reorder:
                    items[i], items[i + 1] = items[i + 1], items[i]
        self.sim.sockets.push(account_id, encode_array(items))

    # -------------------------------------------------------- trader's side
    def place_raw(
        self, acct: SimAccount, side: Side, qty: int, symbol: str, order_type: OrderType, price: float | None
    ) -> int | None:
        """Place an order the way the REST endpoint would, without a request (tests play a leader)."""
        body = PlaceOrderBody(
            accountSpec=acct.name,
            accountId=acct.id,
            action="Buy" if side is Side.BUY else "Sell",
            symbol=self.sim.ledger.contract_of(symbol)["name"],
            orderQty=qty,
            orderType=ORDER_TYPE_TO_WIRE[order_type],
            price=price,
        )
        try:
            out = self._place(acct, body)
        finally:
            self._cmd = None
            self._flush(acct.id)
        order_id = out.get("orderId")
        return order_id if isinstance(order_id, int) else None


def _trailing_change(current: dict[str, Any], req: ModifyOrderBody) -> str | None:
    """What a modify would change on a TrailingStop beyond its quantity (Tradovate refuses that, and
    a modify replaces the whole version: a field left out is a change too); None when nothing."""
    if current.get("orderType") != req.orderType:
        return f"orderType {req.orderType}: the order is a {current.get('orderType')}, and stays one"
    if req.pegDifference != current.get("pegDifference"):
        return f"pegDifference {req.pegDifference}: the order's is {current.get('pegDifference')}, and stays so"
    if req.stopPrice is not None or req.price is not None:
        return "stopPrice / price: the broker moves a trailing stop itself"
    return None
