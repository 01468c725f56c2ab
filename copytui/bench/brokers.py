"""Which brokers the benchmark runs, and how a broker's simulator joins in.

``paper`` is the in-process paper adapter. Any other broker is benchmarked through its simulator
on 127.0.0.1, so its real wire code runs: a broker joins by naming, as ``bench`` in its
``AdapterSpec``, one async context manager::

    @asynccontextmanager
    async def bench_accounts(names: Sequence[str]) -> AsyncIterator[tuple[list[AccountConfig], SecretLookup]]:
        # start the simulator on 127.0.0.1 (port 0), open one demo account per name, then
        yield configs, secret   # one AccountConfig per name, in order; secret(key) -> str | None
        # stop the simulator

Each AccountConfig carries what the adapter's factory needs (broker, host, port, account_id,
username, options), never a secret: ``secret`` stands in for the keyring. A broker without that
hook is skipped with a note saying which is missing.

The benchmark enters the hook in a process of its own (``copytui.bench.simhost``), as a real
broker is elsewhere: the simulator's work is then not counted as copytui's overhead.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

from adapters.base import AdapterSpec
from copytui import registry
from copytui.config import AccountConfig, FaultConfig, FollowerConfig

SecretLookup = Callable[[str], str | None]
HOOK = "bench_accounts"
START_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Broker:
    name: str
    hook: Callable[[Sequence[str]], AbstractAsyncContextManager[Any]] | None = None
    skipped: str | None = None  # why this broker cannot be benchmarked here


def find(name: str) -> Broker:
    if name == "paper":
        return Broker(name)
    declared = registry.specs().get(name)
    if declared is None:
        return Broker(name, skipped=f"{name}: no adapter registered (entry point copytui.adapters.{name}); skipped")
    if declared.bench is None:
        return Broker(name, skipped=f"{name}: its AdapterSpec declares no bench hook (see copytui/bench/brokers.py)")
    try:
        hook = AdapterSpec.load(declared.bench)
    except (ImportError, AttributeError) as exc:
        return Broker(name, skipped=f"{name}: its bench hook {declared.bench} does not load ({exc}); skipped")
    if not callable(hook):
        return Broker(name, skipped=f"{name}: {declared.bench} is not a {HOOK}(names) hook")
    return Broker(name, hook=hook)


@asynccontextmanager
async def follower_accounts(
    broker: Broker, names: Sequence[str], latency_ms: float = 0.0
) -> AsyncIterator[tuple[list[FollowerConfig], SecretLookup | None]]:
    """Follower configs on ``broker``, each copying the leader 1:1 in fills mode."""
    if broker.hook is None:
        faults = FaultConfig(latency_ms=latency_ms) if latency_ms else None
        yield [FollowerConfig(name=n, broker="paper", faults=faults) for n in names], None
        return
    async with simulator_process(broker, names) as (configs, secret):
        if len(configs) != len(names):
            raise RuntimeError(f"{broker.name} {HOOK} gave {len(configs)} accounts for {len(names)} names")
        yield (
            [FollowerConfig.model_validate({**c.model_dump(), "name": n}) for c, n in zip(configs, names, strict=True)],
            secret,
        )


@asynccontextmanager
async def simulator_process(
    broker: Broker, names: Sequence[str]
) -> AsyncIterator[tuple[list[AccountConfig], SecretLookup]]:
    """``broker``'s bench hook entered in a child process; its accounts and demo logins here."""
    with tempfile.TemporaryFile() as err:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "copytui.bench.simhost", broker.name, *names,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=err,
        )  # fmt: skip
        assert proc.stdin is not None and proc.stdout is not None
        try:
            try:
                line = await asyncio.wait_for(proc.stdout.readline(), START_TIMEOUT_S)
            except TimeoutError:
                line = b""
            if not line:
                proc.kill()
                await proc.wait()
                err.seek(0)
                tail = err.read().decode(errors="replace").strip().splitlines()[-5:]
                raise RuntimeError(f"{broker.name} simulator process did not start: " + " | ".join(tail))
            answer = json.loads(line)
            configs = [AccountConfig.model_validate(c) for c in answer["configs"]]
            secrets: dict[str, str] = answer["secrets"]
            yield configs, secrets.get
        finally:
            if proc.returncode is None:
                proc.stdin.close()
                try:
                    await asyncio.wait_for(proc.wait(), 10)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()
