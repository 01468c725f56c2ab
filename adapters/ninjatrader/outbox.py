"""Order instruction files into NinjaTrader's ``incoming/``, each whole or not at all.

A file is written in ``copytui-staging/`` next to ``incoming/`` (the same disk or share) and then
moved in: NinjaTrader watches ``incoming/`` for ``oif*.txt`` and so never reads half a line. Each
name is new (``oif_<client id>_<verb>_<process><n>.txt``), so NinjaTrader's "ignore duplicate OIF
files" setting never skips one. NinjaTrader deletes a file once it has read it: a file still there
after ``pickup_timeout_s`` was never read, and taking it back (deleting it ourselves) makes sure it
never will be. On a share, writes and looks go through a worker thread so the event loop never
waits on the network. Making a file is most of a write's cost on some disks, so a few empty ones
are made ahead in staging/ by a worker thread and filled when an order comes.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import secrets
import time
from collections.abc import Sequence
from typing import ClassVar

from adapters.kit.tasks import TaskGroup
from adapters.ninjatrader import inotify

STAGING = "copytui-staging"
POOL = 64
_names = itertools.count(1)
_process = f"{os.getpid():x}{secrets.token_hex(2)}"


class Pickups:
    """One inotify watch of an incoming/ folder for every outbox of this process on it: which of
    our files NinjaTrader has taken (deleted or moved away)."""

    _all: ClassVar[dict[tuple[str, int], Pickups]] = {}

    def __init__(self, key: tuple[str, int], folder: str, loop: asyncio.AbstractEventLoop) -> None:
        self.key = key
        self.loop = loop
        self.ino = inotify.Inotify(folder)
        self.waiting: dict[str, asyncio.Future[None]] = {}
        self.users = 0
        loop.add_reader(self.ino.fd, self._readable)

    @classmethod
    def join(cls, folder: str) -> Pickups:
        loop = asyncio.get_running_loop()
        key = (os.path.realpath(folder), id(loop))
        shared = cls._all.get(key)
        if shared is None:
            shared = cls._all[key] = cls(key, folder, loop)
        shared.users += 1
        return shared

    def leave(self) -> None:
        self.users -= 1
        if self.users <= 0 and self._all.get(self.key) is self:
            del self._all[self.key]
            self.loop.remove_reader(self.ino.fd)
            self.ino.close()

    def _readable(self) -> None:
        for ev in self.ino.read():
            if ev.mask & (inotify.IN_DELETE | inotify.IN_MOVED_FROM):
                fut = self.waiting.get(ev.name)
                if fut is not None and not fut.done():
                    fut.set_result(None)


class Outbox:
    def __init__(self, folder: str, *, mode: str, poll_s: float) -> None:
        self.incoming = os.path.join(folder, "incoming")
        self.staging = os.path.join(folder, STAGING)
        self.mode = mode
        self.poll_s = poll_s
        self._pickups: Pickups | None = None
        self._mine: set[str] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.tasks = TaskGroup()
        self.pool: list[str] = []
        """Empty files made ahead in staging/ (never in incoming/: NinjaTrader sees only whole files)."""
        self._refilling = False

    def open(self) -> None:
        os.makedirs(self.staging, exist_ok=True)
        self._loop = asyncio.get_running_loop()
        self.pool = self._make(POOL)
        if self.mode == "inotify":
            self._pickups = Pickups.join(self.incoming)

    async def close(self) -> None:
        await self.tasks.cancel_all()
        self.pool.clear()
        with contextlib.suppress(OSError):  # ours, the pool's (a refill's thread may have made more)
            for name in os.listdir(self.staging):
                if name.startswith(f"pool-{_process}"):
                    os.unlink(os.path.join(self.staging, name))
        for name in list(self._mine):
            self.done(name)
        if self._pickups is not None:
            self._pickups.leave()
            self._pickups = None

    # ------------------------------------------------------------------ writing
    def name_for(self, client_id: str, verb: str) -> str:
        return f"oif_{client_id}_{verb}_{_process}{next(_names):x}.txt"

    def _write(self, name: str, lines: Sequence[str]) -> None:
        # a file made beforehand when there is one: making a file is most of a write's cost
        staged = self.pool.pop() if self.pool else os.path.join(self.staging, name + ".part")
        try:
            fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                os.write(fd, "".join(line + "\r\n" for line in lines).encode("ascii"))
            finally:
                os.close(fd)
            os.replace(staged, os.path.join(self.incoming, name))
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(staged)
            raise
        if len(self.pool) < POOL // 2 and not self._refilling and self._loop is not None:
            self._refilling = True
            self.tasks.spawn(self._refill(), "ninjatrader-staging-pool")

    async def _refill(self) -> None:
        try:
            made = await asyncio.to_thread(self._make, POOL - len(self.pool))
            self.pool.extend(made)
        finally:
            self._refilling = False

    def _make(self, n: int) -> list[str]:
        made = []
        for _ in range(n):
            path = os.path.join(self.staging, f"pool-{_process}{next(_names):x}.part")
            with contextlib.suppress(OSError):
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
                made.append(path)
        return made

    async def write(self, name: str, lines: Sequence[str]) -> int:
        """Move the file into incoming/; perf_counter_ns once it is there. OSError when it cannot be."""
        if self._pickups is not None and self._loop is not None:
            self._pickups.waiting[name] = self._loop.create_future()
            self._mine.add(name)
        try:
            if self.mode == "poll":
                await asyncio.to_thread(self._write, name, lines)
            else:
                self._write(name, lines)
        except OSError:
            self.done(name)
            raise
        return time.perf_counter_ns()

    # ------------------------------------------------------------------ pickup
    def _present(self, name: str) -> bool:
        return os.path.exists(os.path.join(self.incoming, name))

    async def picked_up(self, name: str, timeout_s: float) -> bool:
        """Wait until NinjaTrader has taken ``name`` out of incoming/ (True) or ``timeout_s`` passed."""
        fut = self._pickups.waiting.get(name) if self._pickups is not None else None
        deadline = time.monotonic() + timeout_s
        try:
            if self.mode == "inotify" and fut is not None:
                if not self._present(name):  # taken before the watch could say so
                    return True
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(fut), timeout_s)
                return not self._present(name)
            while time.monotonic() < deadline:
                if not await asyncio.to_thread(self._present, name):
                    return True
                await asyncio.sleep(self.poll_s)
            return False
        finally:
            self.done(name)

    def done(self, name: str) -> None:
        self._mine.discard(name)
        fut = self._pickups.waiting.pop(name, None) if self._pickups is not None else None
        if fut is not None and not fut.done():
            fut.cancel()

    def take_back(self, name: str) -> bool:
        """Delete ``name`` from incoming/ before NinjaTrader reads it: True when it was still there
        (so it is never read), False when NinjaTrader had taken it (or the share refused)."""
        self.done(name)
        try:
            os.unlink(os.path.join(self.incoming, name))
        except OSError:
            return False
        return True

    def pending_for(self, client_id: str) -> list[str]:
        """Our files for ``client_id`` still waiting in incoming/ (e.g. from before a restart)."""
        prefix = f"oif_{client_id}_"
        try:
            return sorted(n for n in os.listdir(self.incoming) if n.startswith(prefix))
        except OSError:
            return []
