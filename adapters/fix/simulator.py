"""A FIX 4.2 / 4.4 venue on 127.0.0.1: a quickfix SocketAcceptor over copytui's paper exchange.

It takes NewOrderSingle (D), OrderCancelRequest (F), OrderCancelReplaceRequest (G),
OrderStatusRequest (H), OrderMassStatusRequest (AF) and RequestForPositions (AN), on FIX 4.2 and
FIX 4.4 sessions alike, and answers with ExecutionReports, cancel rejects, position reports
(:mod:`adapters.fix.sim_venue`). Other message types get a BusinessMessageReject.

Faults: the paper exchange's per-account :class:`Faults` (``faults`` applies them to every account
the simulator opens): ``reject_rate`` and ``partial_fill_prob`` as the exchange plays them,
``duplicate_prob`` and ``reorder_prob`` send an account's execution reports twice or one after the
next (a new MsgSeqNum each, no PossDupFlag: a gateway that really sent it twice),
``drop_stream_prob`` drops the FIX sessions that get the account's reports right after a report
(the client logs on again and asks for the gap), ``latency_ms`` holds each order request (D, F, G)
that long before the venue handles it. Per session (:mod:`adapters.fix.sim_delivery`):
:meth:`FixSimulator.drop_after`, ``drop_prob``, :meth:`FixSimulator.duplicate_next` (a resend with
PossDupFlag=Y), :meth:`FixSimulator.strip_next` (an unusable fill). ``ids_from_one`` plays a
counterparty whose ExecIDs and OrderIDs restart at 1 in each process, as QuickFIX's executor does;
an exchange handed in keeps its own order numbering (``LockedExchange(first_order_id=1)`` to
restart it too). ``unsupported`` (BusinessMessageReject 380=3), ``missing_field`` (380=5
"Conditionally Required Field Missing (40)", QuickFIX's Python executor's answer to AN / AF / H) and
``silent`` (read, never answered) play gateways without AN / AF / H. ``trailing_stops`` takes
trailing stops (OrdType 3, ExecInst a, PegDifference 211, as :mod:`adapters.fix.trailing` reads
them); without it they are refused, as by the many gateways that take none.

Audit: :attr:`FixSimulator.audit` (a simkit :class:`AuditLog`, also appended to ``audit_path``)
records every order request received, refused ones with the reason; :attr:`FixSimulator.received`
counts every application message by MsgType.

Threads: quickfix calls in on one thread per connection (a ThreadedSocketAcceptor: the plain
SocketAcceptor's stop races its own thread in quickfix 1.16); tests and the price walk call in on
theirs. Every exchange access holds the exchange's lock (see :class:`LockedExchange`), and reports
are sent while it is held: always that lock, then quickfix's session mutex, never the reverse.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import socket
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import quickfix as fix

from adapters.fix import wire as w
from adapters.fix.msglog import ScrubbedLogFactory
from adapters.fix.quickfix_settings import acceptor_settings
from adapters.fix.sim_acceptor import Acceptor
from adapters.fix.sim_delivery import Delivery, Route
from adapters.fix.sim_exchange import LockedExchange
from adapters.fix.sim_venue import Venue
from adapters.simkit import AuditLog, Faults, PaperExchange, walk_until_stopped
from copytui.config import AccountConfig

__all__ = ["DEFAULT_CLIENTS", "FixSimulator", "LockedExchange", "bench_accounts", "serve", "simulator_for_cli"]

DEFAULT_CLIENTS = ("COPYTUI", "LEADER", "DROPCOPY", "CLIENT1", "CLIENT2")
TICK_S = 0.25
"""How often ``copytui sim fix`` walks the paper prices."""


class FixSimulator:
    """``with FixSimulator(port) as sim:`` runs a FIX venue on ``port`` until the block ends."""

    def __init__(
        self,
        port: int,
        *,
        exchange: PaperExchange | None = None,
        comp_id: str = "SIM",
        clients: tuple[str, ...] = DEFAULT_CLIENTS,
        versions: tuple[str, ...] = w.VERSIONS,
        watch: dict[str, str] | None = None,
        password: str | None = None,
        store_dir: Path | None = None,
        log_path: Path | None = None,
        drop_prob: float = 0.0,
        tick_interval_s: float | None = None,
        seed: int = 7,
        unsupported: tuple[str, ...] = (),
        missing_field: tuple[str, ...] = (),
        silent: tuple[str, ...] = (),
        ids_from_one: bool = False,
        faults: Faults | None = None,
        audit_path: str | Path | None = None,
        trailing_stops: bool = False,
    ) -> None:
        self.port = port
        self.exchange = exchange or LockedExchange(seed=seed, first_order_id=1 if ids_from_one else None)
        self.comp_id = comp_id
        self.password = password
        self.tick_interval_s = tick_interval_s
        """Walk the prices this often on a thread of the simulator's own (None: whoever runs it walks them)."""
        self.lock: threading.RLock = getattr(self.exchange, "lock", None) or threading.RLock()
        self.missing_field = frozenset(missing_field)
        self.silent = frozenset(silent)
        self.audit = AuditLog("fix", audit_path)
        """Every order request received (refused ones too): ``sim.audit.entries`` / ``as_json()``."""
        self.received: Counter[str] = Counter()
        self.positions_result: str | None = None
        """Set (e.g. "4", not supported): AN gets a PositionsAck with this PosReqResult and no reports."""
        self.logons = 0
        self.delivery = Delivery(comp_id, clients, versions, dict(watch or {}), drop_prob, seed)
        self.routes: dict[str, Route] = self.delivery.routes
        self.watch = self.delivery.watch
        """Drop-copy sessions: client CompID -> the account it watches (``*``: every account)."""
        self.venue = Venue(
            self.exchange,
            self.delivery,
            self.audit,
            faults,
            ids_from_one,
            lambda: self.positions_result,
            trailing_stops=trailing_stops,
        )
        self.handlers = {t: h for t, h in self.venue.handlers.items() if t not in unsupported}
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if store_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="copytui-fixsim-")
            store_dir = Path(self._tmp.name)
        self.store_dir = store_dir
        self._settings = acceptor_settings(port, [r.session for r in self.routes.values()], self.store_dir)
        self._logs = ScrubbedLogFactory(log_path)
        self._app = Acceptor(self)
        self._acceptor: Any = None
        self._stop = threading.Event()
        self._walker: threading.Thread | None = None

    # ------------------------------------------------------------- lifecycle
    def start(self) -> FixSimulator:
        """Listen. quickfix's sessions are process-wide: they exist from here until :meth:`stop`."""
        for r in self.routes.values():
            if fix.Session.lookupSession(r.session) is not None:
                raise OSError(f"FIX session {r.session.toString()} already runs in this process")
        settings = self._settings
        # threaded: SocketAcceptor.stop races its own thread over the listening socket (quickfix 1.16)
        self._acceptor = fix.ThreadedSocketAcceptor(self._app, fix.FileStoreFactory(settings), settings, self._logs)
        try:
            self._acceptor.start()
        except (fix.ConfigError, fix.RuntimeError) as exc:
            self._acceptor = None
            raise OSError(f"FIX simulator cannot listen on port {self.port}: {exc}") from None
        if self.tick_interval_s:
            self._walker = threading.Thread(target=self._walk, name="fix-sim-walk", daemon=True)
            self._walker.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._walker is not None:
            self._walker.join(timeout=5)
        acceptor, self._acceptor = self._acceptor, None
        if acceptor is not None:
            self._logout_all()
            acceptor.stop(True)
            del acceptor  # quickfix sessions are process-global: free them now, not at some GC
        self._logs.close()
        self.audit.close()
        if self._tmp is not None:
            self._tmp.cleanup()

    def _logout_all(self, wait_s: float = 2.0) -> None:
        """Log every client out (quickfix's stop busy-waits while any session is logged on)."""
        live = [fix.Session.lookupSession(r.session) for r in self.routes.values()]
        live = [s for s in live if s is not None and s.isLoggedOn()]
        for session in live:
            session.logout("simulator stopping")
        deadline = time.monotonic() + wait_s
        while any(s.isLoggedOn() for s in live) and time.monotonic() < deadline:
            time.sleep(0.01)
        for session in live:
            if session.isLoggedOn():
                session.disconnect()

    def __enter__(self) -> FixSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _walk(self) -> None:
        while not self._stop.wait(self.tick_interval_s):
            with self.lock:
                self.exchange.step()

    @property
    def sessions(self) -> list[str]:
        return sorted(self.routes)

    @property
    def drops(self) -> int:
        """Sessions dropped by fault injection so far."""
        return self.delivery.drops

    @property
    def duplicates_sent(self) -> int:
        """Execution reports sent a second time with PossDupFlag=Y so far."""
        return self.delivery.duplicates_sent

    def latency_s(self, session_id: fix.SessionID, f: w.Fields) -> float:
        return self.venue.latency_s(session_id, f)

    def record(self, session_id: fix.SessionID, f: w.Fields, refused: str | None = None) -> None:
        self.venue.record(session_id, f, refused)

    # ------------------------------------------------------- test / CLI hooks
    @contextlib.contextmanager
    def locked(self) -> Iterator[PaperExchange]:
        """The exchange, held: ``with sim.locked() as x: x.submit(...)`` from any thread."""
        with self.lock:
            yield self.exchange

    def account(self, name: str, faults: Faults | None = None) -> None:
        with self.lock:
            self.venue.ensure(name)
            if faults is not None:
                self.exchange.account(name, faults=faults)

    def set_price(self, symbol: str, price: float) -> None:
        with self.lock:
            self.exchange.set_price(symbol, price)

    def drop_after(self, reports: int, client: str | None = None) -> None:
        """Drop the client's session(s) after ``reports`` more execution reports."""
        with self.lock:
            for r in self.delivery.of_client(client):
                r.drop_after = r.reports + reports

    def duplicate_next(self, reports: int, client: str | None = None) -> None:
        """Send the client's next ``reports`` execution reports twice: the copy, under a new
        MsgSeqNum, carries PossDupFlag=Y and OrigSendingTime (a gateway replaying what it sent)."""
        with self.lock:
            for r in self.delivery.of_client(client):
                r.duplicate += reports

    def strip_next(self, tags: tuple[int, ...], reports: int = 1, client: str | None = None) -> None:
        """Leave ``tags`` out of the client's next ``reports`` execution reports."""
        with self.lock:
            for r in self.delivery.of_client(client):
                r.strip, r.strip_left = tags, reports

    def logged_on(self, client: str) -> bool:
        return self.delivery.logged_on(client)

    def drop(self, client: str | None = None) -> int:
        """Drop the client's logged-on session(s) now, without a Logout (fault injection)."""
        with self.lock:
            return sum(self.delivery.drop(r) for r in self.delivery.of_client(client))


def simulator_for_cli(
    port: int,
    accounts: int = 3,
    seed: int = 7,
    *,
    faults: Faults | None = None,
    audit: str | None = None,
    ids_from_one: bool = False,
    trailing_stops: bool = False,
) -> FixSimulator:
    """The simulator ``copytui sim fix`` runs (not started, its prices not walked): demo accounts
    FIX1..FIXn, each with ``faults``; ``audit``: a JSON-lines file that gets every order request
    received; ``trailing_stops``: take trailing stops (refused otherwise)."""
    names = [f"FIX{i}" for i in range(1, accounts + 1)]
    sim = FixSimulator(
        port,
        clients=(*DEFAULT_CLIENTS, *names),
        watch={"DROPCOPY": "*", "LEADER": names[0]},
        seed=seed,
        password=os.environ.get("COPYTUI_FIX_SIM_PASSWORD") or None,
        ids_from_one=ids_from_one,
        faults=faults,
        audit_path=audit,
        trailing_stops=trailing_stops,
    )
    for name in names:
        sim.account(name)  # with ``faults``, as every account the simulator opens
    return sim


def serve(
    port: int,
    accounts: int = 3,
    seed: int = 7,
    *,
    faults: Faults | None = None,
    audit: str | None = None,
    ids_from_one: bool = False,
    trailing_stops: bool = False,
) -> None:
    """``copytui sim fix --port P``: run until Ctrl-C with demo accounts FIX1..FIXn. ``faults``: for
    every account (see the module's docstring for how each plays on FIX); ``audit``: append every
    order request received, refused ones too, to this JSON-lines file. ``ids_from_one``: OrderIDs
    and ExecIDs restart at 1 in each run, like QuickFIX's executor. ``trailing_stops``
    (``--trailing-stops``): take trailing stops, which a gateway without them refuses."""
    port = port or _free_port()  # quickfix cannot report the port it bound: pick one first
    sim = simulator_for_cli(
        port, accounts, seed, faults=faults, audit=audit, ids_from_one=ids_from_one, trailing_stops=trailing_stops
    )

    def stop_on_sigterm(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # leave through the finally below: log out clients, drop temp files

    signal.signal(signal.SIGTERM, stop_on_sigterm)  # until the price walk below takes SIGINT and SIGTERM
    try:
        sim.start()
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    try:
        names = ", ".join(f"FIX{i}" for i in range(1, accounts + 1))
        print(f"FIX simulator on 127.0.0.1:{port}: FIX.4.2 and FIX.4.4, TargetCompID {sim.comp_id}", flush=True)
        print(f"  SenderCompIDs: {', '.join(sorted({r.client for r in sim.routes.values()}))}", flush=True)
        print(f"  accounts (tag 1): {names}; DROPCOPY watches every account", flush=True)
        print("  logon password (554): " + ("from $COPYTUI_FIX_SIM_PASSWORD" if sim.password else "none"), flush=True)
        taken = "taken" if trailing_stops else "refused (--trailing-stops takes them)"
        print(f"  trailing stops (ExecInst a, PegDifference 211): {taken}", flush=True)
        if faults is not None and faults != Faults():
            print(f"  faults on every account: {faults}", flush=True)
        if audit:
            print(f"  audit: every order request received is appended to {audit}", flush=True)
        print("Ctrl-C to stop.", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(walk_until_stopped(sim.exchange, TICK_S, "fix-sim"))
    finally:
        sim.stop()  # logs clients out, drops the temporary store


_bench_runs = itertools.count(1)


def _free_port() -> int:
    with socket.socket() as probe:  # quickfix cannot report the port it bound: pick one first
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.asynccontextmanager
async def bench_accounts(
    names: Sequence[str],
) -> AsyncIterator[tuple[list[AccountConfig], Callable[[str], str | None]]]:
    """The benchmark's hook (copytui/bench/brokers.py): one FIX 4.4 session and account per follower name.

    quickfix sessions are process-wide, so each call uses CompIDs of its own (``B<run>F<n>``)."""
    run = next(_bench_runs)
    clients = tuple(f"B{run}F{i}" for i in range(1, len(names) + 1))
    sim = FixSimulator(_free_port(), clients=clients, versions=(w.FIX44,))
    for client in clients:
        sim.account(client)
    sim.start()
    options: dict[str, str | int | float | bool] = {
        "begin_string": w.FIX44,
        "target_comp_id": sim.comp_id,
        "reset_on_logon": True,  # the simulator's store is new each run: so are the sequence numbers
        "reconnect_interval": 1,
        "message_log": False,
    }
    configs = [
        AccountConfig(
            name=n,
            broker="fix",
            host="127.0.0.1",
            port=sim.port,
            account_id=client,
            options={**options, "sender_comp_id": client},
        )
        for n, client in zip(names, clients, strict=True)
    ]
    try:
        yield configs, lambda _key: None  # the simulator asks no logon password
    finally:
        sim.stop()
