"""Requests with a RequestID and their answers: gathered until the server says they are complete.

DTC answers a list request with one message per item, each carrying TotalNumberMessages (ORDER_UPDATE:
TotalNumMessages) and MessageNumber; an empty list is one message with its "no items" flag set
(NoOrders, NoOrderFills, NoPositions, NoAccountBalances). A reject message of the request's kind
ends it with the server's RejectText.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from adapters.base import BrokerError
from adapters.sierrachart import messages as m
from adapters.sierrachart.wire import Msg

NO_MORE = {
    Msg.ORDER_UPDATE: "NoOrders",
    Msg.HISTORICAL_ORDER_FILL_RESPONSE: "NoOrderFills",
    Msg.POSITION_UPDATE: "NoPositions",
    Msg.ACCOUNT_BALANCE_UPDATE: "NoAccountBalances",
}
"""The flag of an answer that says the list is empty."""
REJECTS = {
    Msg.OPEN_ORDERS_REJECT,
    Msg.HISTORICAL_ORDER_FILLS_REJECT,
    Msg.CURRENT_POSITIONS_REJECT,
    Msg.ACCOUNT_BALANCE_REJECT,
}
ANSWERS = {*NO_MORE, Msg.TRADE_ACCOUNT_RESPONSE, *REJECTS}
"""Message types that answer a request (matched by RequestID; with RequestID 0 they are unsolicited)."""


def int_field(msg: dict[str, Any], key: str) -> int:
    value = msg.get(key)
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


@dataclass
class Collect:
    """The answers to one request, gathered until the server says they are complete."""

    future: asyncio.Future[list[dict[str, Any]]]
    items: list[dict[str, Any]] = field(default_factory=list)

    def add(self, msg: dict[str, Any]) -> None:
        if self.future.done():
            return
        t = msg["Type"]
        if t in REJECTS:
            self.future.set_exception(BrokerError(f"Sierra Chart refused the request: {m.reject_text(msg)}"))
            return
        flag = NO_MORE.get(t)
        if flag is not None and int_field(msg, flag) == 1:
            self.future.set_result(self.items)
            return
        self.items.append(msg)
        total = int_field(msg, "TotalNumMessages" if t == Msg.ORDER_UPDATE else "TotalNumberMessages")
        if total <= 0 or int_field(msg, "MessageNumber") >= total or len(self.items) >= total:
            self.future.set_result(self.items)
