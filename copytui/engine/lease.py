"""One controller per follower (invariant 6).

A lease is an exclusive ``flock`` on a small file: one for the journal, and one per follower
account in one folder per user and host (``host_lease_dir``), named by the account's canonical
key as its adapter reports it after connecting (the broker's own account id, not our alias or
the way a config spells it), so a second copytui process refuses to drive the same follower
even from another journal, another config or another data folder. The kernel drops the
locks when the process dies, kill -9 included: a restart never waits for a stale lease.
"""

from __future__ import annotations

import fcntl
import os
import re
import stat
import tempfile
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


def host_lease_dir() -> Path:
    """One folder per user on this host, whatever the data folder (``XDG_DATA_HOME``) of the
    process: every copytui of the user sees every other's account leases. ``COPYTUI_LEASE_DIR``
    moves it (the test suite keeps its own)."""
    if override := os.environ.get("COPYTUI_LEASE_DIR"):
        return Path(override)
    folder = Path(tempfile.gettempdir()) / f"copytui-{os.getuid()}"
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
    except OSError as exc:
        raise LeaseHeld(f"cannot make the lease folder {folder}: {exc.strerror}") from None
    st = folder.lstat()
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
        raise LeaseHeld(
            f"{folder} is not a folder of yours: copytui keeps its account leases there. Remove it, or set "
            "COPYTUI_LEASE_DIR to a folder of your own (the same for every copytui you run)."
        )
    return folder / "leases"


class Leases:
    """The journal's lease and one per follower account."""

    def __init__(self, journal_path: Path, lease_dir: Path | None = None) -> None:
        self.journal_path = journal_path
        self.lease_dir = lease_dir
        self.held: list[Lease] = []
        self._journal: Lease | None = None

    def take_journal(self) -> None:
        """The journal's own lease: one copytui per journal. Taken before any broker is contacted."""
        if self._journal is None:
            lease = Lease(Path(str(self.journal_path) + ".lock"), f"journal {self.journal_path}")
            lease.acquire()
            self._journal = lease

    def take(
        self,
        followers: list[tuple[str, str, bool]],
        leader: tuple[str, str] | None = None,
        leaders: list[tuple[str, str]] | None = None,
    ) -> None:
        """``followers``: (name, account key, process-local); ``leader``: (name, account key), or
        ``leaders``, several. All or nothing.

        A follower on the leader's own account, or two followers on one account, are refused here,
        naming both: the first copies its own orders back (a feedback loop), the second trades every
        leader order twice. A process-local account (the paper exchange, an embedded simulator) is
        unreachable from another process and takes no lease file; the journal's lease still keeps a
        second copytui off this journal."""
        lead: dict[str, str] = {}
        for name, key in [*([leader] if leader else []), *(leaders or [])]:
            if key in lead and lead[key] != name:
                raise LeaseHeld(
                    f"leaders {lead[key]} and {name} are the same broker account ({key}): every order there "
                    "would be copied twice. Remove one of them from the config."
                )
            lead[key] = name
        seen: dict[str, str] = {}
        for name, key, _local in followers:
            if key in lead:
                raise LeaseHeld(
                    f"follower {name} is the leader's own account ({key}, leader {lead[key]}): it would copy "
                    "its own orders back as new leader orders, without end. Give the follower an account of "
                    "its own."
                )
            if key in seen:
                raise LeaseHeld(
                    f"followers {seen[key]} and {name} are the same broker account ({key}): each would copy "
                    f"every leader order, so that account would trade twice. Remove one of them from the config."
                )
            seen[key] = name
        try:
            self.take_journal()
            remote = [(name, key) for name, key, local in followers if not local]
            folder = (self.lease_dir or host_lease_dir()) if remote else None
            for name, key in remote:
                assert folder is not None
                lease = Lease(folder / f"{_safe(key)}.lock", f"follower {name} ({key})")
                lease.acquire()
                self.held.append(lease)
        except LeaseHeld:
            self.release()
            raise

    def release(self) -> None:
        for lease in self.held:
            lease.release()
        self.held = []
        if self._journal is not None:
            self._journal.release()
            self._journal = None
