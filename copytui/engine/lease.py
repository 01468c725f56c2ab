"""One controller per follower (invariant 6).

A lease is an exclusive ``flock`` on a small file: one for the journal, one per follower
account (broker + account id) in a shared lease directory, so a second copytui process refuses
to drive the same journal or the same follower even from another journal. The kernel drops the
locks when the process dies, kill -9 included: a restart never waits for a stale lease.
"""

from __future__ import annotations

import fcntl
import os
import re
from pathlib import Path


class LeaseHeld(RuntimeError):
    pass


class Lease:
    def __init__(self, path: Path, what: str) -> None:
        self.path = path
        self.what = what
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise LeaseHeld(
                f"{self.what} is already driven by copytui pid {holder}. Stop that process first; "
                "two copiers on one account would double every order."
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)


class Leases:
    """The journal's lease and one per follower account."""

    def __init__(self, journal_path: Path, lease_dir: Path | None = None) -> None:
        self.journal_path = journal_path
        self.lease_dir = lease_dir or journal_path.parent / "leases"
        self.held: list[Lease] = []

    def take(self, followers: list[tuple[str, str, bool]]) -> None:
        """``followers``: (name, account key, process-local). All or nothing.

        Two followers on one account are refused here, naming both: each would copy every
        leader order, so the account would trade twice. A process-local account (the paper
        exchange, an embedded simulator) is unreachable from another process and takes no lease
        file; the journal's lease still keeps a second copytui off this journal."""
        seen: dict[str, str] = {}
        for name, key, _local in followers:
            if key in seen:
                raise LeaseHeld(
                    f"followers {seen[key]} and {name} are the same broker account ({key}): each would copy "
                    f"every leader order, so that account would trade twice. Remove one of them from the config."
                )
            seen[key] = name
        wanted = [Lease(Path(str(self.journal_path) + ".lock"), f"journal {self.journal_path}")]
        wanted.extend(
            Lease(self.lease_dir / f"{_safe(key)}.lock", f"follower {name} ({key})")
            for name, key, local in followers
            if not local
        )
        try:
            for lease in wanted:
                lease.acquire()
                self.held.append(lease)
        except LeaseHeld:
            self.release()
            raise

    def release(self) -> None:
        for lease in self.held:
            lease.release()
        self.held = []
