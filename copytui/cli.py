"""copytui's command line: the composition root for the headless runner and the desk."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import time
from collections import deque
from pathlib import Path

import typer

from copytui.commands import accounts as accounts_cmd
from copytui.commands import bench as bench_cmd
from copytui.commands import config_cmd
from copytui.commands import doctor as doctor_cmd
from copytui.commands.sim import sim_app
from copytui.config import Config, ConfigError, default_config_path, load_config
from copytui.credentials import install_log_redaction, make_lookup

app = typer.Typer(
    name="copytui",
    help="Terminal trade copier: one leader account, many followers, journaled in SQLite.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
journal_app = typer.Typer(help="Read the journal.", no_args_is_help=True)
app.add_typer(journal_app, name="journal")
app.add_typer(accounts_cmd.app, name="accounts")
app.add_typer(config_cmd.app, name="config")
app.add_typer(sim_app, name="sim")
app.command("doctor")(doctor_cmd.doctor)
app.command("bench")(bench_cmd.bench)


def fail(message: str, code: int = 2) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def resolve_config(config: Path | None, demo: bool) -> Config:
    from copytui.demo import demo_config

    try:
        if config is not None:
            return load_config(config)
        if demo:
            return demo_config()
        path = default_config_path()
        if not path.exists():
            fail(f"no config at {path}. Try `copytui run --demo`, or add accounts with `copytui accounts add`.")
        return load_config(path)
    except ConfigError as exc:
        fail(str(exc))
    raise AssertionError("unreachable")


@app.command()
def run(
    demo: bool = typer.Option(False, "--demo", help="Drive a paper leader with a seeded random trader."),
    headless: bool = typer.Option(False, "--headless", help="No desk: print one line per signal and result."),
    duration: float | None = typer.Option(None, "--duration", min=0.1, help="Stop after this many seconds."),
    journal: Path | None = typer.Option(None, "--journal", help="SQLite journal path."),
    config: Path | None = typer.Option(None, "--config", help="Config file (default: ~/.config/copytui/config.yaml)."),
    seed: int | None = typer.Option(None, "--seed", help="Seed of the paper exchange and demo trader."),
) -> None:
    """Run the copier: the desk by default, or --headless."""
    cfg = resolve_config(config, demo)
    journal_path = journal or cfg.journal_path()
    if headless:
        code = asyncio.run(_run_headless(cfg, demo=demo, seed=seed, journal_path=journal_path, duration=duration))
        raise typer.Exit(code)
    from copytui.tui import run_desk

    run_desk(cfg, demo=demo, seed=seed, journal_path=journal_path, duration=duration)


def _fmt_row(row: object) -> str:
    from copytui.engine import LogRow

    assert isinstance(row, LogRow)
    t = time.strftime("%H:%M:%S", time.localtime(row.wall_ns / 1e9))
    if row.action == "operator":
        return f"{t}  {row.follower:<10} operator  {row.reason}"
    lat = f"{row.latency_ms:7.3f} ms" if row.latency_ms is not None else " " * 10
    fill = f" @ {row.fill_price:g}" if row.fill_price is not None else ""
    slip = f" slip {row.slippage_ticks:+.1f}t" if row.slippage_ticks is not None else ""
    why = f"  ({row.reason})" if row.reason else ""
    return (
        f"{t}  {row.follower:<10} {row.action:<6} {row.side:<4} {row.qty:>3} {row.symbol:<4} "
        f"{row.status:<16} {lat}{fill}{slip}{why}"
    )


async def _run_headless(
    cfg: Config, *, demo: bool, seed: int | None, journal_path: Path, duration: float | None
) -> int:
    from copytui.engine import LogRow
    from copytui.engine.lease import LeaseHeld
    from copytui.journal import JournalError
    from copytui.models import Signal
    from copytui.runtime import build_runtime

    try:
        lookup = make_lookup([cfg.leader, *cfg.followers])  # AdapterContext.secret: reads the OS keyring
        rt = build_runtime(cfg, demo=demo, seed=seed, journal_path=journal_path, secret_lookup=lookup)
    except (JournalError, ValueError, LookupError) as exc:
        fail(str(exc))
    lines: deque[str] = deque()

    def on_event(kind: str, payload: object) -> None:
        # on the copy path: only record; printing happens in the printer task
        if kind == "signal" and isinstance(payload, Signal):
            lines.append(f"signal {payload.id[:12]}  {rt.engine._describe(payload)}")
        elif kind == "log" and isinstance(payload, LogRow):
            lines.append(_fmt_row(payload))
        elif kind == "alert":
            lines.append(f"ALERT  {payload.follower}: {payload.message}")  # type: ignore[attr-defined]

    rt.engine.add_listener(on_event)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)

    async def printer() -> None:
        while True:
            while lines:
                print(lines.popleft())
            sys.stdout.flush()
            await asyncio.sleep(0.05)

    try:
        await rt.start()
    except LeaseHeld as exc:
        await rt.engine.stop(settle=False)
        fail(str(exc))
    print(f"copytui: leader {cfg.leader.name} -> {len(cfg.followers)} followers; journal {journal_path}")
    printer_task = asyncio.create_task(printer(), name="printer")
    try:
        if duration is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), duration)
        else:
            await stop.wait()
    finally:
        print("copytui: stopping (leader flat, followers settling)...")
        await rt.stop(flatten_leader=demo)
        printer_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await printer_task
        while lines:
            print(lines.popleft())
    from copytui.journal import summary, summary_text

    print(summary_text(await summary(journal_path)))
    return 0


@journal_app.command("summary")
def journal_summary(
    journal: Path | None = typer.Option(None, "--journal", help="SQLite journal path."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Counts, latency, drift and duplicates from the journal."""
    from copytui.config import default_journal_path
    from copytui.journal import JournalError, dumps, summary, summary_text

    path = journal or default_journal_path()
    try:
        s = asyncio.run(summary(path))
    except JournalError as exc:
        fail(str(exc))
    typer.echo(dumps(s) if as_json else summary_text(s))


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    install_log_redaction()
    app()


if __name__ == "__main__":
    main()
