"""quickfix's message and event log, with secrets masked before anything is written.

quickfix's own FileLog writes every message verbatim, the Logon with its Password (554) too.
This log factory replaces it: each message line goes through :func:`adapters.fix.wire.scrub`,
and session events (connect failures, resend requests, sequence resets) also go to a callback
so that the adapter can show them in its health detail.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

import quickfix as fix

from adapters.fix.qf import Log, LogFactory
from adapters.fix.wire import scrub

log = logging.getLogger("adapters.fix")

EventSink = Callable[[str], None]


class _ScrubbedLog(Log):
    def __init__(self, owner: ScrubbedLogFactory, session: str) -> None:
        super().__init__()
        self.owner = owner
        self.session = session

    def clear(self) -> None:
        return None

    def backup(self) -> None:
        return None

    def onIncoming(self, raw: str) -> None:
        self.owner.write("in ", raw)

    def onOutgoing(self, raw: str) -> None:
        self.owner.write("out", raw)

    def onEvent(self, text: str) -> None:
        self.owner.event(self.session, text)


class _RoutedLog(Log):
    """One session's log in a shared initiator: each line goes to whichever account drives the
    session now (an account that connects again later brings a log file of its own)."""

    def __init__(
        self, sink_of: Callable[[str], ScrubbedLogFactory | None], session: str, before_incoming: Callable[[], None]
    ) -> None:
        super().__init__()
        self.sink_of = sink_of
        self.session = session
        self.before_incoming = before_incoming

    def clear(self) -> None:
        return None

    def backup(self) -> None:
        return None

    def onIncoming(self, raw: str) -> None:
        self.before_incoming()
        sink = self.sink_of(self.session)
        if sink is not None:
            sink.write("in ", raw)

    def onOutgoing(self, raw: str) -> None:
        sink = self.sink_of(self.session)
        if sink is not None:
            sink.write("out", raw)

    def onEvent(self, text: str) -> None:
        sink = self.sink_of(self.session)
        if sink is not None:
            sink.event(self.session, text)


class RoutedLogFactory(LogFactory):
    """The logs of a shared initiator's sessions: ``sink_of(session)`` is where a session's lines go
    (None: nowhere). Events of the initiator itself go nowhere. ``before_incoming`` runs first
    for each message read (the first Python quickfix calls for it, on its reader thread)."""

    def __init__(
        self, sink_of: Callable[[str], ScrubbedLogFactory | None], before_incoming: Callable[[], None]
    ) -> None:
        super().__init__()
        self.sink_of = sink_of
        self.before_incoming = before_incoming
        self._logs: list[_RoutedLog] = []  # quickfix holds raw pointers: keep the objects alive

    def create(self, *args: fix.SessionID) -> _RoutedLog:
        entry = _RoutedLog(self.sink_of, str(args[0].toString()) if args else "", self.before_incoming)
        entry.__disown__()  # quickfix deletes it through destroy(); Python must not free it too
        self._logs.append(entry)
        return entry

    def destroy(self, entry: object) -> None:
        return None


class ScrubbedLogFactory(LogFactory):
    """One log file (or none) for an engine's sessions. Called on quickfix's threads and on the
    thread that sends; writes are small, line-sized and serialized by a lock."""

    def __init__(self, path: Path | None, on_event: EventSink | None = None) -> None:
        super().__init__()
        self.path = path
        self.on_event = on_event
        self._lock = threading.Lock()
        self._file: IO[str] | None = None
        self._logs: list[_ScrubbedLog] = []  # quickfix holds raw pointers: keep the objects alive
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("a", encoding="utf-8")

    def create(self, *args: fix.SessionID) -> _ScrubbedLog:
        session = str(args[0].toString()) if args else "engine"
        entry = _ScrubbedLog(self, session)
        entry.__disown__()  # quickfix deletes it through destroy(); Python must not free it too
        self._logs.append(entry)
        return entry

    def destroy(self, entry: object) -> None:
        return None

    def write(self, direction: str, raw: str) -> None:
        if self._file is None:
            return
        line = f"{time.strftime('%H:%M:%S')} {direction} {scrub(raw)}\n"
        with self._lock:
            if self._file is not None:
                self._file.write(line)
                self._file.flush()

    def event(self, session: str, text: str) -> None:
        text = scrub(text)
        self.write("evt", f"{session}: {text}")
        if self.on_event is not None:
            try:
                self.on_event(text)
            except Exception:  # a callback bug must not reach quickfix's C++ frames
                log.exception("FIX event callback failed")

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
