"""`copytui sim <broker> --port P [--accounts N] [--seed N] [faults] [--audit F]`: run a broker
simulator standalone; `copytui sim <source> --port P [--seed N] [faults]`: a market-data one.

Each simulator speaks its broker's real wire protocol on 127.0.0.1 over its own paper exchange,
with demo accounts, and prints how to reach it. A broker offers one by naming it as ``simulator``
in its ``AdapterSpec`` (adapters/base.py): ``serve(port, accounts, seed, *, faults: Faults,
audit: str | None)``, which blocks until Ctrl-C: ``faults`` applies to every demo account,
``audit`` is a JSON-lines file that gets every order request received (adapters/paper/audit.py).
``--trailing-stops`` reaches a simulator whose ``serve`` takes ``trailing_stops`` (a venue that
refuses trailing stops unless asked); any other refuses the flag.

A market-data source offers one in its ``MarketDataSpec`` (adapters/marketdata.py): ``serve(port,
seed, *, tick_s, ...)`` with, where the protocol has them, ``token`` and the faults ``stale``,
``drop_every_s``, ``unauthorised``. Its command is the source's name, ``NAME-md`` where a broker has
that name (``tradovate-md``). The token is read from an environment variable or typed at a hidden
prompt, never taken as an argument: ``ps`` shows arguments to every user of the machine.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import os
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import typer

from adapters.base import AdapterSpec
from copytui import registry

sim_app = typer.Typer(
    help="Run a broker or market-data simulator on 127.0.0.1 (real wire protocol, paper exchange behind it).",
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
        trailing_stops: bool = typer.Option(
            False, "--trailing-stops", help="For simulators whose venue refuses trailing stops unless asked: take them."
        ),
    ) -> None:
        from adapters.paper.exchange import Faults

        faults = Faults(latency_ms, reject_rate, partial_fill_prob, drop_stream_prob, duplicate_prob, reorder_prob)
        launcher = _launcher(target)
        more: dict[str, Any] = {"folder": str(folder)} if folder is not None else {}
        if trailing_stops:  # a switch of the simulator's own (its serve takes trailing_stops)
            if "trailing_stops" not in inspect.signature(launcher).parameters:
                from copytui.commands.config_cmd import fail

                fail(f"--trailing-stops: the {broker} simulator has no such option.")
            more["trailing_stops"] = True
        launcher(port, accounts, seed, faults=faults, audit=str(audit) if audit else None, **more)

    run.__doc__ = f"Run the {broker} simulator until Ctrl-C."
    return run


# ------------------------------------------------------------------------- market-data simulators
TOKEN_ENV = "COPYTUI_SIM_TOKEN"  # noqa: S105 - the name of a variable, not a token
"""Where a market-data simulator's token is read from unless --token-env names another variable."""
TOKEN_HELP = f"Environment variable holding the token clients must send (default {TOKEN_ENV}; unset: typed in)."
FAULT_FLAGS = {"token": "--token-env", "stale": "--stale", "drop_every_s": "--drop-every-s",
               "unauthorised": "--unauthorised"}  # fmt: skip


def market_command(source: str) -> str:
    """The `sim` command of a market-data source: its name, unless a broker has it (a broker's sim
    command, or one it may get, would clash)."""
    return f"{source}-md" if source in registry.specs() else source


def _sim_token(env: str) -> str:
    """The token the simulator's clients must send: $ENV, else typed at a hidden prompt in a terminal."""
    from copytui.commands.config_cmd import fail
    from copytui.credentials import remember

    token = os.environ.get(env, "")
    if not token and sys.stdin.isatty():
        token = typer.prompt(f"token the simulator's clients must send (${env} is unset)", hide_input=True)
    if not token.strip():
        fail(f"${env} is empty or unset: set it to the token the simulator's clients must send "
             f"(e.g. `read -rs {env}; export {env}`), or run in a terminal to type it. "
             "A token is never taken on the command line, where `ps` would show it.")  # fmt: skip
    remember(token)  # masked wherever copytui redacts
    return token


def config_snippet(line: str, name: str) -> str:
    """For a simulator's ``config: source: S, options: {...}`` line: the ``market_data:`` section to
    put in the config, and the command that adds it and stores its secrets; "" for any other line."""
    import yaml

    head, sep, rest = line.partition("config:")
    if not sep or head.strip():
        return ""
    try:
        found = yaml.safe_load("{" + rest + "}")
    except yaml.YAMLError:
        return ""
    if not isinstance(found, dict) or not isinstance(found.get("options", {}), dict) or "source" not in found:
        return ""
    section = {"name": name, "source": found["source"], "options": found.get("options") or {}}
    yaml_text = yaml.safe_dump({"market_data": section}, sort_keys=False, default_flow_style=False)
    flags = " ".join(f"--option {shlex.quote(f'{k}={v}')}" for k, v in section["options"].items())
    return (
        "  market_data section for your config (secrets go in the OS keyring, never in the file):\n"
        + "".join(f"    {row}\n" for row in yaml_text.splitlines())
        + "  or add it to your config and store its secrets in one go:\n"
        + f"    copytui accounts add {name} --market-data {section['source']} {flags}\n"
    )


class _SnippetTap(io.TextIOBase):
    """The simulator's own stdout, passed through; after its ``config:`` line (printed once it
    listens, with the port it got) comes :func:`config_snippet`."""

    def __init__(self, out: TextIO, name: str) -> None:
        self.out, self.name, self.pending = out, name, ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.out.write(text)
        self.pending += text
        while "\n" in self.pending:
            line, _, self.pending = self.pending.partition("\n")
            self.out.write(config_snippet(line, self.name))
        return len(text)

    def flush(self) -> None:
        self.out.flush()


def _market_command(source: str, target: str, command: str, summary: str) -> Callable[..., None]:
    def run(
        port: int = typer.Option(0, "--port", min=0, max=65535, help="TCP port on 127.0.0.1 (0: any free port)."),
        seed: int = typer.Option(7, "--seed", help="Seed of the simulator's paper price walk."),
        tick_s: float = typer.Option(0.25, "--tick-s", min=0.01, max=60, help="Seconds between price steps."),
        token_env: str | None = typer.Option(None, "--token-env", metavar="NAME", help=TOKEN_HELP),
        stale: bool = typer.Option(False, "--stale", help="Fault: keep sockets open but send no data."),
        drop_every_s: float = typer.Option(
            0.0, "--drop-every-s", min=0, help="Fault: cut every socket this often, in seconds (0: never)."
        ),
        unauthorised: bool = typer.Option(False, "--unauthorised", help="Fault: refuse every token."),
    ) -> None:
        from copytui.commands.config_cmd import fail

        serve = _launcher(target)
        takes = inspect.signature(serve).parameters
        given = {"token": token_env is not None, "stale": stale, "drop_every_s": drop_every_s > 0,
                 "unauthorised": unauthorised}  # fmt: skip
        refused = [FAULT_FLAGS[k] for k, on in given.items() if on and k not in takes]
        if refused:
            own = ["--port", "--seed", "--tick-s", *(FAULT_FLAGS[k] for k in FAULT_FLAGS if k in takes)]
            fail(f"{', '.join(refused)}: the {command} simulator has no such option; it takes {', '.join(own)}.")
        kwargs: dict[str, Any] = {"stale": stale, "drop_every_s": drop_every_s, "unauthorised": unauthorised}
        kwargs = {k: v for k, v in kwargs.items() if k in takes}
        if "tick_s" in takes:
            kwargs["tick_s"] = tick_s
        if "token" in takes:
            kwargs["token"] = _sim_token(token_env or TOKEN_ENV)
        with (
            contextlib.redirect_stdout(_SnippetTap(sys.stdout, f"{source}-sim")),
            contextlib.suppress(KeyboardInterrupt),
        ):
            serve(port, seed, **kwargs)

    run.__doc__ = f"Run the {source} market-data simulator until Ctrl-C. {summary}".strip()
    return run


for _broker, _spec in sorted(registry.specs().items()):
    if _spec.simulator is not None:
        sim_app.command(_broker)(_command(_broker, _spec.simulator))
for _source, _mspec in sorted(registry.market_specs().items()):
    if _mspec.simulator is not None:
        _name = market_command(_source)
        sim_app.command(_name)(_market_command(_source, _mspec.simulator, _name, _mspec.summary))
