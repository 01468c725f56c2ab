"""`copytui doctor`: a checklist of everything copytui needs on this machine, each failure with
its fix. Exit 0 only when nothing failed."""

from __future__ import annotations

import importlib.util
import os
import shutil
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

import typer

from copytui.config import Config

OK, WARN, FAIL, SKIP = "ok", "warn", "FAIL", "skip"
MIN_COLUMNS, MIN_LINES = 80, 24


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    detail: str
    fix: str = ""


def _check_config(path: Path) -> tuple[Config | None, list[Check]]:
    from copytui.config import ConfigError, load_config

    if not path.exists():
        fix = "copytui accounts add NAME --broker paper --role leader   (or copy config.example.yaml there)"
        return None, [Check("config", FAIL, f"no config at {path}", fix)]
    try:
        cfg = load_config(path)
    except ConfigError as exc:
        lines = str(exc).splitlines()
        return None, [Check("config", FAIL, lines[0], "\n".join(lines[1:] + ["see `copytui config check`"]))]
    leads = ", ".join(a.name for a in cfg.all_leaders)
    role = "leader" if len(cfg.all_leaders) == 1 else "leaders"
    checks = [Check("config", OK, f"{path}: {role} {leads}, {len(cfg.followers)} follower(s)")]
    checks.append(_check_private("config file mode", path))
    return cfg, checks


def _check_private(name: str, path: Path) -> Check:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        return Check(name, FAIL, f"{path} is mode {mode:04o}: others can read it", f"chmod 600 {path}")
    return Check(name, OK, f"{path} is mode {mode:04o}")


def _check_keyring() -> Check:
    from copytui.credentials import NoKeyringError, probe

    try:
        backend = probe()
    except NoKeyringError as exc:
        return Check("keyring", FAIL, str(exc), exc.fix)
    return Check("keyring", OK, f"{backend}: unlocked; a test entry was written, read back and deleted")


def _check_secrets(cfg: Config, keyring_ok: bool) -> list[Check]:
    from copytui.credentials import NoKeyringError, entry_names, get_secret

    checks = []
    for acct in [*cfg.all_leaders, *cfg.followers]:
        name = f"secret of {acct.name}"
        entries = entry_names(acct.name, acct.broker)
        needed = [(f, e) for f, e in entries if f.required]
        if not needed:
            checks.append(Check(name, OK, f"none required by {acct.broker}"))
            continue
        if not keyring_ok:
            checks.append(Check(name, SKIP, "cannot be checked without a keyring (see above)"))
            continue
        try:
            missing = [f.field for f, e in needed if not get_secret(e)]
        except NoKeyringError as exc:
            checks.append(Check(name, FAIL, str(exc), exc.fix))
            continue
        if missing:
            fix = f"copytui accounts set {acct.name} --new-secret"
            checks.append(Check(name, FAIL, f"missing in the keyring: {', '.join(missing)}", fix))
        else:
            checks.append(Check(name, OK, f"{', '.join(f.field for f, _ in needed)} present"))
    return checks


def _check_journal(path: Path) -> list[Check]:
    if path.exists():
        if not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)):
            return [
                Check("journal", FAIL, f"{path} (or its folder) is not writable", f"chmod u+w {path} {path.parent}")
            ]
        return [Check("journal", OK, f"{path} is writable"), _check_private("journal file mode", path)]
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if ancestor.is_dir() and os.access(ancestor, os.W_OK | os.X_OK):
        return [Check("journal", OK, f"{path} can be created")]
    fix = f"make {ancestor} writable, or set `journal:` in the config / pass --journal to a writable path"
    return [Check("journal", FAIL, f"{path} cannot be created: {ancestor} is not writable", fix)]


def _check_brokers(cfg: Config) -> list[Check]:
    from copytui import registry

    installed = registry.available()
    checks = []
    for broker in sorted({a.broker for a in [*cfg.all_leaders, *cfg.followers]}):
        name = f"adapter {broker}"
        if broker in registry.broken():
            checks.append(Check(name, FAIL, registry.broken()[broker], "reinstall the package that provides it"))
            continue
        if broker not in installed:
            known = ", ".join(sorted(installed)) or "none"
            checks.append(
                Check(name, FAIL, f"not installed (installed: {known})", "pip install -e . in copytui's folder")
            )
            continue
        missing = [(m, how) for m, how in registry.spec(broker).requires if importlib.util.find_spec(m) is None]
        if missing:
            module, how = missing[0]
            checks.append(Check(name, FAIL, f"needs the Python module {module}", how))
            continue
        try:
            registry.factory(broker)
        except Exception as exc:  # an adapter that fails to import, for any reason
            checks.append(Check(name, FAIL, f"fails to load: {type(exc).__name__}: {exc}", "pip install -e . again"))
            continue
        checks.append(Check(name, OK, f"installed ({installed[broker]})"))
    return checks


def _check_market_sources() -> list[Check]:
    """The installed market-data sources; one that fails to load, with why (a failure only when the
    config uses it: see _check_market_data)."""
    from copytui import registry

    specs = registry.market_specs()
    installed = ", ".join(sorted(specs)) or "none"
    checks = [Check("market-data sources", OK if specs else WARN, f"installed: {installed}")]
    fix = "reinstall the package that provides it (pip install -e . in copytui's folder)"
    broken = sorted(registry.market_broken().items())
    checks.extend(Check(f"market-data source {n}", WARN, why, fix) for n, why in broken)
    return checks


def _check_market_data(cfg: Config, path: Path, keyring_ok: bool) -> list[Check]:
    """The config's ``market_data:``: its source installed, its options valid, its secrets stored."""
    from copytui.commands.config_cmd import market_problems
    from copytui.credentials import NoKeyringError, get_secret, market_entry_names

    md = cfg.market_data
    if md is None:
        return []
    name = f"market data {md.name}"
    problems = market_problems(md, [*cfg.all_leaders, *cfg.followers])
    fix = f"edit the market_data: section of {path}, then run `copytui config check`"
    checks = [Check(name, FAIL, p, fix) for p in problems] or [Check(name, OK, f"source {md.source}, options valid")]
    needed = [(f, e) for f, e in market_entry_names(md.name, md.source) if f.required]
    secret = f"secret of {md.name}"
    if not needed:
        return checks
    if not keyring_ok:
        return [*checks, Check(secret, SKIP, "cannot be checked without a keyring (see above)")]
    try:
        missing = [f.field for f, e in needed if not get_secret(e)]
    except NoKeyringError as exc:
        return [*checks, Check(secret, FAIL, str(exc), exc.fix)]
    if missing:
        fix = f"copytui accounts set {md.name} --new-secret"
        return [*checks, Check(secret, FAIL, f"missing in the keyring: {', '.join(missing)}", fix)]
    return [*checks, Check(secret, OK, f"{', '.join(f.field for f, _ in needed)} present")]


def _check_terminal() -> list[Check]:
    from rich.console import Console

    if not sys.stdout.isatty():
        return [Check("terminal", SKIP, "stdout is not a terminal; run doctor in the terminal the desk will use")]
    console = Console()
    colours = console.color_system
    term = os.environ.get("TERM", "")
    checks = []
    if colours in ("256", "truecolor"):
        checks.append(Check("terminal colours", OK, f"{colours} (TERM={term})"))
    else:
        tmux = " In tmux: set -g default-terminal tmux-256color" if term.startswith(("screen", "tmux")) else ""
        fix = f"export TERM=xterm-256color (and unset NO_COLOR).{tmux}"
        checks.append(Check("terminal colours", FAIL, f"{colours or 'none'} (TERM={term or 'unset'})", fix))
    size = shutil.get_terminal_size()
    if size.columns >= MIN_COLUMNS and size.lines >= MIN_LINES:
        checks.append(Check("terminal size", OK, f"{size.columns}x{size.lines}"))
    else:
        want = f"at least {MIN_COLUMNS}x{MIN_LINES}"
        checks.append(Check("terminal size", FAIL, f"{size.columns}x{size.lines}", f"enlarge the window to {want}"))
    return checks


def doctor(
    config: Path | None = typer.Option(None, "--config", help="Config file (default: ~/.config/copytui/config.yaml)."),
    journal: Path | None = typer.Option(None, "--journal", help="Journal path to check (default: the config's)."),
) -> None:
    """Check keyring, secrets, config, journal, adapters, market data and terminal; print each failure's fix."""
    from copytui.commands.config_cmd import config_path
    from copytui.config import default_journal_path
    from copytui.credentials import redact

    path = config_path(config)
    cfg, checks = _check_config(path)
    keyring = _check_keyring()
    checks.append(keyring)
    if cfg is not None:
        checks.extend(_check_secrets(cfg, keyring.status == OK))
        checks.extend(_check_brokers(cfg))
    checks.extend(_check_market_sources())
    if cfg is not None:
        checks.extend(_check_market_data(cfg, path, keyring.status == OK))
    journal_path = journal or (cfg.journal_path() if cfg is not None else default_journal_path())
    checks.extend(_check_journal(journal_path.expanduser()))
    checks.extend(_check_terminal())

    for c in checks:
        typer.echo(redact(f"[{c.status:^4}] {c.name}: {c.detail}"))
        for i, line in enumerate(c.fix.splitlines()):
            typer.echo(redact(("       fix: " if i == 0 else "            ") + line))
    failed = [c for c in checks if c.status == FAIL]
    if failed:
        typer.echo(f"{len(failed)} problem(s): {', '.join(c.name for c in failed)}")
        raise typer.Exit(1)
    typer.echo("all is well")
