"""`copytui config check|schema`, and the config-file plumbing the account commands share:
read, validate, and write atomically with mode 0600 (never an invalid config)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NoReturn

import typer

from copytui.config import Config, ConfigError, decode_config, default_config_path, parse_config

app = typer.Typer(help="Check the config file or write its JSON schema.", no_args_is_help=True)

HEADER = (
    "# copytui config. Secrets are not here: they live in the OS keyring (`copytui accounts add`).\n"
    "# Every key is documented in config.example.yaml; check with `copytui config check`.\n"
)


def fail(message: str, code: int = 2) -> NoReturn:
    """One line on stderr, then exit non-zero."""
    from copytui.credentials import redact

    typer.echo(f"error: {redact(message)}", err=True)
    raise typer.Exit(code)


def first_line(exc: ConfigError) -> str:
    lines = str(exc).splitlines()
    more = f" (and {len(lines) - 1} more; run `copytui config check`)" if len(lines) > 1 else ""
    return lines[0] + more


def config_path(option: Path | None) -> Path:
    return (option or default_config_path()).expanduser()


def read_config(path: Path) -> tuple[str, Config] | None:
    """(text, parsed) of an existing config, None when the file does not exist; fail() when invalid."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        fail(f"{path}: cannot be read ({exc.strerror}).")
    try:
        text = decode_config(raw, str(path))
        return text, parse_config(text, str(path))
    except ConfigError as exc:
        fail(first_line(exc))


def render(data: dict[str, Any]) -> str:
    import yaml

    return HEADER + yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True)


def _has_own_comments(text: str) -> bool:
    ours = set(HEADER.splitlines())
    return any(line.lstrip().startswith("#") and line not in ours for line in text.splitlines())


def _write_0600(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_config(path: Path, data: dict[str, Any], old_text: str | None) -> str | None:
    """Validate ``data`` as a whole config, then replace ``path`` atomically (mode 0600). A config
    with comments of its own is first copied to ``PATH.bak``, whose name is returned."""
    text = render(data)
    parse_config(text, str(path))  # raises ConfigError: the caller turns it into a message
    backup = None
    if old_text is not None and _has_own_comments(old_text):
        backup = path.with_name(path.name + ".bak")
        _write_0600(backup, old_text)
    _write_0600(path, text)
    return str(backup) if backup else None


# ------------------------------------------------------------------------- commands
@app.command("check")
def check(
    file: Path | None = typer.Argument(
        None, metavar="FILE", show_default=False, help="Config file (default: ~/.config/copytui/config.yaml)."
    ),
    config: Path | None = typer.Option(None, "--config", help="Config file, as an option (same as FILE)."),
) -> None:
    """Validate the config: every problem as file:line: key: what is wrong and the fix; exit 2 if any."""
    from copytui.config import load_config
    from copytui.credentials import redact

    if file is not None and config is not None:
        fail(f"two config files given ({file} and --config {config}): pass one, as FILE or with --config.")
    path = config_path(file or config)
    try:
        cfg = load_config(path)
    except ConfigError as exc:
        for problem in exc.problems:
            typer.echo(f"error: {redact(str(problem))}", err=True)
        typer.echo(exc.count_line(), err=True)
        raise typer.Exit(2) from None
    problems = [p for account in (*cfg.all_leaders, *cfg.followers) for p in option_problems(account)]
    if cfg.market_data is not None:
        problems.extend(market_problems(cfg.market_data, [*cfg.all_leaders, *cfg.followers]))
    for text in problems:
        typer.echo(f"error: {path}: {redact(text)}", err=True)
    if problems:
        whose = "the accounts' and the market data's" if cfg.market_data is not None else "the accounts'"
        typer.echo(f"{len(problems)} problem(s) in {whose} options", err=True)
        raise typer.Exit(2)
    md = cfg.market_data
    also = f"; market data {md.name} ({md.source})" if md is not None else ""
    leads = ", ".join(f"{a.name} ({a.broker})" for a in cfg.all_leaders)
    role = "leader" if len(cfg.all_leaders) == 1 else "leaders"
    typer.echo(f"ok: {path}: {role} {leads}, {len(cfg.followers)} followers{also}")


def option_problems(account: Any) -> list[str]:
    """An account's ``options:`` checked against the model its broker declares (AdapterSpec.options):
    the problem names the account, the key and what is wrong (an unknown key: the keys it knows)."""
    from pydantic import BaseModel, ValidationError

    from adapters.base import AdapterSpec
    from adapters.kit.options import option_problem
    from copytui import registry

    where = f"account {account.name} ({account.broker})"
    try:
        spec = registry.spec(account.broker)
    except registry.UnknownBroker as exc:
        return [f"{where}: {exc}"]
    if spec.options is None:
        return []
    model = AdapterSpec.load(spec.options)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return [f"{where}: the {account.broker} adapter declares options {spec.options!r}, not a pydantic model"]
    try:
        model.model_validate(dict(account.options or {}))
    except ValidationError as exc:
        return [f"{where}: {option_problem(exc, model, account.broker)}"]
    except ValueError as exc:
        return [f"{where}: options: {exc}"]
    return []


def market_problems(md: Any, accounts: Iterable[Any] = ()) -> list[str]:
    """The ``market_data:`` section against what its source declares (MarketDataSpec): the source is
    installed, its options fit the source's model (naming ``market_data.options.KEY``), and its name
    is no account's: secrets are kept by name, so the two would share keyring entries."""
    from pydantic import BaseModel, ValidationError

    from adapters.marketdata import MarketDataSpec
    from copytui import registry

    problems = []
    if any(a.name == md.name for a in accounts):
        problems.append(f"market_data.name: {md.name!r} is also an account's name; their secrets would share "
                        "keyring entries, so give the market data a name of its own")  # fmt: skip
    try:
        spec = registry.market_spec(md.source)
    except registry.UnknownBroker as exc:
        return [*problems, f"market_data.source: {exc}"]
    if spec.options is None:
        return problems
    model = MarketDataSpec.load(spec.options)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return [*problems, f"market_data: source {md.source} declares options {spec.options!r}, not a pydantic model"]
    try:
        model.model_validate(dict(md.options or {}))
    except ValidationError as exc:
        problems.append(_market_option_problem(exc, model, md.source))
    except ValueError as exc:
        problems.append(f"market_data.options: {exc}")
    return problems


def _market_option_problem(exc: Any, model: Any, source: str) -> str:
    """option_problem's words, with the keys named where they sit in the config file."""
    from adapters.kit.options import option_problem

    unknown = sorted(str(e["loc"][0]) for e in exc.errors() if e["type"] == "extra_forbidden" and e["loc"])
    if unknown:
        keys = ", ".join(f"market_data.options.{key}" for key in unknown)
        return f"{keys}: not a {source} option; known: {', '.join(sorted(model.model_fields))}"
    required = {  # a required key's own docstring says what to write there
        key: " ".join((field.description or "give it a value").replace("``", "").split())
        for key, field in model.model_fields.items()
        if field.is_required()
    }
    text = option_problem(exc, model, source, required)
    return f"market_data.{text}" if text.startswith("options.") else f"market_data.options: {text}"


@app.command("schema")
def schema(
    output: Path | None = typer.Option(None, "--output", "-o", help="Write here instead of stdout."),
) -> None:
    """Write the config's JSON schema, for editors (e.g. yaml-language-server)."""
    doc = Config.model_json_schema()
    doc["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    doc["title"] = "copytui config"
    text = json.dumps(doc, indent=2) + "\n"
    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        output.expanduser().write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"{output}: cannot be written ({exc.strerror}). Pick another --output path.")
    typer.echo(f"wrote {output}")
