"""The edge of the account's event stream: DTC messages in, AccountEvents out.

Every unsolicited message the link reads comes here: ORDER_UPDATE and POSITION_UPDATE are checked
(:mod:`adapters.sierrachart.messages`), settle the order request they answer, and go through the
:class:`~adapters.sierrachart.book.Book`; what it makes is put on the adapter's EventStream. A
message that cannot be read is skipped and counted (``Health.drop``: the engine journals and alerts
it). While a reconnect resyncs, live messages are held and handled after it, so that the missed
fills come first (invariant 11). Messages of another trade account are not this account's news.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from adapters.base import Health
from adapters.kit.stream import EventStream
from adapters.sierrachart import messages as m
from adapters.sierrachart.book import Book
from adapters.sierrachart.orders import OrderPath
from adapters.sierrachart.wire import FrameError, Msg, msg_name
from copytui.models import AccountEvent

log = logging.getLogger("copytui.adapters.sierrachart")

_SAID = (Msg.USER_MESSAGE, Msg.GENERAL_LOG_MESSAGE, Msg.ALERT_MESSAGE)


class Intake:
    def __init__(self, account: str, book: Book, orders: OrderPath, stream: EventStream, health: Health) -> None:
        self.account, self.book, self.orders, self.stream, self.health = account, book, orders, stream, health
        self.bad_frames: list[str] = []
        self.server_said: list[str] = []
        """USER_MESSAGE, GENERAL_LOG_MESSAGE and ALERT_MESSAGE texts, as the server sent them."""
        self.balance: m.Balance | None = None
        self._held: list[tuple[dict[str, Any], int]] | None = None

    def hold(self) -> None:
        self._held = []

    def release(self) -> None:
        held, self._held = self._held or [], None
        for msg, recv_ns in held:
            self.on_message(msg, recv_ns)

    def on_message(self, msg: dict[str, Any], recv_ns: int) -> None:
        t = msg["Type"]
        if self._held is not None and t in (Msg.ORDER_UPDATE, Msg.POSITION_UPDATE):
            self._held.append((msg, recv_ns))
            return
        try:
            if t == Msg.ORDER_UPDATE:
                self.order(m.order_update(msg), recv_ns)
            elif t == Msg.POSITION_UPDATE:
                self.position(m.position_update(msg), recv_ns)
            elif t == Msg.ACCOUNT_BALANCE_UPDATE:
                b = m.balance(msg)
                if self.mine(b.trade_account):
                    self.balance = b
            elif t in _SAID:
                self.said(m.server_text(msg))
        except (FrameError, ValueError) as exc:  # ValueError: an event the models refuse
            self.bad_frame(f"{msg_name(t)}: {exc}")
        except Exception as exc:  # never let one message end the stream
            log.exception("Sierra Chart %s: a Type %s message could not be handled", self.account, t)
            self.bad_frame(f"Type {t}: could not be handled ({type(exc).__name__}: {exc})")

    def mine(self, trade_account: str) -> bool:
        return not trade_account or trade_account.casefold() == self.book.trade_account.casefold()

    def order(self, u: m.OrderUpdate, recv_ns: int, quiet: bool = False) -> None:
        if u.no_orders or not self.mine(u.trade_account):
            return
        self.orders.on_update(u)  # first: a place waits for this answer even if the book cannot use it
        self._apply(lambda: self.book.on_order(u, recv_ns, quiet), f"ORDER_UPDATE {u.server_id or u.client_id}")

    def position(self, p: m.PositionUpdate, recv_ns: int, quiet: bool = False) -> None:
        if p.no_positions or not self.mine(p.trade_account):
            return
        self._apply(lambda: self.book.on_position(p, recv_ns, quiet), f"POSITION_UPDATE {p.symbol}")

    def fill(self, f: m.HistoricalFill, recv_ns: int, quiet: bool = False) -> None:
        self._apply(lambda: self.book.on_fill(f, recv_ns, quiet), f"HISTORICAL_ORDER_FILL_RESPONSE {f.exec_id}")

    def _apply(self, make: Callable[[], list[AccountEvent]], what: str) -> None:
        """The book's events for one message, or the message skipped and counted when it cannot be used."""
        try:
            events = make()
        except (FrameError, ValueError) as exc:  # ValueError: an event the models refuse
            self.bad_frame(f"{what}: {exc}")
            return
        self.emit(events)

    def emit(self, events: list[AccountEvent]) -> None:
        if events:
            self.stream.put_all(events)
            self.health.seen()

    def said(self, text: str) -> None:
        if text:
            log.warning("Sierra Chart %s says: %s", self.account, text)
            self.server_said.append(text)
            self.health.note(f"Sierra Chart says: {text[:160]}")

    def bad_frame(self, why: str) -> None:
        log.warning("Sierra Chart %s: skipped a DTC message: %s", self.account, why)
        self.bad_frames.append(why)
        self.health.drop(f"bad DTC message: {why}")
        self.health.note(f"skipped a bad DTC message: {why[:160]}")
