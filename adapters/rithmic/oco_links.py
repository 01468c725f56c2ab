"""A follower bracket's OCO kept at Rithmic: its legs linked with RequestLinkOrders (344).

The engine copies a leader's bracket (stop and target, one leader OCO group) as one follower OCO
group: each leg is a FollowerOrder carrying the group, placed one by one as the leader's orders
come. With ``options.native_oco`` the adapter declares ``Capabilities.brackets`` and, each time a
leg of a group is accepted while another leg of it is working, asks Rithmic to link every working
leg of the group by basket id. The request is written at once, before the leg's place returns, but
its answer is awaited apart: the leg's own answer is not held back by it (the engine gives an order
``order_timeout_s`` to be answered). Rithmic then ends the other leg when one fills, without waiting for
copytui, and copytui sends no cancel of its own. That is our reading: Rithmic's R|Protocol
Reference Guide names template 344 "Link Orders Request" and says no more, and its order
notification (351) has a LINK_ORDERS_FAILED notify type and a ``linked_basket_ids`` field.

A link that fails (answered with an rp_code other than "0", unanswered, or told later by a 351
LINK_ORDERS_FAILED) leaves that group's legs apart while the engine counts on Rithmic: the engine
reads ``Capabilities.brackets`` once, for the whole adapter, so it cannot emulate one group. The
failure is reported as a refusal at the edge (``health.drop``: the engine journals and alerts it)
and logged; the other leg then goes when the leader's own OCO cancel is copied, not the moment the
follower's leg fills.

Legs are remembered by client order id and their basket ids read from the book when a link is
sent, so a leg whose place was ambiguous but reached Rithmic (a notification named it) is linked
with the next leg.
"""

from __future__ import annotations

import logging

from adapters.base import BrokerError, Health
from adapters.kit.tasks import TaskGroup
from adapters.rithmic.book import Book
from adapters.rithmic.enums import InfraType
from adapters.rithmic.order_messages import RequestLinkOrders, RithmicOrderNotification
from adapters.rithmic.session import RithmicSession
from copytui.models import AccountEvent, EventKind, OrderStatus

log = logging.getLogger("copytui.adapters.rithmic")

_FILLED = (OrderStatus.FILLED, OrderStatus.PARTIALLY_FILLED)


class OcoLinks:
    """One account's follower OCO groups and what Rithmic was asked to link."""

    def __init__(self, account: str, health: Health) -> None:
        self.account = account
        self.health = health
        self.legs: dict[str, list[str]] = {}
        """Follower OCO group -> its legs' client order ids, in the order they were placed."""
        self.sent: dict[str, tuple[str, ...]] = {}
        """Group -> the basket ids its latest link request named."""
        self.group_of: dict[str, str] = {}
        """Basket id -> the group a link request named it in."""
        self.failed: set[str] = set()
        """Groups whose latest link failed (each reported once)."""
        self.linked: set[str] = set()
        """Groups whose latest link Rithmic confirmed: it keeps their OCO (``keeps``)."""
        self.tasks = TaskGroup()
        """Link requests waiting for their answers."""

    def working_baskets(self, group: str, book: Book) -> tuple[str, ...]:
        out: list[str] = []
        for coid in self.legs.get(group, ()):
            t = book.by_client_id(coid)
            if t is not None and not t.status.final:
                out.append(t.basket_id)
        return tuple(out)

    def leg_accepted(
        self, group: str, coid: str, session: RithmicSession | None, account_id: str | None, book: Book | None
    ) -> None:
        """A leg of ``group`` was accepted: link the group's working legs once two or more are (the
        request is written now, its answer read by a task of its own)."""
        if book is None:
            return
        self._forget_finished(book)
        legs = self.legs.setdefault(group, [])
        if coid not in legs:
            legs.append(coid)
        baskets = self.working_baskets(group, book)
        if len(baskets) < 2 or baskets == self.sent.get(group):
            return
        self.sent[group] = baskets
        self.failed.discard(group)
        self.linked.discard(group)  # until this link is confirmed, copytui keeps the group
        for basket in baskets:
            self.group_of[basket] = group
        if session is None or account_id is None:
            self._failed(group, "the session is down")
            return
        self.tasks.spawn_eager(self._link(session, account_id, group, baskets), f"rithmic-link-{self.account}")

    async def _link(self, session: RithmicSession, account_id: str, group: str, baskets: tuple[str, ...]) -> None:
        request = RequestLinkOrders(
            fcm_id=[session.fcm_id], ib_id=[session.ib_id], account_id=[account_id], basket_id=list(baskets)
        )
        try:
            answer = await session.link(InfraType.ORDER_PLANT).call(request, what=f"link of OCO group {group}")
        except BrokerError as exc:  # not connected, the socket lost, or no answer in time
            self._failed(group, f"no answer: {exc}")
            return
        if not answer.ok:
            self._failed(group, f"refused: {answer.text}")
            return
        if self.sent.get(group) == baskets:  # not overtaken by a later link of the group
            self.linked.add(group)
        log.info("Rithmic %s: orders %s linked (OCO group %s)", self.account, ", ".join(baskets), group)

    def link_failed(self, note: RithmicOrderNotification) -> None:
        """A 351 LINK_ORDERS_FAILED: reported once for the group a link request named the order in."""
        said = " ".join(w for w in (note.text, note.report_text, note.status) if w) or "no text"
        group = self.group_of.get(note.basket_id)
        if group is None:
            why = f"Rithmic says a link of order {note.basket_id} failed ({said}); it is not one copytui linked"
            self.health.drop(why)
            log.warning("Rithmic %s: %s", self.account, why)
        elif group not in self.failed:
            self._failed(group, f"LINK_ORDERS_FAILED on order {note.basket_id}: {said}")

    def explain(self, events: list[AccountEvent], book: Book) -> list[AccountEvent]:
        """A linked leg's cancel after another leg of its group filled says so (the desk and the
        journal show why the follower's order ended)."""
        out: list[AccountEvent] = []
        for ev in events:
            group = self.group_of.get(ev.order_id or "") if ev.kind is EventKind.ORDER_CANCELLED else None
            filled = [
                t.user_tag or t.basket_id
                for b in self.sent.get(group or "", ())
                if b != ev.order_id and (t := book.orders.get(b)) is not None and t.status in _FILLED
            ]
            if group is not None and group not in self.failed and filled:
                said = f"its leg {', '.join(filled)} filled (linked at Rithmic, OCO group {group})"
                ev = ev.model_copy(update={"reason": f"{ev.reason or 'cancelled'}: {said}"})
            out.append(ev)
        return out

    async def close(self) -> None:
        """The adapter disconnects: link answers still awaited are no longer read."""
        await self.tasks.cancel_all()

    def keeps(self, group: str) -> bool:
        """Whether Rithmic keeps ``group``'s OCO: its latest link was confirmed and has not failed since."""
        return group in self.linked and group not in self.failed

    def _failed(self, group: str, why: str) -> None:
        self.failed.add(group)
        self.linked.discard(group)
        text = (
            f"the legs of OCO group {group} are not known to be linked at Rithmic ({why}): copytui keeps "
            "this group itself (a filled leg cancels or shrinks the other)"
        )
        self.health.drop(text)
        log.warning("Rithmic %s: %s", self.account, text)

    def _forget_finished(self, book: Book) -> None:
        """Groups with no working leg left are done with: their links are forgotten."""
        for group in [g for g in self.legs if not self.working_baskets(g, book)]:
            del self.legs[group]
            self.failed.discard(group)
            for basket in self.sent.pop(group, ()):
                self.group_of.pop(basket, None)
