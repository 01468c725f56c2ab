"""Watching one folder: every file that appears, is rewritten or goes, with its text.

With inotify (Linux, a local folder) a written file is read as soon as its writer closes it, and a
slow rescan (``rescan_s``) catches anything the kernel's queue overflowed on. Without it (a mounted
Windows share, another OS) the folder is listed every ``poll_s`` in a worker thread, so a slow
share never holds up the event loop, and a file is read again when its size, time or identity
changes. Each note carries how long after the file's last write it was read (``lag_ns``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Literal

from adapters.kit.tasks import TaskGroup
from adapters.ninjatrader import inotify

log = logging.getLogger("copytui.adapters.ninjatrader")

Stamp = tuple[int, int, int]  # (inode, mtime_ns, size)
WatchMode = Literal["auto", "inotify", "poll"]
MAX_BYTES = 4096  # an ATI file is one short line; anything longer is not one


@dataclass(frozen=True, slots=True)
class FileNote:
    name: str
    text: str | None
    """None: the file is gone."""
    lag_ns: int = 0
    """Wall time from the file's last write to this read (0 when gone or unknown)."""
    recv_ns: int = 0
    """perf_counter_ns of the read."""


def choose_mode(folder: str, wanted: WatchMode) -> Literal["inotify", "poll"]:
    if wanted == "poll":
        return "poll"
    usable = inotify.available() and inotify.fs_kind(folder) is None
    if wanted == "inotify" and not inotify.available():
        raise OSError("watch: inotify is not available here (Linux only); use watch: poll")
    if wanted == "inotify" or usable:
        return "inotify"
    return "poll"


def read_text(path: str) -> tuple[str, Stamp] | None:
    """A file's text (invalid UTF-8 replaced) and stamp; None when it is gone or unreadable."""
    try:
        with open(path, "rb") as fh:
            st = os.fstat(fh.fileno())
            data = fh.read(MAX_BYTES + 1)
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        return None
    return data.decode("utf-8", "replace"), (st.st_ino, st.st_mtime_ns, st.st_size)


def _stamps(folder: str) -> dict[str, Stamp] | None:
    try:
        with os.scandir(folder) as it:
            out = {}
            for entry in it:
                if entry.is_file(follow_symlinks=False):
                    st = entry.stat(follow_symlinks=False)
                    out[entry.name] = (st.st_ino, st.st_mtime_ns, st.st_size)
            return out
    except (FileNotFoundError, NotADirectoryError):
        return None


class FolderWatch:
    """Calls ``on_note`` on the event loop for each change in ``folder``. ``read=False``: presence
    only (the notes carry no text), for a folder whose files copytui wrote itself."""

    def __init__(
        self,
        folder: str,
        on_note: Callable[[FileNote], None],
        *,
        mode: WatchMode = "auto",
        poll_s: float = 0.02,
        rescan_s: float = 1.0,
        read: bool = True,
        wanted: Callable[[str], bool] = lambda _name: True,
    ) -> None:
        self.folder = folder
        self.on_note = on_note
        self.mode = choose_mode(folder, mode)
        self.poll_s = poll_s
        self.rescan_s = rescan_s
        self.read = read
        self.wanted = wanted
        self.known: dict[str, Stamp] = {}
        self._ino: inotify.Inotify | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.tasks = TaskGroup()
        self.rescans = 0

    # ------------------------------------------------------------------ life
    def start(self) -> list[FileNote]:
        """Start watching; the files there now, as notes (the baseline)."""
        self._loop = asyncio.get_running_loop()
        if self.mode == "inotify":
            self._ino = inotify.Inotify(self.folder)
            self._loop.add_reader(self._ino.fd, self._readable)
        notes = self._diff(_stamps(self.folder) or {})
        self.tasks.spawn(self._run(), f"ninjatrader-watch-{os.path.basename(self.folder)}")
        return notes

    async def stop(self) -> None:
        if self._ino is not None and self._loop is not None:
            self._loop.remove_reader(self._ino.fd)
            self._ino.close()
            self._ino = None
        await self.tasks.cancel_all()

    # ---------------------------------------------------------------- notes
    def _note(self, name: str) -> FileNote | None:
        """Read ``name`` now; None when nothing changed since the last read or it is unreadable."""
        path = os.path.join(self.folder, name)
        if not self.read:
            try:
                st = os.stat(path)
            except FileNotFoundError:
                return None
            self.known[name] = (st.st_ino, st.st_mtime_ns, st.st_size)
            return FileNote(name, "", 0, time.perf_counter_ns())
        got = read_text(path)
        if got is None:
            return None
        text, stamp = got
        self.known[name] = stamp
        return FileNote(name, text, max(0, time.time_ns() - stamp[1]), time.perf_counter_ns())

    def _gone(self, name: str) -> FileNote | None:
        if self.known.pop(name, None) is None:
            return None
        return FileNote(name, None, 0, time.perf_counter_ns())

    def _diff(self, stamps: dict[str, Stamp], listed_earlier: bool = False) -> list[FileNote]:
        """Notes for what differs between ``stamps`` (a listing) and what was read last.
        ``listed_earlier``: the listing is older than some reads (made in a worker while inotify
        events were read), so a file it lacks is looked for again before it is called gone."""
        missing = sorted(set(self.known) - set(stamps))
        if listed_earlier:
            missing = [m for m in missing if not os.path.lexists(os.path.join(self.folder, m))]
        notes = [n for name in missing if (n := self._gone(name))]
        for name, stamp in stamps.items():
            if self.known.get(name) != stamp and self.wanted(name):
                # a new identity under an old name is a rewrite (a writer that replaces files), not a
                # deletion: only a name missing from a listing is gone
                note = self._note(name)
                if note is not None:
                    notes.append(note)
        return notes

    def _deliver(self, notes: list[FileNote]) -> None:
        for note in notes:
            try:
                self.on_note(note)
            except Exception:  # one bad handler call must not stop the watch
                log.exception("handling %s in %s failed", note.name, self.folder)

    # -------------------------------------------------------------- inotify
    def _readable(self) -> None:
        assert self._ino is not None
        notes: list[FileNote] = []
        for ev in self._ino.read():
            if ev.mask & (inotify.IN_DELETE_SELF | inotify.IN_MOVE_SELF | inotify.IN_IGNORED):
                if ev.mask & inotify.IN_IGNORED:
                    self._ino.wd = -1
                notes.extend(n for name in sorted(self.known) if (n := self._gone(name)))
                continue
            if ev.mask & inotify.IN_Q_OVERFLOW:
                notes.extend(self._diff(_stamps(self.folder) or {}))
                continue
            if not ev.name or not self.wanted(ev.name):
                continue
            if ev.mask & (inotify.IN_DELETE | inotify.IN_MOVED_FROM):
                note = self._gone(ev.name)
            else:
                note = self._note(ev.name)
            if note is not None:
                notes.append(note)
        self._deliver(notes)

    async def _run(self) -> None:
        if self.mode == "poll":
            while True:
                await asyncio.sleep(self.poll_s)
                # listing and reading both in the worker: a slow share never holds up the loop
                self._deliver(await asyncio.to_thread(self._poll_once))
        while True:
            await asyncio.sleep(self.rescan_s)
            stamps = await asyncio.to_thread(_stamps, self.folder)
            if stamps is None:
                continue  # the folder is gone (the events said so); wait for it to come back
            if self._ino is not None and self._ino.wd < 0:
                with contextlib.suppress(OSError):
                    self._ino.add(self.folder)  # the folder was made again: watch the new one
            found = self._diff(stamps, listed_earlier=True)
            if found:
                self.rescans += 1
                self._deliver(found)

    def _poll_once(self) -> list[FileNote]:
        return self._diff(_stamps(self.folder) or {})


class SharedWatch:
    """One watch of a folder for every adapter of this process on it (followers on one NinjaTrader
    share its outgoing/): each file is read once, then handed to each adapter, which keeps what
    is its own. A late joiner gets the files as last read, as its baseline."""

    _all: ClassVar[dict[tuple[str, str, int], SharedWatch]] = {}

    def __init__(self, key: tuple[str, str, int], folder: str, mode: WatchMode, poll_s: float) -> None:
        self.key = key
        self.watch = FolderWatch(folder, self._fan_out, mode=mode, poll_s=poll_s)
        self.listeners: list[Callable[[FileNote], None]] = []
        self.latest: dict[str, FileNote] = {}

    @classmethod
    def join(
        cls, folder: str, mode: WatchMode, poll_s: float, listener: Callable[[FileNote], None]
    ) -> tuple[SharedWatch, list[FileNote]]:
        """The folder's watch (started by the first joiner) and the files there now."""
        resolved = choose_mode(folder, mode)
        key = (os.path.realpath(folder), resolved, id(asyncio.get_running_loop()))
        shared = cls._all.get(key)
        if shared is None:
            shared = cls(key, folder, resolved, poll_s)
            notes = shared.watch.start()
            shared.latest = {n.name: n for n in notes if n.text is not None}
            cls._all[key] = shared
        shared.listeners.append(listener)
        return shared, list(shared.latest.values())

    async def leave(self, listener: Callable[[FileNote], None]) -> None:
        with contextlib.suppress(ValueError):
            self.listeners.remove(listener)
        if not self.listeners and self._all.get(self.key) is self:
            del self._all[self.key]
            await self.watch.stop()

    @property
    def mode(self) -> str:
        return self.watch.mode

    def _fan_out(self, note: FileNote) -> None:
        if note.text is None:
            self.latest.pop(note.name, None)
        else:
            self.latest[note.name] = note
        for listener in list(self.listeners):
            try:
                listener(note)
            except Exception:  # one adapter's failure must not starve the others
                log.exception("handling %s failed", note.name)
