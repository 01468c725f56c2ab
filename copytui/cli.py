"""copytui's command line: the composition root for the headless runner and the desk."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from adapters.base import AuthFailed, BrokerError
from copytui.commands import accounts as accounts_cmd
from copytui.commands import bench as bench_cmd
from copytui.commands import config_cmd
from copytui.commands import ctl as ctl_cmd
from copytui.commands import doctor as doctor_cmd
from copytui.commands.sim import sim_app
from copytui.config import AccountConfig, Config, ConfigError, default_config_path, load_config
from copytui.credentials import (
    NoKeyringError,
    install_log_redaction,
    make_lookup,
    redact,
    require_backend,
    secret_fields,
)
from copytui.models import Signal

if TYPE_CHECKING:
    from copytui.engine import LogRow
    from copytui.runtime import Runtime

log = logging.getLogger(__name__)

app = typer.Typer(
    name="copytui",
    help="Terminal trade copier: one leader account, many followers, journaled in SQLite.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # click's plain help: typer's rich tables cut option names short at 80 columns and label every
    # flag `<bool>`; plain help keeps each option whole and wraps only the descriptions
    rich_markup_mode=None,
)
journal_app = typer.Typer(help="Read the journal.", no_args_is_help=True)
app.add_typer(journal_app, name="journal")
app.add_typer(accounts_cmd.app, name="accounts")
app.add_typer(config_cmd.app, name="config")
app.add_typer(sim_app, name="sim")
app.add_typer(ctl_cmd.app, name="ctl")
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


# ------------------------------------------------------------------------- headless output
ORDER_QUIET_S = 0.2
"""An order's line is printed once its rows (ack, fills) have been quiet this long: a market
order's ack and fill arrive together and make one line."""
KEEP_LINE_S = 30.0
"""How long a printed order's line is kept after its last row, so that a late row for it (an ack
after its fill, the fill of a resting order) updates that line; then it is forgotten (bounded memory)."""


def price_text(symbol: str, price: float) -> str:
    """A price as the contract is quoted: the decimals of its tick size (ES 5000.25, YM 39000)."""
    from copytui.instruments import format_price

    return format_price(symbol, price)


def slip_text(ticks: float) -> str:
    """``+1.0t`` / ``-0.5t``; a zero is ``0.0t``, never ``-0.0t``."""
    rounded = round(ticks, 1) + 0.0  # + 0.0 turns a negative zero into a zero
    return "0.0t" if rounded == 0 else f"{rounded:+.1f}t"


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def clock(wall_ns: int) -> str:
    return time.strftime("%H:%M:%S", time.localtime(wall_ns / 1e9))


def signal_text(sig: Signal) -> str:
    from copytui.engine import describe_signal  # the engine loads only when used

    return f"signal {sig.id[:12]}  {describe_signal(sig)}"


def row_text(row: LogRow) -> str:
    """One log row without its time of day."""
    if row.action == "operator":
        return f"{row.follower:<10} operator  {row.reason}"
    lat = f"{row.latency_ms:7.3f} ms" if row.latency_ms is not None else " " * 10
    fill = f" @ {price_text(row.symbol, row.fill_price)}" if row.fill_price is not None else ""
    slip = f" slip {slip_text(row.slippage_ticks)}" if row.slippage_ticks is not None else ""
    why = f"  ({row.reason})" if row.reason else ""
    return (
        f"{row.follower:<10} {row.action:<6} {row.side:<4} {row.qty:>3} {row.symbol:<4} "
        f"{row.status:<16} {lat}{fill}{slip}{why}"
    )


def merged(old: LogRow, new: LogRow) -> LogRow:
    """One follower order after its ack or a fill: what the newer row does not say, the older did."""
    return replace(
        new,
        latency_ms=new.latency_ms if new.latency_ms is not None else old.latency_ms,
        fill_price=new.fill_price if new.fill_price is not None else old.fill_price,
        slippage_ticks=new.slippage_ticks if new.slippage_ticks is not None else old.slippage_ticks,
        reason=new.reason or old.reason,
    )


@dataclass
class _OrderLine:
    row: LogRow
    last_row_at: float
    printed: str = ""


class HeadlessLog:
    """What ``run --headless`` prints. Signals, alerts and operator actions print as they come.
    A follower order is one line, not one per engine row: its ack and fills are merged (as on the
    desk) and printed once they have been quiet for ``quiet_s``, so a market order filled at once
    is one line with its latency, fill price and slippage. A later change (a resting order's fill,
    a reject) prints the order again; an unchanged line never prints twice."""

    def __init__(self, quiet_s: float = ORDER_QUIET_S) -> None:
        self.quiet_s = quiet_s
        self.ready: deque[str] = deque()
        self.orders: dict[str, _OrderLine] = {}

    def signal(self, sig: Signal) -> None:
        self.ready.append(f"{clock(sig.wall_ns or time.time_ns())}  {signal_text(sig)}")

    def alert(self, wall_ns: int, follower: str, message: str) -> None:
        self.ready.append(f"{clock(wall_ns)}  ALERT {follower}: {message}")

    def row(self, row: LogRow, now: float) -> None:
        if row.action == "operator" or not row.client_order_id:
            self.ready.append(f"{clock(row.wall_ns)}  {row_text(row)}")
            return
        line = self.orders.get(row.client_order_id)
        if line is None:
            self.orders[row.client_order_id] = _OrderLine(row, now)
        else:
            line.row = merged(line.row, row)
            line.last_row_at = now

    def take(self, now: float, *, everything: bool = False) -> list[str]:
        """Lines to print now: orders quiet long enough (every order when ``everything``), then the rest."""
        out: list[str] = []
        for key, line in list(self.orders.items()):
            quiet = now - line.last_row_at
            if not everything and quiet < self.quiet_s:
                continue
            text = row_text(line.row)
            if text != line.printed:
                line.printed = text
                out.append(f"{clock(line.row.wall_ns)}  {text}")
            if quiet > KEEP_LINE_S:
                del self.orders[key]
        out.extend(self.ready)
        self.ready.clear()
        return out


def header_text(cfg: Config, journal_path: Path) -> str:
    leads = ", ".join(f'"{a.name}" ({a.broker})' for a in cfg.all_leaders)
    who = f"leader {leads}" if len(cfg.all_leaders) == 1 else f"leaders {leads}"
    return f"copytui: copying {who} to {plural(len(cfg.followers), 'follower')}; journal {journal_path}"


def stopping_text(flatten_leader: bool) -> str:
    if flatten_leader:
        return "copytui: stopping: the demo leader goes flat, the followers follow and settle..."
    return (
        "copytui: stopping: the leader's positions are left as they are; "
        "followers finish their orders in flight and settle..."
    )


async def _run_headless(
    cfg: Config, *, demo: bool, seed: int | None, journal_path: Path, duration: float | None
) -> int:
    from copytui.engine import AlertRaised, EngineEvent, LogAdded, SignalCopied
    from copytui.engine.lease import LeaseHeld
    from copytui.journal import JournalError
    from copytui.runtime import build_runtime

    secrets = SecretsSeen(secret_holders(cfg))  # AdapterContext.secret: reads the OS keyring
    try:
        rt = build_runtime(cfg, demo=demo, seed=seed, journal_path=journal_path, secret_lookup=secrets)
    except (JournalError, ValueError, LookupError) as exc:
        fail(str(exc))
    events: deque[tuple[EngineEvent, float]] = deque()

    def on_event(event: EngineEvent) -> None:
        events.append((event, time.monotonic()))  # on the copy path: only record

    out = HeadlessLog()

    def print_due(*, everything: bool = False) -> None:
        while events:
            event, at = events.popleft()
            if isinstance(event, SignalCopied):
                out.signal(event.signal)
            elif isinstance(event, LogAdded):
                out.row(event.row, at)
            elif isinstance(event, AlertRaised):
                out.alert(event.alert.wall_ns, event.alert.follower, event.alert.message)
        for line in out.take(time.monotonic(), everything=everything):
            print(line)
        sys.stdout.flush()

    rt.engine.add_listener(on_event)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)

    async def printer() -> None:
        while True:
            print_due()
            await asyncio.sleep(0.05)

    try:
        await rt.start()
    except LeaseHeld as exc:
        await rt.engine.stop(settle=False)
        fail(str(exc))
    except START_FAILURES as exc:
        await rt.stop(flatten_leader=False)
        fail(start_failure(exc, rt, secrets), code=3)
    print(header_text(cfg, journal_path))
    printer_task = asyncio.create_task(printer(), name="printer")
    try:
        if duration is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), duration)
        else:
            await stop.wait()
    finally:
        flatten = rt.trader is not None  # only the demo's own random leader is flattened at stop
        print(stopping_text(flatten))
        await rt.stop(flatten_leader=flatten)
        printer_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await printer_task
        print_due(everything=True)
    from copytui.journal import summary, summary_text

    print(summary_text(await summary(journal_path)))
    return 0


# ------------------------------------------------------------------------- start failures
START_FAILURES = (BrokerError, NoKeyringError, TimeoutError, OSError)
"""What an adapter may raise while connecting; each becomes one ``error:`` line, exit 3."""


def secret_holders(cfg: Config) -> list[AccountConfig]:
    """Everything in the config with secrets in the keyring: the accounts, and the market-data
    source (its secrets are stored under its name as an account's are, with the source for broker)."""
    holders = [*cfg.all_leaders, *cfg.followers]
    if cfg.market_data is not None:
        holders.append(AccountConfig(name=cfg.market_data.name, broker=cfg.market_data.source))
    return holders


class SecretsSeen:
    """``AdapterContext.secret`` (``make_lookup``) that remembers which accounts asked for a secret
    and got none, and whether the keyring was missing: when a login then fails, the error line
    names the account and the fix."""

    def __init__(self, accounts: Iterable[AccountConfig]) -> None:
        accounts = list(accounts)
        self.accounts = {a.name for a in accounts}
        self._lookup = make_lookup(accounts)
        self.missing: dict[str, str] = {}
        """account -> the secret field it asked for and did not get."""
        self.no_keyring: NoKeyringError | None = None

    def __call__(self, key: str) -> str | None:
        name, _, field = key.partition(":")
        if name not in self.accounts:
            # an adapter's fallback to an unqualified key (ProjectX asks "api_key" after "NAME:api_key"):
            # it names no account, so there is nothing to read, and no warning line to tear the output
            log.debug("secret %r names no configured account", key)
            return None
        try:
            require_backend()
        except NoKeyringError as exc:
            self.no_keyring = exc
            self.missing.setdefault(name, field)
            return None
        value = self._lookup(key)
        if not value:
            self.missing.setdefault(name, field)
        return value


def failed_account(rt: Runtime) -> AccountConfig | None:
    """The account whose adapter failed to connect, as the engine recorded it."""
    name = rt.engine.failed_to_start
    return next((a for a in (*rt.config.all_leaders, *rt.config.followers) if a.name == name), None)


def start_failure(exc: BaseException, rt: Runtime, secrets: SecretsSeen) -> str:
    """One line for an account that could not start: which account, what went wrong, the fix.
    Redacted: nothing an adapter put in its message that is a secret reaches the terminal."""
    refused = isinstance(exc, AuthFailed | NoKeyringError)  # a missing secret explains these, nothing else
    acct = failed_account(rt)
    if acct is None and refused and len(secrets.missing) == 1:
        acct = next(a for a in (*rt.config.all_leaders, *rt.config.followers) if a.name in secrets.missing)
    if acct is None:
        return redact(f"copytui could not start: {type(exc).__name__}: {exc}")
    role = "leader" if any(acct.name == a.name for a in rt.config.all_leaders) else "follower"
    who = f"{role} {acct.name} ({acct.broker})"
    if refused and acct.name in secrets.missing:
        label = secret_label(acct.broker, secrets.missing[acct.name])
        if secrets.no_keyring is not None:
            return f"{who}: cannot read its {label}: {secrets.no_keyring} Run `copytui doctor` to set one up."
        return (
            f"{who}: login refused: no {label} in the OS keyring. "
            f"Store it with `copytui accounts set {acct.name} --new-secret`."
        )
    what = redact(str(exc)).rstrip(". ") or type(exc).__name__
    if isinstance(exc, AuthFailed):
        return (
            f"{who}: login refused: {what}. Replace its secret with `copytui accounts set {acct.name} "
            "--new-secret`, or check its username and account id in the config."
        )
    if isinstance(exc, NoKeyringError):
        return f"{who}: {what}. Run `copytui doctor` to set one up."
    if isinstance(exc, TimeoutError):
        what = "no answer in time"
    return (
        f"{who}: could not connect: {what}. Check its host and port in the config; "
        f"`copytui accounts test {acct.name}` tries the login alone."
    )


def secret_label(broker: str, field: str) -> str:
    """``ProjectX API key`` for the ``api_key`` field of a projectx account."""
    fields = secret_fields(broker)
    for f in fields:
        if f.field == field or (not field and f is fields[0]):
            return f.label.split(" (")[0]
    return "secret"


@journal_app.command("summary")
def journal_summary(
    journal: Path | None = typer.Option(None, "--journal", help="SQLite journal path."),
    demo: bool = typer.Option(False, "--demo", help="The last demo's journal."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Counts, latency, drift and duplicates from the journal."""
    from copytui.demo import latest_demo_journal
    from copytui.journal import JournalError, dumps, summary, summary_text

    path, note = _summary_journal(journal, demo, latest_demo_journal())
    try:
        s = asyncio.run(summary(path))
    except JournalError as exc:
        fail(str(exc))
    if note and not as_json:
        typer.echo(note)
    typer.echo(dumps(s) if as_json else summary_text(s))


def _summary_journal(journal: Path | None, demo: bool, last_demo: Path | None) -> tuple[Path, str]:
    """The journal to summarise: --journal; --demo; your config's; else, before you have a journal
    of your own, the last demo's (said in a note)."""
    from copytui.config import default_journal_path

    if journal is not None:
        return journal, ""
    if demo:
        if last_demo is None:
            fail("no demo has run yet: `copytui run --demo` first.")
        return last_demo, f"the demo's journal: {last_demo}"
    own = default_journal_path()
    if default_config_path().exists():
        with contextlib.suppress(ConfigError):
            own = load_config(default_config_path()).journal_path()
    if not own.exists() and last_demo is not None:
        return last_demo, f"no journal of your own yet ({own}); the last demo's journal: {last_demo}"
    return own, ""


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    install_log_redaction()
    app()


if __name__ == "__main__":
    main()
