"""The stand-in for the copytui EA: what ``adapters/mt/mql/CopytuiBridge.mq5`` does, step for step
and message for message, in Python, over a :class:`TerminalBook` instead of a real terminal.

Each method names the EA function it stands for. The EA dials the bridge (and redials after a
drop, backing off; ten seconds after a refusal), answers the challenge with its hello, handles one
request at a time in the order received, and reports trade transactions as ``order`` and
``deal`` events: the ones that happen while it handles a request only after its reply (MetaTrader
runs OnTradeTransaction after the handler returns), the ones that happen while it is cut off after
its next welcome, flagged ``replay``, with every event not yet acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

from adapters.kit.session import Backoff
from adapters.mt import retcodes
from adapters.mt.protocol import (
    MAX_LINE,
    VERSION,
    Ack,
    Cancel,
    Challenge,
    Close,
    DealEvent,
    DealRow,
    Deals,
    Find,
    Flatten,
    Heartbeat,
    Hello,
    Message,
    Modify,
    OrderEvent,
    OrderRow,
    Orders,
    Place,
    Platform,
    Positions,
    Refused,
    Reply,
    Request,
    SlTp,
    Welcome,
)
from adapters.mt.sim_book import Result, TerminalBook
from adapters.mt.wire import SeqCheck, WireError, decode_copytui, encode, proof

log = logging.getLogger("copytui.sim.mt")

EA_VERSION = "copytui-bridge 1.0 (stand-in)"
OUTBOX_MAX = 1000
"""Unacknowledged events the EA keeps; older ones are left to copytui's resync."""
REFUSED_WAIT_S = 10.0
TIMER_S = 0.05
"""The EA's timer (EventSetMillisecondTimer): how often it looks at its socket and its heartbeat."""


@dataclass
class Unacked:
    event: OrderEvent | DealEvent
    seq: int = 0
    """The seq it was last sent with (0: not sent yet)."""


class StandIn:
    """One terminal's EA dialing 127.0.0.1:``port``."""

    def __init__(
        self,
        book: TerminalBook,
        port: int,
        token: str,
        *,
        host: str = "127.0.0.1",
        platform: Platform = "mt5",
        server: str = "CopytuiSim-Demo",
        latency_s: float = 0.0,
        redial: Backoff | None = None,
    ) -> None:
        self.book, self.port, self.host, self.token = book, port, host, token
        self.platform, self.server, self.latency_s = platform, server, latency_s
        self.redial = redial or Backoff(0.05, 1.0)
        self.heartbeat_s = 5.0
        self.ready = False
        self.seq_out = 0
        self.seq_in = SeqCheck()
        self.outbox: list[Unacked] = []
        """Events not acknowledged yet, in the order they happened."""
        self.deferred: list[OrderEvent | DealEvent] = []
        self.in_request = False
        self.writer: asyncio.StreamWriter | None = None
        self.dials = 0
        self.welcomes = 0
        self.refusals: list[str] = []
        self.muted = False
        """Fault switch (not the EA's): a hung terminal, sending nothing at all."""
        self.garble_events = 0
        """Fault switch (not the EA's): the next N events go out as a garbled line that still has its seq."""
        self.received: list[Message] = []
        """Every message read from copytui (what a wire test inspects)."""
        self._last_tx = 0.0
        self._stopped = False
        self._hold_s = 0.0
        book.ledger.on_order = self.on_order_row
        book.ledger.on_deal = self.on_deal_row
        book.ledger.on_drop = lambda: self.drop("the paper exchange dropped the stream")

    # ------------------------------------------------------------ OnInit / OnTimer / OnDeinit
    async def run(self) -> None:
        """OnInit, then the timer: dial, read, beat; redial after a drop until stopped (OnDeinit)."""
        while not self._stopped:
            try:
                reader, writer = await asyncio.open_connection(self.host, self.port, limit=MAX_LINE + 1)
            except OSError:
                await asyncio.sleep(self.redial.next())
                continue
            self.dials += 1
            try:
                await self.session(reader, writer)
            finally:
                self.drop("session over")
            await asyncio.sleep(self._hold_s or self.redial.next())
            self._hold_s = 0.0

    def stop(self) -> None:
        self._stopped = True
        self.drop("stopped")

    def drop(self, why: str) -> None:
        """Drop(): close the socket; the timer redials."""
        writer, self.writer, self.ready = self.writer, None, False
        if writer is not None:
            log.info("stand-in %s: connection closed: %s", self.book.login, why)
            writer.close()

    async def session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writer, self.seq_out, self.seq_in, self.ready = writer, 0, SeqCheck(), False
        beat = asyncio.get_running_loop().create_task(self.heartbeat(), name=f"mt-standin-hb-{self.book.login}")
        try:
            while self.writer is writer:
                try:
                    async with asyncio.timeout(self.heartbeat_s * 3):
                        line = await reader.readline()
                except (TimeoutError, ValueError, ConnectionError):
                    return
                if not line:
                    return
                await self.handle(line)
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat

    async def heartbeat(self) -> None:
        while True:
            await asyncio.sleep(TIMER_S)
            if self.ready and time.monotonic() - self._last_tx >= self.heartbeat_s:
                self.send(Heartbeat())

    def send(self, message: Message) -> int:
        """SendLine(): the next seq, the JSON, a newline."""
        if self.writer is None or self.muted:
            return 0
        self.seq_out += 1
        self.writer.write(encode(message.model_copy(update={"seq": self.seq_out})))
        self._last_tx = time.monotonic()
        return self.seq_out

    # ------------------------------------------------------------ Handle()
    async def handle(self, line: bytes) -> None:
        try:
            message = decode_copytui(line)
        except WireError as exc:
            log.warning("stand-in %s: unreadable line from copytui: %s", self.book.login, exc)
            return
        self.received.append(message)
        if (out_of_order := self.seq_in.take(message.seq)) is not None:
            log.warning("stand-in %s: %s", self.book.login, out_of_order)
        if isinstance(message, Challenge):
            self.send_hello(message.nonce)
        elif isinstance(message, Welcome):
            self.on_welcome(message)
        elif isinstance(message, Refused):
            self.on_refused(message)
        elif isinstance(message, Ack):
            self.outbox = [e for e in self.outbox if not 0 < e.seq <= message.upto]
        elif isinstance(message, Request):
            await self.handle_request(message)

    def send_hello(self, nonce: str) -> None:
        book = self.book
        last = max(((d.time_ms, d.ticket) for d in book.deals), default=(0, 0))
        self.send(
            Hello(
                v=VERSION,
                platform=self.platform,
                build=4755,
                ea=EA_VERSION,
                login=book.login,
                server=self.server,
                company="copytui simulator",
                currency="USD",
                mode="hedging" if book.hedging else "netting",
                trade_allowed=True,
                time_ms=book.now_ms(),
                last_deal=last[1],
                last_deal_ms=last[0],
                proof=proof(self.token, nonce, book.login),
                symbols=[s.info() for s in book.symbols],
            )
        )

    def on_welcome(self, message: Welcome) -> None:
        """Ready: take the heartbeat, then send every unacknowledged event again, in order."""
        self.ready = True
        self.welcomes += 1
        self.heartbeat_s = message.heartbeat_s
        self.redial.reset()
        for entry in self.outbox:
            entry.seq = self.send(entry.event.model_copy(update={"replay": True}))

    def on_refused(self, message: Refused) -> None:
        log.warning("stand-in %s: copytui refused the connection: %s", self.book.login, message.reason)
        self.refusals.append(message.reason)
        self._hold_s = REFUSED_WAIT_S
        self.drop("refused")

    # ------------------------------------------------------------ HandleRequest()
    async def handle_request(self, request: Request) -> None:
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        self.in_request = True
        try:
            reply = self.answer(request)
        finally:
            self.in_request = False
        self.send(reply.model_copy(update={"re": request.seq}))
        deferred, self.deferred = self.deferred, []
        for event in deferred:  # OnTradeTransaction runs once the handler has returned
            self.queue_event(event)

    def answer(self, request: Request) -> Reply:
        book = self.book
        if isinstance(request, Place):
            return self.result(
                book.place(
                    request.symbol,
                    request.side,
                    request.kind,
                    request.volume,
                    price=request.price,
                    stop=request.stop,
                    sl=request.sl,
                    tp=request.tp,
                    comment=request.comment,
                    magic=request.magic,
                    reduce_first=request.reduce_first,
                )
            )
        if isinstance(request, Modify):
            return self.result(book.modify(request.ticket, request.price, request.stop, request.sl, request.tp))
        if isinstance(request, Cancel):
            return self.result(book.cancel(request.ticket))
        if isinstance(request, Close):
            return self.result(book.close(request.position, request.volume, request.comment, request.magic))
        if isinstance(request, SlTp):
            return self.result(book.sltp(request.position, request.sl, request.tp))
        if isinstance(request, Flatten):
            return self.result(book.flatten(request.symbol))
        if isinstance(request, Positions):
            return Reply(re=1, ok=True, retcode=retcodes.DONE, positions=book.position_rows(request.symbol))
        if isinstance(request, Orders):
            return Reply(re=1, ok=True, retcode=retcodes.DONE, pending=book.pending_rows(request.symbol))
        if isinstance(request, Deals):
            deals, more = book.deals_after(request.after_ms, request.after_ticket, request.limit)
            return Reply(
                re=1,
                ok=True,
                retcode=retcodes.DONE,
                deals=[d.model_copy(update={"net": None, "net_price": None}) for d in deals],
                more=more,
            )
        if isinstance(request, Find):
            return Reply(
                re=1, ok=True, retcode=retcodes.DONE, found=book.found(request.comment, request.magic, request.since_ms)
            )
        return Reply(re=1, ok=False, retcode=retcodes.INVALID, message=f"unknown op {type(request).__name__}")

    @staticmethod
    def result(result: Result) -> Reply:
        first = result.orders[0] if result.orders else 0
        return Reply(
            re=1,
            ok=result.ok,
            retcode=result.retcode,
            message=result.message or retcodes.NAMES.get(result.retcode, ""),
            order=first,
            orders=list(result.orders),
        )

    # ------------------------------------------------------------ OnTradeTransaction()
    def on_order_row(self, row: OrderRow) -> None:
        self.queue_event(OrderEvent(order=row))

    def on_deal_row(self, row: DealRow) -> None:
        self.queue_event(DealEvent(deal=row))

    def queue_event(self, event: OrderEvent | DealEvent) -> None:
        """Keep the event until copytui acknowledges it; send it now when connected."""
        if self.in_request:
            self.deferred.append(event)
            return
        entry = Unacked(event)
        self.outbox.append(entry)
        if len(self.outbox) > OUTBOX_MAX:
            del self.outbox[0]
        if self.ready:
            entry.seq = self.send_event(event)

    def send_event(self, event: OrderEvent | DealEvent) -> int:
        if self.garble_events and self.writer is not None:
            self.garble_events -= 1
            self.seq_out += 1
            self.writer.write(b'{"seq": %d, "type": "%s", "garbled": true}\n' % (self.seq_out, event.type.encode()))
            return self.seq_out
        return self.send(event)
