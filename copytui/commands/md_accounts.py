"""The market-data source in `copytui accounts add|list|remove|set`: its ``market_data:`` section in the
config file, its secrets (a feed token) in the OS keyring. It follows the broker accounts' rules
(copytui/commands/accounts.py): every input is checked before anything changes, a failure after
that puts the keyring back, and the config file is only ever replaced whole.

Its secrets sit where an account named like it, of a broker named like its source, keeps each field
(``credentials.market_entry_names``): the runtime reads them with the brokers' own lookup."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from copytui.commands.config_cmd import fail, first_line, market_problems, read_config, render
from copytui.config import ConfigError, MarketDataConfig

KIND = "market data"
"""The word in the accounts table and in messages."""


def section(data: dict[str, Any]) -> dict[str, Any] | None:
    """The raw ``market_data:`` mapping of a validated config, None when there is none."""
    found = data.get("market_data")
    return found if isinstance(found, dict) else None


def is_market(data: dict[str, Any], name: str) -> bool:
    found = section(data)
    return found is not None and found.get("name") == name


def parse_option_args(items: list[str]) -> dict[str, Any]:
    """``--option NAME=VALUE`` flags as a mapping; each value read as YAML, as in the config file
    (``stale_after_ms=2000`` is a number, ``symbols={MES: /ESZ26:XCME}`` a mapping)."""
    import yaml

    from copytui.config import SECRET_WORDS

    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            fail(f"--option {item!r}: write NAME=VALUE, e.g. --option url=wss://demo.dxfeed.com/dxlink-ws")
        if SECRET_WORDS.search(key):
            fail(f"--option {key}: secrets do not belong in the config file; `copytui accounts add` asks for "
                 "the source's secrets itself (hidden) and keeps them in the OS keyring.")  # fmt: skip
        try:
            out[key] = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            fail(f"--option {key}: {raw!r} is not a value YAML can read; quote it, e.g. --option '{key}=\"...\"'")
    return out


def _check_section(raw: dict[str, Any]) -> None:
    """The section on its own first, so that a message names the flag rather than a file line."""
    from pydantic import ValidationError

    try:
        MarketDataConfig.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        flag = {"name": "NAME", "symbols": "--symbol", "options": "--option"}.get(str(err["loc"][0]), "--market-data")
        fail(f"{flag}: {str(err['msg']).removeprefix('Value error, ')}.")


def _store_secrets(name: str, source: str, secret_stdin: bool) -> tuple[Any, int]:
    """(undo, how many stored): the source's secrets read hidden (or from stdin) into the keyring."""
    from copytui.commands.accounts import _keyring_fail, _read_secrets
    from copytui.credentials import NoKeyringError, apply_changes, get_secret, market_entry_names, require_backend

    wanted = market_entry_names(name, source)
    if not wanted:
        return None, 0
    try:
        require_backend()
        for _, entry in wanted:
            get_secret(entry)  # a locked or absent keyring fails here, before any prompt
        changes = _read_secrets(name, source, secret_stdin, wanted=wanted, kind=KIND)
        return apply_changes(changes), sum(1 for v in changes.values() if v)
    except NoKeyringError as exc:
        _keyring_fail(exc)
    raise AssertionError("unreachable")


def add(name: str, source: str, option_items: list[str], symbols: list[str], secret_stdin: bool, path: Path) -> None:
    """`accounts add NAME --market-data SOURCE`: the ``market_data:`` section, and its secrets."""
    import yaml

    from copytui import registry
    from copytui.commands.accounts import _save
    from copytui.config import parse_config

    try:
        registry.market_spec(source)
    except registry.UnknownBroker as exc:
        fail(f"{exc}.")
    options = parse_option_args(option_items)
    found = read_config(path)
    if found is None:
        fail(f"no config at {path}. Add the leader first: `copytui accounts add NAME --broker paper --role leader`.")
    old_text, cfg = found
    if cfg.market_data is not None:
        md = cfg.market_data
        fail(f"{path} already has market data {md.name!r} ({md.source}); copytui reads one source. "
             f"Remove it first with `copytui accounts remove {md.name}`.")  # fmt: skip
    raw: dict[str, Any] = {"name": name, "source": source}
    if options:
        raw["options"] = options
    if symbols:
        raw["symbols"] = [s.strip().upper() for s in symbols]
    _check_section(raw)
    data: dict[str, Any] = yaml.safe_load(old_text)
    data["market_data"] = raw
    try:  # the whole config, before anything is stored
        new = parse_config(render(data), str(path))
    except ConfigError as exc:
        fail(first_line(exc))
    assert new.market_data is not None
    problems = market_problems(new.market_data, [new.leader, *new.followers])
    if problems:
        how = " (options are given as --option NAME=VALUE)" if problems[0].startswith("market_data.options") else ""
        fail(f"{problems[0].rstrip('.')}{how}.")

    undo, stored = _store_secrets(name, source, secret_stdin)
    backup = _save(path, data, old_text, undo)
    where = f"; the old file with its comments is in {backup}" if backup else ""
    typer.echo(f"added {KIND} {name} ({source}) to {path}; {stored} secret(s) in the OS keyring{where}")


def secret_state(name: str, source: str) -> str:
    """yes / MISSING ... / not needed, as for an account. Raises NoKeyringError."""
    from copytui.commands.accounts import _secret_state
    from copytui.credentials import market_entry_names

    return _secret_state(name, source, entries=market_entry_names(name, source))


def remove(name: str, path: Path, old_text: str, data: dict[str, Any]) -> None:
    """`accounts remove NAME` of the market data: its section and its keyring entries."""
    from copytui.commands.accounts import _keyring_fail, _save
    from copytui.credentials import NoKeyringError, apply_changes, market_entry_names, require_backend

    raw = section(data) or {}
    entries = market_entry_names(name, str(raw.get("source")))
    undo = None
    if entries:
        try:
            require_backend()
            undo = apply_changes({entry: None for _, entry in entries})
        except NoKeyringError as exc:
            _keyring_fail(exc)
    del data["market_data"]
    backup = _save(path, data, old_text, undo)
    where = f"; the old file with its comments is in {backup}" if backup else ""
    typer.echo(f"removed {KIND} {name} from {path} and its secrets from the keyring{where}")


def new_secret(name: str, data: dict[str, Any], secret_stdin: bool, changing: list[str]) -> None:
    """`accounts set NAME --new-secret` of the market data: only its secrets change here."""
    from copytui.credentials import market_entry_names

    source = str((section(data) or {}).get("source"))
    if changing:
        fail(f"{', '.join(changing)}: {name} is the {KIND} source; only --new-secret applies to it "
             "(its options are in the config's market_data: section).")  # fmt: skip
    if not market_entry_names(name, source):
        fail(f"the {source} source has no secret to replace.")
    _store_secrets(name, source, secret_stdin)
    typer.echo(f"updated {name}: secrets")
