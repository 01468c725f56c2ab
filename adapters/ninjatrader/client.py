"""The NinjaTrader 8 adapter over ATI's order instruction files.

Orders are files moved into ``incoming/`` (:mod:`adapters.ninjatrader.orders`); everything else
is read from ``outgoing/``, watched as it changes (:mod:`adapters.ninjatrader.watch`) and turned
into events by the :class:`~adapters.ninjatrader.book.Book`. There is no session to log in to:
the adapter is "connected" while it can watch the folder. NinjaTrader empties ``outgoing/`` when
it restarts: a file of ours going is taken as that (health ``reconnecting``), the first file
written after it as NinjaTrader's return (``reconnected``), and the position files it writes
again are compared with what was known (gap recovery: the difference is reported as fills).

Brackets. As a follower with ``options.native_oco``, NinjaTrader keeps a mirrored bracket's OCO
itself: each leg's PLACE line carries its follower OCO group in OCO ID (fitted by
``wire.fit_oco_id``), so NinjaTrader cancels the other legs the moment one fills, without waiting
for copytui to read the fill from the files. NinjaTrader's pages say an OCO group's other orders
are cancelled when one is filled *or cancelled*: copytui cancelling one leg alone cancels its
siblings too (they are reported as ORDER_CANCELLED with the OCO as reason). Whether NinjaTrader
shrinks a sibling after a partial fill cannot be seen: a state file carries no quantity. As a
leader, NinjaTrader's OCO groups cannot be read: outgoing/ files carry no OCO ID, so a NinjaTrader
leader's bracket is copied leg by leg, unpaired (orders of another ATI client or of the chart are
known only as position changes anyway).
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from adapters.base import BrokerAdapter, BrokerError, Capabilities, Disconnected, HealthState
from adapters.kit.stream import EventStream
from adapters.kit.tasks import TaskGroup
from adapters.ninjatrader.book import Book
from adapters.ninjatrader.contracts import Contracts
from adapters.ninjatrader.cursor import Cursor, gap_fills
from adapters.ninjatrader.latency import Latency
from adapters.ninjatrader.options import NinjaTraderOptions
from adapters.ninjatrader.orders import OrderPath
from adapters.ninjatrader.outbox import Outbox
from adapters.ninjatrader.store import OrderStore, store_path
from adapters.ninjatrader.watch import FileNote, SharedWatch, choose_mode, read_text
from adapters.ninjatrader.wire import parse_connection_file, parse_position_name
from copytui.models import AccountEvent, FollowerOrder, OrderAck, OrderInfo, Position

DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def _base36(n: int) -> str:
    out = ""
    while n:
        n, r = divmod(n, 36)
        out = DIGITS[r] + out
    return out or "0"


class NinjaTraderAdapter(BrokerAdapter):
    broker = "ninjatrader"
    # ORDER ID names a file in outgoing/ on a case-insensitive Windows disk: lowercase letters and digits;
    # brackets: OCO ID links a follower's legs at NinjaTrader, with options.native_oco (see the docstring)
    capabilities = Capabilities(modify=True, brackets=False, client_ids=True, client_id_max_len=32)

    def __init__(self, account: str, *, nt_account: str, options: NinjaTraderOptions, data_dir: str = "") -> None:
        super().__init__(account)
        self.nt_account = nt_account
        self.options = options
        if options.native_oco:
            self.capabilities = dataclasses.replace(self.capabilities, brackets=True)  # type: ignore[misc]
        self.folder = os.path.abspath(os.path.expanduser(options.folder))
        self.incoming = os.path.join(self.folder, "incoming")
        self.outgoing = os.path.join(self.folder, "outgoing")
        self.contracts = Contracts(options.instrument_overrides())
        self.epoch = _base36(time.time_ns())
        self.stream = EventStream()
        self.tasks = TaskGroup()
        self.latency = Latency()
        self.book = Book(account, self.health, self.stream.put, self._schedule, settle_s=options.settle_s,
                         epoch=self.epoch)  # fmt: skip
        self.store = OrderStore(store_path(data_dir, self.account_key))
        self.orders = OrderPath(self)
        self.book.acked, self.book.changed = self.orders.acked, self.orders.changed
        self.book.fill_cursor = lambda seen: Cursor(self.epoch, seen, self.book.accounted()).text()
        self.outbox: Outbox | None = None
        self.watch: SharedWatch | None = None
        self.connections: dict[str, bool] = {}
        """Every connection file seen: name -> CONNECTED."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._cleared = False  # outgoing/ emptied and nothing written since
        self._stall = ""
        self._baseline: dict[str, tuple[int, float]] = {}
        self._not_ours: set[str] = set()
        self.restarts = 0

    @property
    def account_key(self) -> str:
        """One NinjaTrader installation (its folder, however reached) and one of its accounts."""
        return f"ninjatrader-{os.path.realpath(self.folder)}-{self.nt_account}"

    # ------------------------------------------------------------------ session
    async def connect(self) -> None:
        self.health.connecting()
        for path in (self.incoming, self.outgoing):
            if not os.path.isdir(path):
                self.health.down(detail=f"{path} is not a folder")
                raise Disconnected(
                    f"{path} is not a folder: options.folder must be NinjaTrader 8's documents folder "
                    "(Documents/NinjaTrader 8, with AT Interface on); on a mounted share, is it mounted?"
                )
        self._loop = asyncio.get_running_loop()
        mode = choose_mode(self.outgoing, self.options.watch)
        if not self.book.orders:
            self.book.orders.update(self.store.load())
        self.outbox = Outbox(self.folder, mode=mode, poll_s=self.options.poll_interval_s)
        try:
            self.outbox.open()
            self.watch, notes = SharedWatch.join(self.outgoing, mode, self.options.poll_interval_s, self._on_note)
            for note in notes:
                self._on_note(note, baseline=True)
        except OSError as exc:
            await self._close_files()
            self.health.down(detail=str(exc))
            raise Disconnected(f"cannot watch {self.folder}: {exc}") from None
        for o in self.book.orders.values():
            if o.state is None:
                o.orphaned = True  # kept from an earlier run, its state file gone: NinjaTrader restarted since
        self._baseline = self.book.accounted()
        self.health.up(f"watching {self.folder} ({mode})")
        self._judge_health()

    async def _close_files(self) -> None:
        if self.watch is not None:
            await self.watch.leave(self._on_note)
            self.watch = None
        if self.outbox is not None:
            await self.outbox.close()
            self.outbox = None

    async def disconnect(self) -> None:
        await self._close_files()
        for h in self.book.held.values():
            if h.timer is not None:
                h.timer.cancel()
                h.timer = None
        await self.tasks.cancel_all()
        self.store.close()
        self.health.down()
        self.stream.close()

    def subscribe(self) -> AsyncIterator[AccountEvent]:
        return self.stream.events()

    def require_open(self) -> Outbox:
        if self.outbox is None:
            raise Disconnected(f"not sent: the NinjaTrader adapter of {self.account} is not connected")
        return self.outbox

    def _schedule(self, delay: float, fn: Callable[[], None]) -> Any:
        assert self._loop is not None
        return self._loop.call_later(delay, fn)

    # ------------------------------------------------------------------ health
    def stalled(self, why: str) -> Disconnected:
        """An order file NinjaTrader did not read: shown until NinjaTrader writes anything again."""
        self._stall = f"{why}: is NinjaTrader running, with Tools > Options > Automated trading interface on?"
        self._judge_health()
        return Disconnected(f"not sent (taken back from incoming/): {self._stall}")

    def _down_reason(self) -> str:
        if self._cleared:
            return "NinjaTrader emptied outgoing/ (a restart, or AT Interface off): waiting for it to write again"
        name = self.options.connection
        if name is not None and self.connections.get(name) is False:
            return f"NinjaTrader's connection {name!r} is DISCONNECTED"
        return self._stall

    def _judge_health(self) -> None:
        reason = self._down_reason()
        if reason:
            if self.health.state is HealthState.CONNECTED:
                self.health.lost(reason)
            else:
                self.health.note(reason)
        elif self.health.state is HealthState.RECONNECTING:
            self.health.reconnected()
            self._loop_call(self.options.settle_s * 4, self._say_missing)

    def _loop_call(self, delay: float, fn: Callable[[], None]) -> None:
        if self._loop is not None:
            self._loop.call_later(delay, fn)

    def _say_missing(self) -> None:
        missing = self.book.missing_since_restart()
        if missing and self.health.connected:
            self.health.note(
                f"no position file since NinjaTrader's restart for {', '.join(missing)}: copytui makes up no fill "
                "for it (a position closed meanwhile may get no file): check NinjaTrader's Positions tab"
            )

    # ------------------------------------------------------------------ outgoing/
    def _on_note(self, note: FileNote, baseline: bool = False) -> None:
        name = note.name
        if not name.lower().endswith(".txt"):
            return
        if note.text is None:
            self._gone(name)
            return
        if not note.text.strip():
            return  # caught between NinjaTrader's truncate and write: the write brings the text
        self.latency.add("notice", note.lag_ns)
        if self._cleared or self._stall:
            self._cleared, self._stall = False, ""
            self._judge_health()
        pos = parse_position_name(name)
        if pos is not None:
            if pos.account == self.nt_account:
                symbol = self.contracts.symbol_of_root(pos.root) if pos.root else None
                self.book.on_position_file(pos.instrument, symbol, note.text, note.recv_ns, baseline)
            return
        stem = name[:-4]
        if stem in self.book.orders:
            self.book.on_order_file(stem, note.text, note.recv_ns, baseline)
            return
        if stem in self._not_ours:
            return
        connected = parse_connection_file(note.text)
        if connected is None:
            self._not_ours.add(stem)  # another ATI client's order, or a file copytui does not read
            return
        self.connections[stem] = connected
        self._judge_health()

    def _gone(self, name: str) -> None:
        if self._cleared:
            return
        self._cleared = True
        self.restarts += 1
        self.book.cleared()
        self._judge_health()

    # ------------------------------------------------------------------ orders
    async def place(self, order: FollowerOrder) -> OrderAck:
        return await self.orders.place(order)

    async def modify(self, order: FollowerOrder) -> OrderAck:
        return await self.orders.modify(order)

    async def cancel(self, order: FollowerOrder) -> OrderAck:
        return await self.orders.cancel(order)

    async def flatten(self, symbol: str | None = None) -> None:
        await self.orders.flatten(symbol)

    # ------------------------------------------------------------------ reads
    async def positions(self) -> list[Position]:
        self.require_open()
        if self._cleared:
            raise Disconnected("NinjaTrader emptied outgoing/: positions are unknown until it writes them again")
        return self.book.positions()

    async def open_orders(self) -> list[OrderInfo]:
        self.require_open()
        return [o.info(self.account) for o in self.book.orders.values() if o.busy]

    async def find_order(self, client_order_id: str) -> OrderInfo | None:
        """By ORDER ID, the file name of its state file. An order NinjaTrader may hold but copytui cannot
        describe is a BrokerError (never None, which would let the engine send it again)."""
        outbox = self.require_open()
        if self.orders.in_flight(client_order_id):
            raise BrokerError(f"order {client_order_id} is being placed right now: ask again when place() answered")
        o = self.book.orders.get(client_order_id)
        state_file = os.path.join(self.outgoing, f"{client_order_id}.txt")
        if o is not None and o.state is None and (got := read_text(state_file)) is not None:
            self.book.on_order_file(client_order_id, got[0], time.perf_counter_ns())
        if o is not None and o.state is not None:
            return o.info(self.account)
        waiting = outbox.pending_for(client_order_id)
        if waiting and all(outbox.take_back(f) for f in waiting):
            if o is not None:
                self.orders.forget(o)
            return None
        if o is None and not waiting and not os.path.exists(state_file):
            return None
        raise BrokerError(
            f"NinjaTrader may hold order {client_order_id} but copytui cannot describe it (its outgoing/ state file "
            "is missing or its details were not kept): check NinjaTrader's Orders tab; not sending it again"
        )

    async def fills_since(self, cursor: str | None) -> tuple[list[AccountEvent], str | None]:
        """Fills after ``cursor``. ATI has no fill history: the cursor carries the positions it had
        seen, so one from an earlier copytui run gets the difference to this run's first look at
        the position files, as fills (ids derived from that cursor), then this run's fills."""
        now = Cursor(self.epoch, len(self.book.fills), self.book.accounted()).text()
        if cursor is None:
            return [], now
        try:
            seen = Cursor.parse(cursor)
        except ValueError as exc:
            raise BrokerError(str(exc)) from None
        if seen.epoch == self.epoch:
            return list(self.book.fills[seen.seen :]), now
        return gap_fills(self.account, cursor, seen, self._baseline) + list(self.book.fills), now
