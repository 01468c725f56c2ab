"""`copytui accounts add|list|remove|test|set`: accounts in the config file, their secrets in the
OS keyring. Every command checks all of its input before it changes anything; a failure after
that point puts the keyring back as it was, and the config file is only ever replaced whole."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from pathlib import Path
from typing import Any

import typer

from copytui.commands import md_accounts
from copytui.commands.config_cmd import config_path, fail, first_line, read_config, write_config
from copytui.config import AccountConfig, ConfigError, FollowerConfig

app = typer.Typer(help="Broker accounts: config entries, with their secrets in the OS keyring.", no_args_is_help=True)

CLEAR = object()
"""A rule option given as 0 by `set`: remove the key (back to its default)."""
NAME_HELP = "Account alias: letters, digits, . _ - (also the keyring key of its secret)."


# ------------------------------------------------------------------------- options
# Fresh Option objects per command (typer binds each to one parameter).
def _config_opt() -> Any:
    return typer.Option(None, "--config", help="Config file (default: ~/.config/copytui/config.yaml).")


def _o(flag: str, help: str) -> Any:
    return typer.Option(None, flag, help=help, show_default=False)


class Rules:
    """The follower rule options shared by `add` and `set`."""

    def __init__(self, **given: Any) -> None:
        self.given = {k: v for k, v in given.items() if v is not None and v != []}

    def updates(self, clearing: bool) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in self.given.items():
            if clearing and key in ("fixed_qty", "max_order_qty", "max_position") and value == 0:
                out[key] = CLEAR
            elif key == "pause":
                out["enabled"] = not value
            elif key in ("maps", "unmap"):
                continue
            else:
                out[key] = value
        return {k: v for k, v in out.items() if v is not None}

    def symbol_map(self, current: dict[str, Any]) -> dict[str, Any] | None:
        if "maps" not in self.given and "unmap" not in self.given:
            return None
        result = dict(current)
        for item in self.given.get("maps", []):
            leader, sep, rest = item.partition("=")
            follower, _, factor = rest.partition(":")
            if not sep or not leader or not follower:
                fail(f"--map {item!r}: write LEADER=FOLLOWER or LEADER=FOLLOWER:FACTOR, e.g. --map NQ=MNQ:10")
            entry: dict[str, Any] = {"symbol": follower.strip().upper()}
            if factor:
                try:
                    entry["factor"] = float(factor)
                except ValueError:
                    fail(f"--map {item!r}: the factor {factor!r} is not a number, e.g. --map NQ=MNQ:10")
            result[leader.strip().upper()] = entry
        for sym in self.given.get("unmap", []):
            if result.pop(sym.strip().upper(), None) is None:
                fail(f"--unmap {sym}: no mapping for {sym}; the current ones: {', '.join(result) or 'none'}")
        return result


# ------------------------------------------------------------------------- helpers
def _accounts(data: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(role, raw mapping) for every account in a validated config's raw data."""
    out: list[tuple[str, dict[str, Any]]] = []
    if isinstance(data.get("leader"), dict):
        out.append(("leader", data["leader"]))
    out.extend(("leader", a) for a in data.get("leaders") or [] if isinstance(a, dict))
    out.extend(("follower", f) for f in data.get("followers") or [])
    return out


def _follows(follower: dict[str, Any], leader: str) -> bool:
    """Whether a follower's raw entry names ``leader`` in its ``follows``."""
    named = follower.get("follows") or []
    return any(f == leader or (isinstance(f, dict) and f.get("leader") == leader) for f in named)


def _load(path: Path) -> tuple[str, dict[str, Any], Any]:
    import yaml

    found = read_config(path)
    if found is None:
        fail(f"no config at {path}. Add the leader first: `copytui accounts add NAME --broker paper --role leader`.")
    text, cfg = found
    return text, yaml.safe_load(text), cfg


def _find(data: dict[str, Any], name: str, path: Path) -> tuple[str, dict[str, Any]]:
    for role, raw in _accounts(data):
        if raw.get("name") == name:
            return role, raw
    names = ", ".join(str(raw.get("name")) for _, raw in _accounts(data)) or "none"
    fail(f"no account {name!r} in {path}; configured: {names}. See `copytui accounts list`.")


def _option_name(field: str) -> str:
    special = {"name": "NAME", "symbol_map": "--map", "maps": "--map", "enabled": "--pause"}
    return special.get(field, "--" + field.replace("_", "-"))


def _check_account(raw: dict[str, Any], role: str) -> None:
    """Validate one account on its own, so the message names the option rather than a YAML line."""
    from pydantic import ValidationError

    model = FollowerConfig if role == "follower" else AccountConfig
    try:
        model.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = _option_name(str(err["loc"][0])) if err["loc"] else "account"
        fail(f"{where}: {err['msg']}.")


def _save(path: Path, data: dict[str, Any], old_text: str | None, undo: Any = None) -> str | None:
    try:
        return write_config(path, data, old_text)
    except (ConfigError, OSError) as exc:
        if undo is not None:
            undo()
        msg = first_line(exc) if isinstance(exc, ConfigError) else f"{path}: cannot be written ({exc.strerror})"
        fail(msg)


def _keyring_fail(exc: Exception) -> None:
    from copytui.credentials import NoKeyringError

    typer.echo(f"error: {exc}", err=True)
    if isinstance(exc, NoKeyringError):
        typer.echo("fix it:\n" + "\n".join("  " + line for line in exc.fix.splitlines()), err=True)
    raise typer.Exit(3)


def _read_secrets(
    name: str, broker: str, from_stdin: bool, wanted: list[tuple[Any, str]] | None = None, kind: str = "account"
) -> dict[str, str | None]:
    """keyring entry -> value (None: delete a stale optional one), read hidden or from stdin.
    ``wanted``: (field, entry) pairs, by default the broker account's (a market-data source's differ)."""
    from copytui.credentials import entry_names, remember

    stdin = sys.stdin
    wanted = entry_names(name, broker) if wanted is None else wanted
    out: dict[str, str | None] = {}
    for i, (field, entry) in enumerate(wanted, start=1):
        if from_stdin:
            value = stdin.readline().rstrip("\r\n")
        else:
            try:
                value = typer.prompt(
                    f"{name}: {field.label}",
                    default="" if not field.required else None,
                    show_default=False,
                    hide_input=True,
                    confirmation_prompt=field.required,
                )
            except typer.Abort:
                fail(f"no {field.field} entered for {name}; nothing was changed.")
        if value:
            remember(value)
            out[entry] = value
        elif field.required:
            how = (
                f"give {len(wanted)} line(s) on stdin, in this order: {', '.join(f.field for f, _ in wanted)}"
                if from_stdin
                else "type it at the prompt"
            )
            fail(f"{broker} {kind} {name} needs its {field.field} (secret {i} of {len(wanted)}): {how}.")
        else:
            out[entry] = None
    return out


# ------------------------------------------------------------------------- add
@app.command("add")
def add(
    name: str = typer.Argument(..., help=NAME_HELP),
    broker: str | None = _o("--broker", "paper or an installed broker adapter (required unless --market-data)."),
    role: str | None = _o("--role", "leader or follower (required unless --market-data)."),
    account_id: str | None = _o("--account-id", "The broker's account id or spec."),
    username: str | None = _o("--username", "Login name at the broker."),
    environment: str | None = _o("--environment", "demo, live or sim (default demo)."),
    host: str | None = _o("--host", "Override of the broker's host (simulators: 127.0.0.1)."),
    port: int | None = _o("--port", "Override of the broker's port."),
    mode: str | None = _o("--mode", "fills (market order per fill) or mirror (copy working orders)."),
    multiplier: float | None = _o("--multiplier", "Follower qty = leader qty x this (default 1)."),
    rounding: str | None = _o("--rounding", "nearest, down or up."),
    fixed_qty: int | None = _o("--fixed-qty", "Hold exactly this many contracts when the leader is in."),
    min_order_qty: int | None = _o("--min-order-qty", "Hold back opening deltas below this size."),
    max_order_qty: int | None = _o("--max-order-qty", "Split orders above this size."),
    max_position: int | None = _o("--max-position", "Absolute position cap per symbol."),
    maps: list[str] | None = typer.Option(None, "--map", help="LEADER=FOLLOWER[:FACTOR], e.g. NQ=MNQ:10 (repeat)."),
    reverse: bool | None = typer.Option(None, "--reverse/--no-reverse", help="Trade the opposite side."),
    auto_correct: bool | None = typer.Option(None, "--auto-correct/--no-auto-correct", help="Reconciler corrects."),
    max_correction_qty: int | None = _o("--max-correction-qty", "Largest correction order."),
    pause: bool | None = typer.Option(None, "--pause/--resume", help="Add it disabled (enabled: false)."),
    follows: list[str] | None = typer.Option(
        None, "--follows", help="With several leaders: a leader it copies (repeat; replaces the list)."
    ),
    market_data: str | None = _o("--market-data", "Add a market-data source (dxfeed...) instead of an account."),
    options: list[str] | None = typer.Option(None, "--option", help="With --market-data: NAME=VALUE (repeat)."),
    symbols: list[str] | None = typer.Option(None, "--symbol", help="With --market-data: a symbol to quote (repeat)."),
    secret_stdin: bool = typer.Option(False, "--secret-stdin", help="Read secrets from stdin, one a line."),
    config: Path | None = _config_opt(),
) -> None:
    """Add the leader, a follower or the market-data source; prompts (hidden) for the secrets it needs."""
    import yaml

    from copytui import registry
    from copytui.credentials import NoKeyringError, apply_changes, get_secret, require_backend, secret_fields

    path = config_path(config)
    rules = Rules(
        mode=mode, multiplier=multiplier, rounding=rounding, fixed_qty=fixed_qty, min_order_qty=min_order_qty,
        max_order_qty=max_order_qty, max_position=max_position, maps=maps, reverse=reverse,
        auto_correct=auto_correct, max_correction_qty=max_correction_qty, pause=pause, follows=follows,
    )  # fmt: skip
    fields = {"account_id": account_id, "username": username, "environment": environment, "host": host, "port": port}
    if market_data is not None:
        given = [_option_name(k) for k, v in {"broker": broker, "role": role, **fields}.items() if v is not None]
        if given or rules.given:
            fail(f"{', '.join(given + [_option_name(k) for k in rules.given])}: options of broker accounts; a "
                 "market-data source takes --option NAME=VALUE and --symbol.")  # fmt: skip
        md_accounts.add(name, market_data, options or [], symbols or [], secret_stdin, path)
        return
    if options or symbols:
        fail("--option and --symbol go with --market-data SOURCE; an account's options are edited in the config.")
    if broker is None or role is None:
        fail(f"--{'broker' if broker is None else 'role'} is required for an account "
             "(or --market-data SOURCE to add a market-data source).")  # fmt: skip
    if role not in ("leader", "follower"):
        fail(f"--role {role!r}: use leader or follower.")
    try:
        registry.spec(broker)
    except registry.UnknownBroker as exc:
        fail(f"{exc}.")
    if role == "leader" and rules.given:
        fail(f"{', '.join(_option_name(k) for k in rules.given)}: "
             "rule options apply to followers only; the leader is copied as it trades.")  # fmt: skip

    found = read_config(path)
    old_text = found[0] if found else None
    data: dict[str, Any] = yaml.safe_load(old_text) if old_text else {}
    for _, raw in _accounts(data):
        if raw.get("name") == name:
            fail(f"account {name!r} already exists in {path}; change it with `copytui accounts set {name} ...` "
                 f"or remove it first with `copytui accounts remove {name}`.")  # fmt: skip
    if md_accounts.is_market(data, name):
        fail(f"{name!r} is the market data's name in {path}; secrets are kept by name: give the account its own.")
    if role == "follower" and "leader" not in data and not data.get("leaders"):
        fail(f"no leader in {path} yet; add it first: `copytui accounts add NAME --broker B --role leader`.")

    account: dict[str, Any] = {"name": name, "broker": broker}
    account.update({k: v for k, v in fields.items() if v is not None})
    account.update(rules.updates(clearing=False))
    mapping = rules.symbol_map({})
    if mapping:
        account["symbol_map"] = mapping
    _check_account(account, role)
    if role == "leader" and "leader" in data:  # a second leader: the config lists its leaders
        data = {("leaders" if k == "leader" else k): ([v, account] if k == "leader" else v) for k, v in data.items()}
    elif role == "leader" and data.get("leaders"):
        data["leaders"].append(account)
    elif role == "leader":
        data["leader"] = account
    else:
        data.setdefault("followers", []).append(account)
    try:  # the whole config, before anything is stored
        from copytui.commands.config_cmd import render
        from copytui.config import parse_config

        parse_config(render(data), str(path))
    except ConfigError as exc:
        fail(first_line(exc))

    undo = None
    changes: dict[str, str | None] = {}
    skipped = ""
    fields_needed = secret_fields(broker)
    if fields_needed:
        try:
            require_backend()
            for _, entry in _entries(name, broker):
                get_secret(entry)  # a locked or absent keyring fails here, before any prompt
            changes = _read_secrets(name, broker, secret_stdin)
            undo = apply_changes(changes)
        except NoKeyringError as exc:
            if secret_stdin or any(f.required for f in fields_needed):
                _keyring_fail(exc)
            # nothing required: the account works without a secret, so no keyring is no obstacle
            skipped = f" (no OS keyring here, so its optional {fields_needed[0].field} was not asked for)"
    stored = sum(1 for v in changes.values() if v)
    backup = _save(path, data, old_text, undo)
    where = f"; the old file with its comments is in {backup}" if backup else ""
    typer.echo(f"added {role} {name} ({broker}) to {path}; {stored} secret(s) in the OS keyring{skipped}{where}")


def _entries(name: str, broker: str) -> list[tuple[Any, str]]:
    from copytui.credentials import entry_names

    return entry_names(name, broker)


# ------------------------------------------------------------------------- list
def _secret_state(name: str, broker: str, entries: list[tuple[Any, str]] | None = None) -> str:
    """yes / MISSING ... / not needed / optional, unset. Raises NoKeyringError."""
    from copytui.credentials import get_secret

    entries = _entries(name, broker) if entries is None else entries
    if not entries:
        return "not needed"
    missing = [f.field for f, entry in entries if f.required and not get_secret(entry)]
    if missing:
        return "MISSING " + ", ".join(missing)
    if all(not f.required for f, _ in entries):
        return "yes" if any(get_secret(e) for _, e in entries) else "optional, unset"
    return "yes"


@app.command("list")
def list_accounts(config: Path | None = _config_opt()) -> None:
    """The configured accounts, their rules and whether their secret is in the keyring."""
    from rich.console import Console
    from rich.table import Table

    from copytui.credentials import NoKeyringError

    path = config_path(config)
    _, _, cfg = _load(path)
    table = Table(title=f"accounts in {path}")
    for col in ("name", "role", "broker", "account", "env", "rule", "enabled", "secret"):
        table.add_column(col)
    keyring_error: NoKeyringError | None = None
    for role, acct in [("leader", a) for a in cfg.all_leaders] + [("follower", f) for f in cfg.followers]:
        state = "unknown"
        if keyring_error is None:
            try:
                state = _secret_state(acct.name, acct.broker)
            except NoKeyringError as exc:
                keyring_error = exc
        rule = acct.rule_text() if isinstance(acct, FollowerConfig) else "-"
        enabled = ("yes" if acct.enabled else "PAUSED") if isinstance(acct, FollowerConfig) else "-"
        table.add_row(acct.name, role, acct.broker, acct.account_id or acct.name, acct.environment, rule, enabled,
                      state)  # fmt: skip
    if (md := cfg.market_data) is not None:
        state = "unknown"
        if keyring_error is None:
            try:
                state = md_accounts.secret_state(md.name, md.source)
            except NoKeyringError as exc:
                keyring_error = exc
        table.add_row(md.name, md_accounts.KIND, md.source, "-", "-", "-", "-", state)
    Console().print(table)
    if keyring_error is not None:
        typer.echo(f"warning: {keyring_error} Run `copytui doctor` for the fix.", err=True)


# ------------------------------------------------------------------------- remove
@app.command("remove")
def remove(name: str = typer.Argument(..., help="The account to remove."), config: Path | None = _config_opt()) -> None:
    """Remove an account from the config and its secrets from the keyring."""
    import os

    from copytui.credentials import NoKeyringError, apply_changes, require_backend

    path = config_path(config)
    old_text, data, _ = _load(path)
    if md_accounts.is_market(data, name):
        md_accounts.remove(name, path, old_text, data)
        return
    role, raw = _find(data, name, path)
    followers = data.get("followers") or []
    leaders = data.get("leaders") or []
    if role == "leader" and len(leaders) > 1:  # one of several: its followers must follow another
        named = [str(f.get("name")) for f in followers if _follows(f, name)]
        if named:
            fail(f"{', '.join(named)} follow(s) {name}; take {name} out of their `follows` in {path} first "
                 "(`copytui accounts list` shows the rest).")  # fmt: skip
        role = "one of the leaders"
    elif role == "leader" and followers:
        fail(f"{name} is the leader and {len(followers)} follower(s) copy it; a config needs a leader. Remove "
             f"the followers first, or edit the leader block of {path}.")  # fmt: skip
    undo = None
    entries = _entries(name, str(raw.get("broker", "paper")))
    if entries:
        try:
            require_backend()
            undo = apply_changes({entry: None for _, entry in entries})
        except NoKeyringError as exc:
            _keyring_fail(exc)
    if role == "one of the leaders":
        data["leaders"] = [a for a in leaders if a.get("name") != name]
        role = "leader"
    elif role == "leader":  # the only account: a config without a leader would be invalid
        backup = path.with_name(path.name + ".bak")
        try:
            os.replace(path, backup)
        except OSError as exc:
            if undo is not None:
                undo()
            fail(f"{path}: cannot be moved aside ({exc.strerror}).")
        typer.echo(f"removed {name} and its secrets; it was the only account, so {path} is now {backup}")
        return
    data["followers"] = [f for f in followers if f.get("name") != name]
    if not data["followers"]:
        del data["followers"]
    backup_txt = _save(path, data, old_text, undo)
    where = f"; the old file with its comments is in {backup_txt}" if backup_txt else ""
    typer.echo(f"removed {role} {name} from {path} and its secrets from the keyring{where}")


# ------------------------------------------------------------------------- set
@app.command("set")
def set_account(
    name: str = typer.Argument(..., help="The account to change."),
    account_id: str | None = _o("--account-id", "The broker's account id or spec."),
    username: str | None = _o("--username", "Login name at the broker."),
    environment: str | None = _o("--environment", "demo, live or sim."),
    host: str | None = _o("--host", "Override of the broker's host."),
    port: int | None = _o("--port", "Override of the broker's port."),
    mode: str | None = _o("--mode", "fills or mirror."),
    multiplier: float | None = _o("--multiplier", "Follower qty = leader qty x this."),
    rounding: str | None = _o("--rounding", "nearest, down or up."),
    fixed_qty: int | None = _o("--fixed-qty", "Hold exactly this many contracts (0: back to the multiplier)."),
    min_order_qty: int | None = _o("--min-order-qty", "Hold back opening deltas below this size."),
    max_order_qty: int | None = _o("--max-order-qty", "Split orders above this size (0: no split)."),
    max_position: int | None = _o("--max-position", "Absolute position cap per symbol (0: no cap)."),
    maps: list[str] | None = typer.Option(None, "--map", help="Add or change LEADER=FOLLOWER[:FACTOR] (repeat)."),
    unmap: list[str] | None = typer.Option(None, "--unmap", help="Remove the mapping of a leader symbol (repeat)."),
    reverse: bool | None = typer.Option(None, "--reverse/--no-reverse", help="Trade the opposite side."),
    auto_correct: bool | None = typer.Option(None, "--auto-correct/--no-auto-correct", help="Reconciler corrects."),
    max_correction_qty: int | None = _o("--max-correction-qty", "Largest correction order."),
    pause: bool | None = typer.Option(
        None, "--pause/--resume", help="Disable/enable the follower (config `enabled`; from the next start)."
    ),
    follows: list[str] | None = typer.Option(
        None, "--follows", help="With several leaders: a leader it copies (repeat; replaces the list)."
    ),
    new_secret: bool = typer.Option(False, "--new-secret", help="Replace its secrets (prompt or --secret-stdin)."),
    secret_stdin: bool = typer.Option(False, "--secret-stdin", help="With --new-secret: read them from stdin."),
    config: Path | None = _config_opt(),
) -> None:
    """Change an account's broker fields, rules or pause state, or replace its secrets."""
    from copytui.credentials import NoKeyringError, apply_changes, get_secret, require_backend

    path = config_path(config)
    rules = Rules(
        mode=mode, multiplier=multiplier, rounding=rounding, fixed_qty=fixed_qty, min_order_qty=min_order_qty,
        max_order_qty=max_order_qty, max_position=max_position, maps=maps, unmap=unmap, reverse=reverse,
        auto_correct=auto_correct, max_correction_qty=max_correction_qty, pause=pause, follows=follows,
    )  # fmt: skip
    fields = {"account_id": account_id, "username": username, "environment": environment, "host": host, "port": port}
    fields = {k: v for k, v in fields.items() if v is not None}
    if not rules.given and not fields and not new_secret:
        fail("nothing to change; give at least one option (see `copytui accounts set --help`).")
    old_text, data, _ = _load(path)
    if md_accounts.is_market(data, name):
        changing = [*map(_option_name, fields), *map(_option_name, rules.given)]
        md_accounts.new_secret(name, data, secret_stdin, changing)
        return
    role, raw = _find(data, name, path)
    if role == "leader" and rules.given:
        fail(f"{name} is the leader; rule options and --pause apply to followers only.")
    raw.update(fields)
    for key, value in rules.updates(clearing=True).items():
        if value is CLEAR:
            raw.pop(key, None)
        else:
            raw[key] = value
    mapping = rules.symbol_map(dict(raw.get("symbol_map") or {}))
    if mapping is not None:
        if mapping:
            raw["symbol_map"] = mapping
        else:
            raw.pop("symbol_map", None)
    _check_account(raw, role)
    try:
        from copytui.commands.config_cmd import render
        from copytui.config import parse_config

        parse_config(render(data), str(path))
    except ConfigError as exc:
        fail(first_line(exc))
    undo = None
    broker = str(raw.get("broker", "paper"))
    if new_secret:
        if not _entries(name, broker):
            fail(f"{broker} accounts have no secret to replace.")
        try:
            require_backend()
            for _, entry in _entries(name, broker):
                get_secret(entry)
            undo = apply_changes(_read_secrets(name, broker, secret_stdin))
        except NoKeyringError as exc:
            _keyring_fail(exc)
    changed = [*fields, *(k if k != "maps" else "map" for k in rules.given)] + (["secrets"] if new_secret else [])
    backup = _save(path, data, old_text, undo) if (fields or rules.given) else None
    where = f"; the old file with its comments is in {backup}" if backup else ""
    typer.echo(f"updated {name}: {', '.join(c.replace('_', '-') for c in changed)}{where}")


# ------------------------------------------------------------------------- test
@app.command("test")
def test(
    name: str = typer.Argument(..., help="The account to connect to."),
    timeout: float = typer.Option(20.0, "--timeout", min=1, help="Seconds to wait for the connection."),
    config: Path | None = _config_opt(),
) -> None:
    """Connect through the account's adapter; report authentication and open positions."""
    from copytui.credentials import NoKeyringError, get_secret

    path = config_path(config)
    _, data, cfg = _load(path)
    if md_accounts.is_market(data, name):
        fail(f"{name} is the market-data source; `copytui doctor` checks its source, options and token.")
    _find(data, name, path)
    acct = next(a for a in [*cfg.all_leaders, *cfg.followers] if a.name == name)
    missing: list[str] = []
    try:
        for f, entry in _entries(acct.name, acct.broker):
            if not get_secret(entry) and f.required:
                missing.append(f.field)
    except NoKeyringError as exc:
        _keyring_fail(exc)
    entries = _entries(acct.name, acct.broker)
    state = "not needed" if not entries else (f"MISSING {', '.join(missing)}" if missing else "in the keyring")
    typer.echo(f"{acct.name}: {acct.broker} {acct.environment}, account {acct.account_id or acct.name}")
    typer.echo(f"  secret:    {state}")
    code = asyncio.run(_connect_and_report(acct, [*cfg.all_leaders, *cfg.followers], timeout))
    raise typer.Exit(1 if missing else code)


async def _connect_and_report(acct: AccountConfig, everyone: list[AccountConfig], deadline_s: float) -> int:
    from adapters.base import AdapterContext, AuthFailed, BrokerError
    from copytui import registry
    from copytui.config import data_dir
    from copytui.credentials import make_lookup, redact
    from copytui.instruments import format_price

    ctx = AdapterContext(secret=make_lookup(everyone), data_dir=str(data_dir()))
    try:
        adapter = registry.create(acct, ctx)
    except (LookupError, ValueError) as exc:  # unknown broker, or broker options the adapter refuses
        typer.echo(f"error: {redact(str(exc))}", err=True)
        return 2
    try:
        try:
            await asyncio.wait_for(adapter.connect(), deadline_s)
        except AuthFailed as exc:
            fix = f"`copytui accounts set {acct.name} --new-secret`"
            typer.echo(f"  auth:      FAILED: {redact(str(exc))}. Fix: {fix}.")
            return 1
        except TimeoutError:
            typer.echo(f"  connect:   FAILED: no answer within {deadline_s:g}s; check --host/--port and the network.")
            return 1
        except BrokerError as exc:
            typer.echo(f"  connect:   FAILED: {type(exc).__name__}: {redact(str(exc))}")
            return 1
        except Exception as exc:  # any adapter failure becomes one redacted line
            typer.echo(f"  connect:   FAILED: {type(exc).__name__}: {redact(str(exc))}")
            return 1
        typer.echo("  auth:      ok")
        positions = [p for p in await adapter.positions() if p.qty]
        orders = await adapter.open_orders()
        if positions:
            for p in positions:
                typer.echo(f"  position:  {p.symbol} {p.qty:+d} @ {format_price(p.symbol, p.avg_price)}")
        else:
            typer.echo("  positions: flat")
        typer.echo(f"  orders:    {len(orders)} working")
        return 0
    except Exception as exc:  # reading positions failed after auth
        typer.echo(f"  positions: FAILED: {type(exc).__name__}: {redact(str(exc))}")
        return 1
    finally:
        with contextlib.suppress(Exception):  # best-effort close of a test connection
            await asyncio.wait_for(adapter.disconnect(), 5)
