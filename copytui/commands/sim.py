"""`copytui sim <broker> --port P [--accounts N] [--seed N] [faults] [--audit F]`: run a broker
simulator standalone.

Each simulator speaks its broker's real wire protocol on 127.0.0.1 over its own paper exchange,
with demo accounts, and prints how to reach it. A broker offers one by naming it as ``simulator``
in its ``AdapterSpec`` (adapters/base.py): ``serve(port, accounts, seed, *, faults: Faults,
audit: str | None)``, which blocks until Ctrl-C: ``faults`` applies to every demo account,
``audit`` is a JSON-lines file that gets every order request received (adapters/paper/audit.py).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import typer

from adapters.base import AdapterSpec
from copytui import registry

sim_app = typer.Typer(
    help="Run a broker simulator on 127.0.0.1 (real wire protocol, paper exchange behind it).",
    no_args_is_help=True,
)


def _launcher(target: str) -> Callable[..., None]:
    launcher: Callable[..., None] = AdapterSpec.load(target)
    return launcher


def _command(broker: str, target: str) -> Callable[..., None]:
    def run(
        port: int = typer.Option(0, "--port", min=0, max=65535, help="TCP port on 127.0.0.1 (0: any free port)."),
        accounts: int = typer.Option(3, "--accounts", min=1, max=200, help="Demo accounts to create."),
        seed: int = typer.Option(7, "--seed", help="Seed of the simulator's paper exchange."),
        latency_ms: float = typer.Option(0.0, "--latency-ms", min=0, max=60_000, help="Added to every order request."),
        reject_rate: float = typer.Option(0.0, "--reject-rate", min=0, max=1, help="Share of orders rejected."),
        partial_fill_prob: float = typer.Option(
            0.0, "--partial-fill-prob", min=0, max=1, help="Chance a fill covers part of the order."
        ),
        drop_stream_prob: float = typer.Option(
            0.0, "--drop-stream-prob", min=0, max=1, help="Chance per event that the stream drops."
        ),
        duplicate_prob: float = typer.Option(
            0.0, "--duplicate-prob", min=0, max=1, help="Chance an event comes twice."
        ),
        reorder_prob: float = typer.Option(
            0.0, "--reorder-prob", min=0, max=1, help="Chance an event comes after the next one."
        ),
        audit: Path | None = typer.Option(
            None, "--audit", help="Append every order request received (refused ones too) to this JSON-lines file."
        ),
        folder: Path | None = typer.Option(
            None, "--folder", help="For simulators that talk through files: the folder they work in."
        ),
    ) -> None:
        from adapters.paper.exchange import Faults

        faults = Faults(latency_ms, reject_rate, partial_fill_prob, drop_stream_prob, duplicate_prob, reorder_prob)
        more = {"folder": str(folder)} if folder is not None else {}
        _launcher(target)(port, accounts, seed, faults=faults, audit=str(audit) if audit else None, **more)

    run.__doc__ = f"Run the {broker} simulator until Ctrl-C."
    return run


for _broker, _spec in sorted(registry.specs().items()):
    if _spec.simulator is not None:
        sim_app.command(_broker)(_command(_broker, _spec.simulator))
