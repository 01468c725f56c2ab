"""Every order request a simulator received, refused ones included: what a black-box check reads
to tell "no duplicate accepted" from "no duplicate received". Kept in memory (each simulator's
admin endpoint serves it) and, with ``copytui sim ... --audit FILE``, appended to a JSON-lines
file as each request arrives. Order requests only: a login's body (a password, a key) is never
recorded."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any


@dataclass(frozen=True, slots=True)
class AuditEntry:
    wall_ns: int
    broker: str
    account: str
    action: str
    """place, modify, cancel, flatten, ... as the broker's API names it."""
    client_order_id: str | None
    outcome: str
    """accepted or refused."""
    reason: str = ""
    request: dict[str, Any] | None = None
    """The order fields as received (never credentials)."""


class AuditLog:
    def __init__(self, broker: str, path: str | Path | None = None) -> None:
        self.broker = broker
        self.entries: list[AuditEntry] = []
        self._lock = threading.Lock()  # the FIX simulator records from QuickFIX's threads
        self._file: IO[str] | None = None
        if path is not None:
            self._file = Path(path).open("a", encoding="utf-8")  # held open while the simulator runs

    def record(
        self,
        account: str,
        action: str,
        client_order_id: str | None,
        outcome: str,
        reason: str = "",
        request: dict[str, Any] | None = None,
    ) -> AuditEntry:
        entry = AuditEntry(time.time_ns(), self.broker, str(account), action, client_order_id, outcome, reason, request)
        with self._lock:
            self.entries.append(entry)
            if self._file is not None:
                self._file.write(json.dumps(asdict(entry), default=str) + "\n")
                self._file.flush()
        return entry

    def as_json(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(e) for e in self.entries]

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
