"""`copytui ctl status | pause | resume | flatten | reconcile [TARGET]`: command the copytui that is
running (the desk or headless) from another terminal, e.g. a second tmux pane or a script.

TARGET is a follower's name, ``@GROUP`` (followers tagged ``groups: [GROUP]`` in the config) or
``all``. The running copytui is found by its journal: ``--journal``, else ``--config``'s (or the
default config's) journal, or ``--demo`` for a demo running on this machine. The commands travel
over the Unix socket next to that journal (copytui/control.py), private to your user.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from copytui.commands.config_cmd import fail

app = typer.Typer(
    help="Command the running copytui from another terminal: pause, resume, flatten by follower, @group or all.",
    no_args_is_help=True,
)

TARGET = typer.Argument("all", help="A follower's name, @GROUP, or all.")
JOURNAL = typer.Option(None, "--journal", help="The journal of the copytui to command.")
CONFIG = typer.Option(None, "--config", help="Its config file (default: ~/.config/copytui/config.yaml).")
DEMO = typer.Option(False, "--demo", help="The demo running on this machine.")


def _socket(journal: Path | None, config: Path | None, demo: bool) -> Path:
    from copytui.control import control_path

    if journal is not None:
        path = control_path(journal)
    elif demo:
        from copytui.demo import demo_dir

        live = [control_path(j) for j in sorted(demo_dir().glob("journal*.sqlite3"))]
        live = [p for p in live if p.exists()]
        if not live:
            fail(f"no demo is running here (no control socket in {demo_dir()}). Start one with `copytui run --demo`.")
        if len(live) > 1:
            fail("several demos are running: pick one with --journal " + " or ".join(str(p)[:-4] for p in live))
        path = live[0]
    else:
        from copytui.config import ConfigError, default_config_path, load_config

        cfg_path = config or default_config_path()
        if not cfg_path.exists():
            fail(f"no config at {cfg_path}: pass --config F or --journal J (or --demo for a running demo).")
        try:
            path = control_path(load_config(cfg_path).journal_path())
        except ConfigError as exc:
            fail(str(exc))
    if not path.exists():
        fail(f"no copytui is running on that journal (no control socket at {path}). Start it with `copytui run`.")
    return path


def _send(path: Path, request: dict[str, Any]) -> dict[str, Any]:
    from copytui.control import ask

    try:
        answer = ask(path, request)
    except (ConnectionRefusedError, FileNotFoundError):
        fail(f"the copytui that made {path} is not running any more (nothing answers). Start it with `copytui run`.")
    except (OSError, TimeoutError, ValueError) as exc:
        fail(f"no answer from the copytui at {path}: {type(exc).__name__}: {exc}")
    if not answer.get("ok"):
        fail(str(answer.get("error") or answer))
    return answer


def _print(answer: dict[str, Any]) -> None:
    typer.echo(answer.get("message", "ok"))
    followers = answer.get("followers", [])
    several = len({leader for f in followers for leader in f.get("follows", [])}) > 1
    for f in followers:
        held = "  ".join(f"{s} {q:+d}" for s, q in sorted(f["positions"].items())) or "flat"
        groups = " ".join(f"@{g}" for g in f["groups"])
        leaders = f"<- {', '.join(f.get('follows', []))}  " if several else ""  # several leaders: whose copies
        typer.echo(f"  {f['name']:<12} {f['copy']:<10} {f['connection']:<13} {held:<24} {leaders}{groups}".rstrip())


@app.command()
def status(journal: Path | None = JOURNAL, config: Path | None = CONFIG, demo: bool = DEMO) -> None:
    """Every follower: copy state, connection, positions, groups."""
    _print(_send(_socket(journal, config, demo), {"cmd": "status"}))


@app.command()
def pause(
    target: str = TARGET, journal: Path | None = JOURNAL, config: Path | None = CONFIG, demo: bool = DEMO
) -> None:
    """Stop copying the leader's next trades to TARGET (positions are kept)."""
    _print(_send(_socket(journal, config, demo), {"cmd": "pause", "target": target}))


@app.command()
def resume(
    target: str = TARGET,
    wait_flat: bool = typer.Option(False, "--wait-flat", help="Wait until the leader is flat instead of syncing now."),
    journal: Path | None = JOURNAL,
    config: Path | None = CONFIG,
    demo: bool = DEMO,
) -> None:
    """Copy to TARGET again: synced to the leader's position now, or from the leader's next flat."""
    _print(_send(_socket(journal, config, demo), {"cmd": "resume", "target": target, "sync": not wait_flat}))


@app.command()
def flatten(
    target: str = typer.Argument(..., help="A follower's name, @GROUP, or all (the kill switch)."),
    yes: bool = typer.Option(False, "--yes", help="Do not ask first."),
    journal: Path | None = JOURNAL,
    config: Path | None = CONFIG,
    demo: bool = DEMO,
) -> None:
    """Cancel TARGET's working orders, close its positions at the broker, leave it paused."""
    path = _socket(journal, config, demo)
    if not yes:
        if not sys.stdin.isatty():
            fail("flatten asks first: pass --yes to flatten without asking (scripts)")
        typer.confirm(f"Flatten {target}: cancel its orders and close its positions?", abort=True)
    _print(_send(path, {"cmd": "flatten", "target": target}))


@app.command()
def reconcile(journal: Path | None = JOURNAL, config: Path | None = CONFIG, demo: bool = DEMO) -> None:
    """Reconcile every follower with its broker now."""
    _print(_send(_socket(journal, config, demo), {"cmd": "reconcile"}))
