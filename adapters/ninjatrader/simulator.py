"""A NinjaTrader 8 stand-in: it reads order instruction files from ``incoming/`` and writes
``outgoing/`` as NinjaTrader's ATI pages describe, over the paper exchange.

It takes each ``oif*.txt`` file in the order it arrived (after ``pickup_delay_s`` and the faults'
latency), claims it (so a file the writer took back is never read), carries out each line and
deletes it; every line read goes to the :class:`AuditLog`, refused ones with the reason. Faults:
the paper accounts' :class:`Faults` (rejects as ``REJECTED`` state files, partial fills,
duplicated and reordered writes, and ``drop_stream_prob`` as a NinjaTrader restart), plus slow
pickup, a held pickup (NinjaTrader not running), :meth:`restart` (outgoing/ emptied, ORDER IDs
forgotten, position files written again on return) and ORDER TYPE words it refuses.

    sim = NinjaTraderStandIn("/tmp/nt8", exchange, accounts=["Sim101"])
    await sim.start()     # makes incoming/ and outgoing/, writes the connection file
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import json
import logging
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import replace

from adapters.kit.tasks import TaskGroup
from adapters.ninjatrader.contracts import Contracts
from adapters.ninjatrader.sim_intake import Intake, Refused
from adapters.ninjatrader.sim_outgoing import Outgoing, state_of
from adapters.ninjatrader.watch import FileNote, FolderWatch, WatchMode
from adapters.ninjatrader.wire import NtState, WireError, parse_instruction
from adapters.simkit import AuditLog, Faults, PaperExchange, walk_until_stopped
from copytui.config import AccountConfig
from copytui.models import AccountEvent, EventKind

log = logging.getLogger("copytui.sim.ninjatrader")
CONNECTION = "Simulated Data Feed"
READING = ".standin-reading"
RAM_DIR = "/dev/shm"  # noqa: S108  # only mkdtemp's private folder inside it is used


class NinjaTraderStandIn:
    def __init__(
        self,
        folder: str,
        exchange: PaperExchange | None = None,
        *,
        accounts: Sequence[str] = ("Sim101",),
        connection: str = CONNECTION,
        faults: Faults | None = None,
        audit: AuditLog | str | None = None,
        pickup_delay_s: float = 0.0,
        contracts: Contracts | None = None,
        watch: WatchMode = "auto",
    ) -> None:
        self.folder = os.path.abspath(folder)
        self.incoming = os.path.join(self.folder, "incoming")
        self.outgoing_dir = os.path.join(self.folder, "outgoing")
        self.exchange = exchange or PaperExchange()
        self.accounts = list(accounts)
        for name in self.accounts:
            self.exchange.account(name, faults=replace(faults) if faults is not None else None)
        self.connection = connection
        self._owns_audit = not isinstance(audit, AuditLog)
        self.audit = audit if isinstance(audit, AuditLog) else AuditLog("ninjatrader", audit)
        self.pickup_delay_s = pickup_delay_s
        self.outgoing = Outgoing(self.outgoing_dir)
        self.intake = Intake(self.exchange, self.accounts, self.outgoing, contracts or Contracts())
        self.watch_mode = watch
        self.up = asyncio.Event()
        self.held = False
        """True: files wait in incoming/ unread (NinjaTrader not running)."""
        self.restarts = 0
        self.files_read = 0
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._watch: FolderWatch | None = None
        self.tasks = TaskGroup()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._unlisten: list[Callable[[], None]] = []

    # ------------------------------------------------------------------ life
    async def start(self) -> NinjaTraderStandIn:
        for path in (self.incoming, self.outgoing_dir, os.path.join(self.folder, READING)):
            os.makedirs(path, exist_ok=True)
        self._loop = asyncio.get_running_loop()
        self.outgoing.clear()
        self.come_back()
        for name in self.accounts:
            self._unlisten.append(self.exchange.listen(name, self._on_event, lambda: self.restart()))
        self._watch = FolderWatch(self.incoming, self._on_incoming, mode=self.watch_mode, read=False,
                                  wanted=lambda n: fnmatch.fnmatch(n.lower(), "oif*.txt"))  # fmt: skip
        for note in self._watch.start():
            self._on_incoming(note)
        self.tasks.spawn(self._work(), "ninjatrader-standin")
        return self

    async def stop(self) -> None:
        for unlisten in self._unlisten:
            unlisten()
        self._unlisten = []
        if self._watch is not None:
            await self._watch.stop()
        await self.tasks.cancel_all()
        if self._owns_audit:
            self.audit.close()

    async def __aenter__(self) -> NinjaTraderStandIn:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ faults
    def restart(self, down_s: float = 0.2) -> None:
        """NinjaTrader restarts: outgoing/ emptied, its ATI order ids forgotten; after ``down_s`` it is
        back, writes its connection file and the position files of what each account holds."""
        if not self.up.is_set():
            return
        self.go_down()
        assert self._loop is not None
        self._loop.call_later(down_s, self.come_back)

    def go_down(self) -> None:
        """NinjaTrader stops: outgoing/ emptied, its ATI order ids forgotten, nothing read or written."""
        self.up.clear()
        self.restarts += 1
        self.intake.session.order_ids.clear()
        self.outgoing.clear()

    def come_back(self) -> None:
        """NinjaTrader (re)starts: its connection file, then a position file for what each account holds."""
        self._write_start()
        self.up.set()

    def _write_start(self) -> None:
        self.outgoing.connection(self.connection, True)
        for account in self.accounts:
            for symbol, pos in self.exchange.accounts[account].positions.items():
                if pos.qty:
                    self.outgoing.position(self.intake.instrument_of(account, symbol), account, pos)

    def disconnect_feed(self, connected: bool = False) -> None:
        """The connection's file says DISCONNECTED (or CONNECTED again)."""
        self.outgoing.connection(self.connection, connected)

    # ------------------------------------------------------------------ incoming/
    def _on_incoming(self, note: FileNote) -> None:
        if note.text is not None:
            self._queue.put_nowait(note.name)

    async def _work(self) -> None:
        while True:
            name = await self._queue.get()
            faults = self.exchange.accounts[self.accounts[0]].faults
            delay = self.pickup_delay_s + faults.latency_ms / 1000.0
            if delay:
                await asyncio.sleep(delay)
            while self.held or not self.up.is_set():
                await asyncio.sleep(0.01)
                await self.up.wait()
            text = self._claim(name)
            if text is not None:
                self.files_read += 1
                for n, line in enumerate(filter(None, (ln.strip() for ln in text.splitlines())), 1):
                    self._line(f"incoming/{name} line {n}", line)

    def _claim(self, name: str) -> str | None:
        """Take ``name`` out of incoming/ and read it; None when the writer took it back first."""
        reading = os.path.join(self.folder, READING, name)
        try:
            os.replace(os.path.join(self.incoming, name), reading)
        except FileNotFoundError:
            return None
        try:
            with open(reading, encoding="utf-8", errors="replace") as fh:
                return fh.read()
        finally:
            os.unlink(reading)

    def _line(self, where: str, line: str) -> None:
        try:
            ins = parse_instruction(line, where)
        except WireError as exc:
            self.audit.record("", "unreadable", None, "refused", str(exc), {"line": line})
            log.warning("%s", exc)
            return
        try:
            self.intake.carry_out(ins)
        except Refused as exc:
            self.audit.record(ins.account, ins.command.lower(), ins.order_id or None, "refused", str(exc), ins.fields())
            return
        self.audit.record(ins.account, ins.command.lower(), ins.order_id or None, "accepted", "", ins.fields())

    # ------------------------------------------------------------------ outgoing/
    def _on_event(self, ev: AccountEvent) -> None:
        if self.exchange.accounts[ev.account].faults.reorder_prob and self._loop is not None:
            # an event held back by the reorder fault comes after the next one, or soon after this one
            self._loop.call_later(0.02, self.exchange.flush_held, ev.account)
        if not self.up.is_set():
            return  # NinjaTrader is down: nothing written; its return writes the positions
        if ev.kind is EventKind.POSITION:
            assert ev.symbol is not None
            pos = self.exchange.accounts[ev.account].positions.get(ev.symbol)
            self.outgoing.position(self.intake.instrument_of(ev.account, ev.symbol), ev.account, pos)
            return
        oid = ev.client_order_id
        if not oid or oid not in self.intake.session.order_ids or ev.order_id is None:
            return  # no ORDER ID in this session: NinjaTrader writes no state file for it
        order = self.exchange.accounts[ev.account].orders[ev.order_id]
        now = state_of(order)
        # the way there, as NinjaTrader passes through it; never a state the order has left (an
        # event delivered late by the reorder fault is written as the order stands now)
        if ev.kind is EventKind.ORDER_NEW and now is NtState.WORKING:
            self.outgoing.order(oid, NtState.ACCEPTED, order)
        elif ev.kind is EventKind.ORDER_MODIFIED and not now.final:
            self.outgoing.order(oid, NtState.CHANGESUBMITTED, order)
        elif ev.kind is EventKind.ORDER_CANCELLED:
            self.outgoing.order(oid, NtState.CANCELPENDING, order)
        self.outgoing.order(oid, now, order)


# ---------------------------------------------------------------------- copytui sim ninjatrader
def account_names(n: int) -> list[str]:
    return [f"Sim{101 + i}" for i in range(n)]


async def _serve(
    folder: str, accounts: int, seed: int, tick_s: float, faults: Faults | None, audit: str | None
) -> None:
    exchange = PaperExchange(seed=seed)
    names = account_names(accounts)
    sim = NinjaTraderStandIn(folder, exchange, accounts=names, faults=faults, audit=audit)
    await sim.start()
    example = sim.intake.contracts.instrument("ES")
    print(f"ninjatrader stand-in reading {sim.incoming} (ATI order instruction files)", flush=True)
    print(f"  writing {sim.outgoing_dir} (order state, position and connection files)", flush=True)
    print(f"  accounts: {', '.join(names)}   connection file: {sim.connection}.txt", flush=True)
    if faults is not None and faults != Faults():
        print(f"  faults on every account: {faults}", flush=True)
    if audit:
        print(f"  instruction lines appended to {audit}", flush=True)
    where = json.dumps(sim.folder)  # a YAML string, spaces and all
    print(f"  config: broker: ninjatrader, account_id: {names[0]}, options: {{folder: {where}}}", flush=True)
    print(f"  trade by hand: a file {sim.incoming}/oif<n>.txt holding "
          f"'PLACE;{names[0]};{example};BUY;1;MARKET;0;0;DAY;;;;'", flush=True)  # fmt: skip
    print("  Ctrl-C to stop", flush=True)
    try:
        await walk_until_stopped(exchange, tick_s, "ninjatrader-sim")
    finally:
        await sim.stop()
        print("ninjatrader stand-in stopped", flush=True)


def serve(
    port: int = 0,
    accounts: int = 3,
    seed: int = 7,
    *,
    faults: Faults | None = None,
    audit: str | None = None,
    folder: str | None = None,
    tick_s: float = 0.25,
) -> None:
    """``copytui sim ninjatrader --folder DIR [fault flags] [--audit FILE]``: run until Ctrl-C.

    ATI works through files: ``port`` is accepted and unused. Without ``folder`` a new temporary
    folder is used (and printed)."""
    del port
    where = folder or tempfile.mkdtemp(prefix="copytui-ninjatrader-")
    try:
        asyncio.run(_serve(where, accounts, seed, tick_s, faults, audit))
    finally:
        if folder is None:
            shutil.rmtree(where, ignore_errors=True)


@contextlib.asynccontextmanager
async def bench_accounts(
    names: Sequence[str],
) -> AsyncIterator[tuple[list[AccountConfig], Callable[[str], str | None]]]:
    """The benchmark's hook (copytui/bench/brokers.py): one stand-in account per name, in a temp folder.

    The folder is in RAM (/dev/shm) where the box has one: the files are this broker's wire, and
    as the socket brokers are measured over loopback, copytui's side is measured here, not the
    disk's (a real NinjaTrader's disk, or a share, adds its own)."""
    ram = RAM_DIR if os.path.isdir(RAM_DIR) and os.access(RAM_DIR, os.W_OK) else None
    folder = tempfile.mkdtemp(prefix="copytui-bench-nt8-", dir=ram)
    accounts = account_names(len(names))
    sim = NinjaTraderStandIn(folder, accounts=accounts)
    await sim.start()
    configs = [
        AccountConfig(
            name=n,
            broker="ninjatrader",
            environment="sim",
            account_id=acct,
            options={"folder": folder, "pickup_timeout_s": 10.0},
        )
        for n, acct in zip(names, accounts, strict=True)
    ]
    try:
        yield configs, lambda _key: None  # ATI has no login
    finally:
        await sim.stop()
        shutil.rmtree(folder, ignore_errors=True)


__all__ = ["NinjaTraderStandIn", "bench_accounts", "serve"]
