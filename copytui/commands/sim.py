"""`copytui sim <broker> --port P [--accounts N] [--seed N]`: run a broker simulator standalone.

Each simulator speaks its broker's real wire protocol on 127.0.0.1 over its own paper exchange,
with demo accounts, and prints how to reach it. To add a broker, add one line to SIMULATORS:
``"<broker>": "<module>:<function>"`` where the function is ``serve(port, accounts, seed)`` and
blocks until Ctrl-C.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

import typer

SIMULATORS: dict[str, str] = {
    "tradovate": "adapters.tradovate.simulator:serve",
    "projectx": "adapters.projectx.simulator:serve",
    "fix": "adapters.fix.simulator:serve",
}

sim_app = typer.Typer(
    help="Run a broker simulator on 127.0.0.1 (real wire protocol, paper exchange behind it).",
    no_args_is_help=True,
)


def _launcher(target: str) -> Callable[..., None]:
    module, _, func = target.partition(":")
    launcher: Callable[..., None] = getattr(importlib.import_module(module), func)
    return launcher


def _command(broker: str, target: str) -> Callable[..., None]:
    def run(
        port: int = typer.Option(..., "--port", min=0, max=65535, help="TCP port on 127.0.0.1 (0: any free port)."),
        accounts: int = typer.Option(3, "--accounts", min=1, max=200, help="Demo accounts to create."),
        seed: int = typer.Option(7, "--seed", help="Seed of the simulator's paper exchange."),
    ) -> None:
        _launcher(target)(port, accounts, seed)

    run.__doc__ = f"Run the {broker} simulator until Ctrl-C."
    return run


for _broker, _target in SIMULATORS.items():
    sim_app.command(_broker)(_command(_broker, _target))
