"""The trader's commands by follower, group or all, and the control socket that takes them from
another terminal: ``copytui ctl pause @apex`` in a second tmux pane acts on the running copytui.

:class:`Operator` is the one place the desk's group keys, its palette and the socket go through;
it runs on the engine's loop. A target is a follower's name, ``@GROUP`` (every follower tagged with
that group in the config) or ``all``.

The socket is a Unix socket next to the journal (``journal.sqlite3.ctl``), created private to its
owner: only the user running copytui can command it. One JSON object per line each way:
``{"cmd": "pause", "target": "@apex"}`` -> ``{"ok": true, "message": "...", "followers": [...]}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from copytui.config import FollowerConfig
from copytui.engine import CopyState, Engine

COMMANDS = ("status", "pause", "resume", "flatten", "reconcile")
MAX_SOCKET_PATH = 100
"""Unix socket paths are limited to about 104-108 bytes; longer journal paths use a hashed name."""


class TargetError(ValueError):
    """A target that names no follower or group: the message lists what there is."""


def control_path(journal: Path) -> Path:
    """Where the control socket of the copytui running on ``journal`` listens."""
    path = Path(str(Path(journal).expanduser().resolve()) + ".ctl")
    if len(os.fsencode(path)) <= MAX_SOCKET_PATH:
        return path
    digest = hashlib.sha256(os.fsencode(path)).hexdigest()[:16]
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    return Path(base) / f"copytui-{digest}.ctl"


def groups_of(followers: Iterable[FollowerConfig]) -> dict[str, list[str]]:
    """group -> its followers, in config order."""
    out: dict[str, list[str]] = {}
    for f in followers:
        for g in f.groups:
            out.setdefault(g, []).append(f.name)
    return out


class Operator:
    def __init__(self, engine: Engine, followers: Iterable[FollowerConfig]) -> None:
        self.engine = engine
        self.configs = list(followers)
        self.groups = groups_of(self.configs)

    def targets(self, target: str) -> list[str]:
        """The followers ``target`` names: a follower, ``@GROUP`` or ``all``."""
        names = [f.name for f in self.configs]
        target = target.strip()
        if target in ("all", "*"):
            return names
        if target.startswith("@"):
            members = self.groups.get(target[1:])
            if members is None:
                known = ", ".join(f"@{g}" for g in self.groups) or "none (tag followers with groups: [NAME])"
                raise TargetError(f"no group {target!r}; groups: {known}")
            return members
        if target in names:
            return [target]
        raise TargetError(f"no follower {target!r}; followers: {', '.join(names)}; or @GROUP, or all")

    def pause(self, target: str) -> str:
        names = self.targets(target)
        todo = [n for n in names if self.engine.followers[n].state.copy_state is not CopyState.PAUSED]
        for name in todo:
            self.engine.pause(name)
        return f"paused {_who(target, todo)}" if todo else f"{_who(target, names)}: already paused"

    def resume(self, target: str, sync: bool = True) -> str:
        names = self.targets(target)
        todo = [n for n in names if self.engine.followers[n].state.copy_state is CopyState.PAUSED]
        for name in todo:
            self.engine.resume(name, sync=sync)
        how = "synced to the leader" if sync else "waiting for the leader to be flat"
        return f"resumed {_who(target, todo)}: {how}" if todo else f"{_who(target, names)}: none was paused"

    async def flatten(self, target: str) -> str:
        names = self.targets(target)
        results = await asyncio.gather(*(self.engine.flatten(n) for n in names), return_exceptions=True)
        failed = [f"{n}: {r}" for n, r in zip(names, results, strict=True) if isinstance(r, BaseException)]
        if failed:
            raise RuntimeError("flatten failed at " + "; ".join(failed))
        return f"{_who(target, names)} flat and paused"

    def status(self) -> list[dict[str, Any]]:
        out = []
        for f in self.configs:
            st = self.engine.followers[f.name]
            out.append(
                {
                    "name": f.name,
                    "groups": f.groups,
                    "copy": str(st.state.copy_state),
                    "connection": str(st.adapter.health.state),
                    "positions": {s: p.qty for s, p in st.positions.items() if p.qty},
                    "follows": list(st.state.follows),
                }
            )
        return out

    async def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        """One command from the socket; never raises: a bad request is answered with what was wrong."""
        cmd = request.get("cmd")
        target = str(request.get("target") or "all")
        try:
            if cmd == "status":
                return {"ok": True, "message": f"{len(self.configs)} followers", "followers": self.status()}
            if cmd == "pause":
                message = self.pause(target)
            elif cmd == "resume":
                message = self.resume(target, sync=bool(request.get("sync", True)))
            elif cmd == "flatten":
                message = await self.flatten(target)
            elif cmd == "reconcile":
                await self.engine.reconcile_now()
                message = "reconciled"
            else:
                return {"ok": False, "error": f"unknown command {cmd!r}; commands: {', '.join(COMMANDS)}"}
        except (TargetError, RuntimeError) as exc:
            return {"ok": False, "error": str(exc)}
        self.engine.journal.operator_action("control", target, f"{cmd} (copytui ctl)")
        return {"ok": True, "message": message, "followers": self.status()}


def _who(target: str, names: list[str]) -> str:
    if target.startswith("@"):
        return f"group {target} ({', '.join(names)})"
    if target in ("all", "*"):
        return f"all {len(names)} followers"
    return ", ".join(names)


class ControlServer:
    """The control socket, served on the engine's loop while copytui runs."""

    def __init__(self, operator: Operator, path: Path) -> None:
        self.operator = operator
        self.path = path
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        # the journal's lease is held: a socket file left here is a dead copytui's
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        old = os.umask(0o177)
        try:
            self._server = await asyncio.start_unix_server(self._client, path=str(self.path))
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                try:
                    request = json.loads(line)
                    if not isinstance(request, dict):
                        raise ValueError("not an object")
                except ValueError:
                    answer: dict[str, Any] = {"ok": False, "error": 'send one JSON object per line: {"cmd": "status"}'}
                else:
                    answer = await self.operator.handle(request)
                writer.write(json.dumps(answer).encode() + b"\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


def ask(path: Path, request: dict[str, Any], timeout_s: float = 60.0) -> dict[str, Any]:
    """Send one command to the copytui listening at ``path`` and return its answer (for the CLI)."""

    async def exchange() -> dict[str, Any]:
        reader, writer = await asyncio.open_unix_connection(str(path))
        try:
            writer.write(json.dumps(request).encode() + b"\n")
            await writer.drain()
            line = await asyncio.wait_for(reader.readline(), timeout_s)
        finally:
            writer.close()
        answer: dict[str, Any] = json.loads(line)
        return answer

    return asyncio.run(exchange())
