"""The FIX adapter's reads: positions (RequestForPositions AN), open orders (OrderMassStatusRequest
AF) and an order by ClOrdID (OrderStatusRequest H), with the session book as the answer wherever
the gateway does not take them.

Many gateways take none of AN / AF / H. So, with the options ``positions`` / ``open_orders`` at
``auto``, AN and AF are asked once, in the background, when the session logs on; until an answer
comes the reads answer from the session's own reports, and any reject (35=3 or 35=j, whatever its
reason) or no answer within request_timeout_s makes that final: never asked again, and the
account's health says so. ``request``: every read asks and waits, and a refusal is an error.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from adapters.base import BrokerError, Health
from adapters.fix import wire as w
from adapters.fix.book import SessionBook
from adapters.fix.frames import Field, FrameError, frame
from adapters.fix.orders import order_header
from adapters.fix.session import FixSession
from adapters.fix.session_config import FixAccount
from copytui.models import OrderInfo, Position

log = logging.getLogger("adapters.fix")


class Unsupported(BrokerError):
    """The gateway refused an AN / AF / H request (any session or business reject of it)."""


class NoAnswer(BrokerError):
    """The gateway did not answer an AN / AF / H request within request_timeout_s."""


READS = {w.POSITIONS_REQUEST: "positions", w.MASS_STATUS: "open_orders", w.STATUS_REQUEST: "order_status"}
"""The optional reads, by the MsgType that asks them."""

_FALLBACK = {
    "positions": ("positions come from this session's own fills", "positions: session"),
    "open_orders": ("open orders come from this session's own reports", "open_orders: session"),
    "order_status": ("orders this session does not know are not asked about", "order_status_request: false"),
}
"""What copytui does instead once a gateway refused a read, and the option that skips asking."""


@dataclass
class Collect:
    """Answers to one AF / AN / H request, gathered until the gateway says it is complete."""

    future: asyncio.Future[list[Any]]
    items: list[Any] = field(default_factory=list)
    total: int | None = None

    def add(self, item: Any, last: bool) -> None:
        self.items.append(item)
        if last or (self.total is not None and len(self.items) >= self.total):
            self.finish()

    def finish(self) -> None:
        if not self.future.done():
            self.future.set_result(self.items)


class Reads:
    """positions / open_orders / find_order of one session, and what the gateway refused of them."""

    def __init__(self, opts: FixAccount, session: FixSession, book: SessionBook, health: Health, account: str) -> None:
        self.opts = opts
        self.session = session
        self.book = book
        self.health = health
        self.account = account
        self.supports = {"positions": opts.positions != "session", "open_orders": opts.open_orders != "session"}
        self.refused: dict[str, str] = {}
        """Reads ("positions", "open_orders", "order_status") the gateway refused or never answered, with
        why: asked once, never again in this adapter's life; shown in ``health.detail``."""
        self.answered: set[str] = set()  # reads the gateway answered: later calls wait for their answer
        self.asking: dict[str, asyncio.Task[None]] = {}  # the first AN / AF, asked in the background
        self._waiting: dict[str, dict[str, Collect]] = {
            w.STATUS_REQUEST: {},
            w.MASS_STATUS: {},
            w.POSITIONS_REQUEST: {},
        }
        """Requests waiting for their answers, by the MsgType that asked, then by request id (or ClOrdID)."""

    # ------------------------------------------------------------------ the reads
    async def positions(self) -> list[Position]:
        got = await self._optional("positions", self._request_positions)
        return self.book.position_list() if got is None else got

    async def open_orders(self) -> list[OrderInfo]:
        got = await self._optional("open_orders", self._request_open_orders)
        return self.book.open_orders() if got is None else got

    async def find_order(self, client_order_id: str) -> OrderInfo | None:
        o = self.book.find(client_order_id)
        if o is not None and o.order_id:
            return o.info(self.account)
        if not self.opts.order_status_request:
            raise BrokerError(
                f"fix account {self.opts.name}: {client_order_id} is not in this session and "
                "order_status_request is off: check it at the gateway"
            )
        refused = self.refused.get("order_status")
        if refused is not None:  # asked once and refused: never again
            raise BrokerError(
                f"fix account {self.opts.name}: {client_order_id} is not in this session and the gateway does not "
                f"take OrderStatusRequest (H) ({refused}): check it at the gateway"
            )
        fields: list[Field] = [(w.CL_ORD_ID, client_order_id)]
        fields += order_header(self.opts, o) if o is not None else [(w.ACCOUNT, self.opts.account_id)]
        if self.opts.begin_string == w.FIX44:
            fields.append((w.ORD_STATUS_REQ_ID, w.request_id("st")))
        try:
            rows = await self._request(w.STATUS_REQUEST, client_order_id, fields, "OrderStatusRequest")
        except Unsupported as exc:
            raise BrokerError(f"fix account {self.opts.name}: cannot ask about {client_order_id}: {exc}") from None
        found: OrderInfo | None = rows[0] if rows else None
        return found

    async def _request_positions(self) -> list[Position]:
        key = w.request_id("pos")
        fields: list[Field] = [
            (w.POS_REQ_ID, key),
            (w.POS_REQ_TYPE, "0"),
            (w.ACCOUNT, self.opts.account_id or self.account),
            (w.ACCOUNT_TYPE, "1"),
            (w.CLEARING_BUSINESS_DATE, w.business_date()),
            (w.TRANSACT_TIME, w.utc_timestamp()),
            (w.SUBSCRIPTION_REQUEST_TYPE, "0"),
        ]
        rows = await self._request(w.POSITIONS_REQUEST, key, fields, "RequestForPositions")
        snapshot = {sym: (qty, avg) for sym, qty, avg in rows}
        self.book.set_positions(snapshot)
        return [
            Position(account=self.account, symbol=s, qty=q, avg_price=a) for s, (q, a) in sorted(snapshot.items()) if q
        ]

    async def _request_open_orders(self) -> list[OrderInfo]:
        key = w.request_id("ms")
        fields: list[Field] = [
            (w.MASS_STATUS_REQ_ID, key),
            (w.MASS_STATUS_REQ_TYPE, "7"),
            (w.ACCOUNT, self.opts.account_id),
        ]
        infos = await self._request(w.MASS_STATUS, key, fields, "OrderMassStatusRequest")
        return [i for i in infos if i is not None and not i.status.final]

    async def _request(self, msg_type: str, key: str, fields: list[Field], what: str) -> list[Any]:
        assert self.session.loop is not None
        try:
            m = frame(self.opts.begin_string, msg_type, fields)
        except FrameError as exc:
            raise BrokerError(f"fix account {self.opts.name}: {what} not sent: {exc}") from None
        await self.session.ready(what)
        waiter = Collect(self.session.loop.create_future())
        table = self._waiting[msg_type]
        table[key] = waiter
        try:
            self.session.send(m, msg_type, key)
            return await asyncio.wait_for(asyncio.shield(waiter.future), self.opts.request_timeout_s)
        except TimeoutError:
            raise NoAnswer(
                f"fix account {self.opts.name}: no answer to {what} within {self.opts.request_timeout_s:g}s"
            ) from None
        finally:
            table.pop(key, None)

    async def _optional(self, kind: str, call: Callable[[], Awaitable[list[Any]]]) -> list[Any] | None:
        """The gateway's answer to AN / AF once it has answered one; None means: use the session's own view.

        ``auto``: the first request goes out in the background (see :meth:`ask_all`) and nothing
        waits for it; a reject or no answer makes the session's view final. ``request``: every call
        asks and waits, and a refusal is an error."""
        if not self.supports[kind]:
            return None
        if getattr(self.opts, kind) == "request":
            try:
                return await call()
            except Unsupported as exc:
                raise BrokerError(f"fix account {self.opts.name}: {exc}") from None
        if kind not in self.answered:
            self._ask(kind, call)
            return None
        try:
            return await call()
        except (Unsupported, NoAnswer) as exc:
            self._refuse(kind, str(exc))
        return None

    # ------------------------------------------------------------------ asked once
    def ask_all(self) -> None:
        """Ask AN and AF once in the background: nothing waits for them; until an answer comes,
        positions and open orders are the session's own."""
        reads = (("positions", self._request_positions), ("open_orders", self._request_open_orders))
        for kind, call in reads:
            if getattr(self.opts, kind) == "auto" and self.supports[kind]:
                self._ask(kind, call)

    def _ask(self, kind: str, call: Callable[[], Awaitable[object]]) -> None:
        if kind in self.answered or kind in self.asking:
            return
        task = asyncio.get_running_loop().create_task(self._ask_once(kind, call), name=f"fix-{self.opts.name}-{kind}")
        self.asking[kind] = task
        task.add_done_callback(self._asked)

    async def _ask_once(self, kind: str, call: Callable[[], Awaitable[object]]) -> None:
        try:
            await call()  # the answer lands in the session book (positions snapshot, adopted orders)
        except (Unsupported, NoAnswer) as exc:
            self._refuse(kind, str(exc))
        except BrokerError as exc:  # not logged on, or the session closed: the gateway never had it
            log.info("fix %s: %s not asked yet (%s): asked at the next read", self.opts.name, kind, exc)
            self.asking.pop(kind, None)
        else:
            self.answered.add(kind)

    def _asked(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("fix %s: %s failed", self.opts.name, task.get_name(), exc_info=task.exception())

    def _refuse(self, kind: str, why: str) -> None:
        """The gateway refused (or never answered) a read: fall back for good, once, and say so."""
        if kind in self.refused:
            return
        if kind in self.supports and getattr(self.opts, kind) == "request":
            return  # asked for by name in the config: each read asks, and a refusal is an error
        self.refused[kind] = why
        if kind in self.supports:
            self.supports[kind] = False
        instead, option = _FALLBACK[kind]
        log.warning("fix %s: %s; %s from now on (%s skips asking)", self.opts.name, why, instead, option)
        if self.health.connected:
            self.health.note(self.session.logged_on_detail())

    def fallback_detail(self) -> str:
        """What the account's health says about the reads the gateway refused."""
        return "".join(f"; {_FALLBACK[kind][0]} ({why})" for kind, why in self.refused.items())

    # ------------------------------------------------------------------ answers
    def refused_request(self, msg_type: str, key: str, reason: str) -> bool:
        """A session or business reject of the request ``key`` of ``msg_type``; False: not a read.

        Any reject of AN / AF / H, whatever its reason (QuickFIX's executor answers AN with 380=5,
        others with 380=3 or 373=11), means the gateway does not take it: never ask again."""
        kind = READS.get(msg_type)
        if kind is None:
            return False
        why = f"{self.opts.target_comp_id} {reason}"
        self._refuse(kind, why)
        waiter = self._waiting[msg_type].get(key)
        if waiter is not None and not waiter.future.done():
            waiter.future.set_exception(Unsupported(why))
        return True

    def status_report(self, rep: w.ExecReport, unknown: bool) -> None:
        """An ExecutionReport answering AF (by MassStatusReqID) or H (by ClOrdID)."""
        mass = self._waiting[w.MASS_STATUS].get(rep.mass_status_req_id or "")
        if mass is not None:
            if rep.tot_num_reports is not None:
                mass.total = rep.tot_num_reports
            if rep.tot_num_reports == 0:
                mass.finish()
            else:
                mass.add(self._info(self.book.root_of(rep)), rep.last_report)
            return
        for key in (rep.cl_ord_id, rep.orig_cl_ord_id):
            waiter = self._waiting[w.STATUS_REQUEST].get(key or "")
            if waiter is not None:
                waiter.add(None if unknown else self._info(self.book.root_of(rep)), True)
                return

    def _info(self, root: str | None) -> OrderInfo | None:
        o = self.book.orders.get(root) if root is not None else None
        return o.info(self.account) if o is not None else None

    def positions_ack(self, f: w.Fields) -> None:
        waiter = self._waiting[w.POSITIONS_REQUEST].get(f.get(w.POS_REQ_ID) or "")
        if waiter is None or waiter.future.done():
            return
        result, status = f.get(w.POS_REQ_RESULT) or "0", f.get(w.POS_REQ_STATUS) or "0"
        if result == "2":  # no positions found
            waiter.finish()
        elif result != "0" or status == "2":
            why = f"{self.opts.target_comp_id} refused RequestForPositions (AN): {f.text() or 'result ' + result}"
            self._refuse("positions", why)
            waiter.future.set_exception(Unsupported(why))
        else:
            waiter.total = w.as_int(f.get(w.TOTAL_NUM_POS_REPORTS))
            if waiter.total == 0:
                waiter.finish()

    def position_report(self, f: w.Fields) -> None:
        waiter = self._waiting[w.POSITIONS_REQUEST].get(f.get(w.POS_REQ_ID) or "")
        if waiter is None or waiter.future.done() or not self.opts.carries(f.get(w.ACCOUNT)):
            return
        symbol = self.opts.local_symbol(f.get(w.SYMBOL) or "")
        qty = 0
        for entry in f.groups(w.NO_POSITIONS, w.POS_TYPE):
            qty += (w.as_int(entry.get(w.LONG_QTY)) or 0) - (w.as_int(entry.get(w.SHORT_QTY)) or 0)
        avg = f.number(w.SETTL_PRICE) or 0.0
        total = w.as_int(f.get(w.TOTAL_NUM_POS_REPORTS))
        if total is not None and waiter.total is None:
            waiter.total = total
        waiter.add((symbol, qty, avg), f.get(w.LAST_RPT_REQUESTED) == "Y")

    # ------------------------------------------------------------------ closing
    async def close(self) -> None:
        """The session closed: fail what waits for an answer, stop the background questions (a
        question never answered is asked again after the next connect)."""
        for table in self._waiting.values():
            for waiter in table.values():
                if not waiter.future.done():
                    waiter.future.set_exception(BrokerError("FIX session closed before the gateway answered"))
        asking = [t for t in self.asking.values() if not t.done()]
        for task in asking:
            task.cancel()
        await asyncio.gather(*asking, return_exceptions=True)
        for kind, task in list(self.asking.items()):
            if task.cancelled():
                del self.asking[kind]
