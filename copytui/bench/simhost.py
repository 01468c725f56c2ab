"""A broker simulator for the benchmark, in a process of its own.

A real broker is on another machine: its work does not take the copier's CPU or its GIL. Run in
the benchmark's own process, a simulator's server (ProjectX's aiohttp, FIX's quickfix threads)
would be measured as copytui's overhead, so the benchmark starts it here instead::

    python -m copytui.bench.simhost BROKER NAME [NAME ...]

enters the simulator's ``bench_accounts(names)`` hook, writes one JSON line to stdout
(``{"configs": [AccountConfig...], "secrets": {key: value}}``, the secrets being the simulator's
own demo logins, answered for every key an adapter may ask), and serves until stdin closes.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Sequence

from copytui.bench import brokers
from copytui.credentials import secret_fields


def _keys(name: str, broker: str) -> list[str]:
    """Every key an adapter of ``broker`` may ask the lookup for, for account ``name``."""
    fields = [f.field for f in secret_fields(broker)]
    return [name, *(f"{name}:{f}" for f in fields), *fields]


async def host(broker_name: str, names: Sequence[str]) -> None:
    broker = brokers.find(broker_name)
    if broker.hook is None:
        raise SystemExit(broker.skipped or f"{broker_name}: no simulator hook")
    async with broker.hook(names) as (configs, secret):
        secrets = {}
        for name in names:
            for key in _keys(name, broker_name):
                value = secret(key)
                if value is not None:
                    secrets[key] = value
        line = json.dumps({"configs": [c.model_dump(mode="json") for c in configs], "secrets": secrets})
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
        await asyncio.to_thread(sys.stdin.buffer.read)  # until the benchmark closes our stdin


def main(argv: Sequence[str]) -> None:
    if len(argv) < 2:
        raise SystemExit("usage: python -m copytui.bench.simhost BROKER NAME [NAME ...]")
    asyncio.run(host(argv[0], argv[1:]))


if __name__ == "__main__":
    main(sys.argv[1:])
