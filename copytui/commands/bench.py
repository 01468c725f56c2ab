"""`copytui bench`: the latency, throughput and memory benchmark."""

from __future__ import annotations

import asyncio
import re
import sys

import typer

_NAME = re.compile(r"^[a-z0-9_]{1,40}$")


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def _counts(text: str) -> tuple[int, ...]:
    out = []
    for part in text.split(","):
        part = part.strip()
        if not part.isdigit() or not 1 <= int(part) <= 1000:
            _fail(f"--followers: {part!r} is not a follower count from 1 to 1000; use e.g. --followers 1,20,100")
        out.append(int(part))
    return tuple(sorted(set(out)))


def _names(text: str, option: str, allowed: tuple[str, ...] | None = None) -> tuple[str, ...]:
    out = []
    for part in text.split(","):
        part = part.strip().lower()
        if not _NAME.match(part) or (allowed is not None and part not in allowed):
            hint = f"one of {', '.join(allowed)}" if allowed else "broker names such as paper,tradovate"
            _fail(f"{option}: {part!r} is not valid; use {hint}")
        if part not in out:
            out.append(part)
    return tuple(out)


def bench(
    followers: str | None = typer.Option(
        None, "--followers", help="Follower counts for the overhead scenario (default 1,20,100; with --quick 1,5)."
    ),
    adapter: str = typer.Option(
        "paper", "--adapter", help="Adapters to measure, comma separated (non-paper ones run through their simulator)."
    ),
    quick: bool = typer.Option(False, "--quick", help="Small counts, a few seconds: checks it runs, not how fast."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON on stdout (progress on stderr)."),
    as_markdown: bool = typer.Option(False, "--markdown", help="Print Markdown tables (for the README) instead."),
    samples: int | None = typer.Option(None, "--samples", min=5, max=100_000, help="Leader events per scenario."),
    only: str | None = typer.Option(
        None, "--only", help="Run only these: floor,overhead,e2e,burst,journal,baseline,desk,market."
    ),
    seed: int = typer.Option(7, "--seed", help="Seed of the paper exchange."),
) -> None:
    """Measure copytui's copy path: overhead, end to end, a burst, the desk, the journal, memory."""
    from rich.console import Console

    from copytui.bench import SCENARIOS, Plan, run
    from copytui.bench.report import markdown, render, to_json

    plan = Plan.make(
        quick=quick,
        followers=_counts(followers) if followers else None,
        adapters=_names(adapter, "--adapter"),
        only=_names(only, "--only", SCENARIOS) if only else None,
        samples=samples,
        seed=seed,
    )
    err = Console(stderr=True)

    def progress(msg: str) -> None:
        err.print(f"[dim]bench: {msg}[/]")

    result = asyncio.run(run(plan, progress))
    if as_json:
        sys.stdout.write(to_json(result) + "\n")
    elif as_markdown:
        sys.stdout.write(markdown(result) + "\n")
    else:
        render(result, Console() if sys.stdout.isatty() else Console(width=150))  # a file keeps every column
    if not result.sane:
        typer.echo("error: the run lost leader fills or left orders unsent (see lost / incomplete)", err=True)
        raise typer.Exit(1)
