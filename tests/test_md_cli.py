"""The market-data source in `copytui accounts`, `config check` and `doctor`, against the real Secret
Service of tests/run.sh: its ``market_data:`` section in the config, its secrets in the keyring where
the brokers' lookup (credentials.make_lookup, what the runtime reads them with) finds them, every
bad input refused in one line with nothing changed, and no secret ever in what is printed."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from copytui.config import load_config
from copytui.credentials import make_lookup
from tests.keyring_support import Names, keyring_state, run_cli, tree_bytes, unique_names
from tests.test_accounts import Cli, secret

_names = pytest.fixture(unique_names, name="names")


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path)


URL = "ws://127.0.0.1:9/dxlink-ws"
SOURCES = {  # source -> (--option flags, its secret fields in the order they are asked for)
    "dxfeed": (["--option", f"url={URL}", "--option", "stale_after_ms=2000"], ["token"]),
    "tradovate": (["--option", "username=jane", "--option", "environment=demo"], ["password", "sec"]),
}


def leader(cli: Cli, names: Names) -> str:
    lead = names("lead")
    cli.ok("accounts", "add", lead, "--broker", "paper", "--role", "leader", "--secret-stdin", stdin="\n")
    return lead


def runtime_lookup(name: str, source: str) -> Any:
    """The runtime's read of a source's secret: ``secret_lookup(f"{name}:{field}")`` through the
    brokers' lookup, the source standing as an account of a broker named like it."""
    return make_lookup([SimpleNamespace(name=name, broker=source)])


@pytest.mark.parametrize("source", list(SOURCES))
def test_add_list_set_remove_a_market_data_source(cli: Cli, names: Names, source: str) -> None:
    leader(cli, names)
    md = names("md")
    flags, fields = SOURCES[source]
    values = {field: secret() for field in fields}
    added = cli.ok("accounts", "add", md, "--market-data", source, *flags, "--symbol", "es", "--symbol", "NQ",
                   "--secret-stdin", stdin="".join(v + "\n" for v in values.values()))  # fmt: skip
    assert (
        f"added market data {md} ({source}) to {cli.config}; {len(fields)} secret(s) in the OS keyring" in added.stdout
    )

    section = cli.data()["market_data"]
    assert section["name"] == md and section["source"] == source and section["symbols"] == ["ES", "NQ"]
    assert load_config(cli.config).market_data.options == section["options"]  # type: ignore[union-attr]
    lookup = runtime_lookup(md, source)
    assert {field: lookup(f"{md}:{field}") for field in fields} == values
    listed = cli.ok("accounts", "list").stdout
    row = next(line for line in listed.splitlines() if line.startswith(f"│ {md} "))
    assert [c.strip() for c in row.split("│")[2:4]] == ["market data", source] and row.split("│")[-2].strip() == "yes"

    new = {field: secret() for field in fields}
    replaced = cli.ok(
        "accounts", "set", md, "--new-secret", "--secret-stdin", stdin="".join(v + "\n" for v in new.values())
    )
    assert {field: lookup(f"{md}:{field}") for field in fields} == new

    removed = cli.ok("accounts", "remove", md)
    assert f"removed market data {md} from {cli.config}" in removed.stdout
    assert "market_data" not in cli.data() and all(lookup(f"{md}:{field}") is None for field in fields)
    assert md not in cli.ok("accounts", "list").stdout
    shown = added.stdout + added.stderr + listed + replaced.stdout + cli.config.read_text()
    assert not [v for v in [*values.values(), *new.values()] if v in shown]


BAD = [
    ("unknown source", ["--market-data", "bloomberg"],
     "error: unknown market-data source 'bloomberg'; installed sources: dxfeed, tradovate."),
    ("unknown option", ["--market-data", "dxfeed", "--option", f"url={URL}", "--option", "colour=red"],
     "error: market_data.options.colour: not a dxfeed option; known: aggregation_period_s, "),
    ("missing option", ["--market-data", "dxfeed"],
     "error: market_data.options.url is required: The dxLink WebSocket, wss://"),
    ("bad value", ["--market-data", "dxfeed", "--option", f"url={URL}", "--option", "stale_after_ms=-5"],
     "error: market_data.options.stale_after_ms: must be a positive number, got -5"),
    ("bad url", ["--market-data", "dxfeed", "--option", "url=http://x"],
     "error: market_data.options.url: 'http://x' is not a WebSocket URL"),
    ("not NAME=VALUE", ["--market-data", "dxfeed", "--option", "url"], "error: --option 'url': write NAME=VALUE"),
    ("secret as option", ["--market-data", "dxfeed", "--option", f"url={URL}", "--option", "token=LEAKED-TOKEN-1"],
     "error: --option token: secrets do not belong in the config file; `copytui accounts add` asks for"),
    ("bad symbol", ["--market-data", "dxfeed", "--option", f"url={URL}", "--symbol", "XX"],
     "error: --symbol: unknown symbol 'XX'; known: "),
    ("broker flags", ["--market-data", "dxfeed", "--role", "follower", "--multiplier", "2"],
     "error: --role, --multiplier: options of broker accounts; a market-data source takes --option NAME=VALUE"),
    ("option on an account", ["--broker", "paper", "--role", "follower", "--option", "x=1"],
     "error: --option and --symbol go with --market-data SOURCE"),
    ("no broker", ["--role", "follower"], "error: --broker is required for an account (or --market-data SOURCE"),
    ("account's name", ["--market-data", "dxfeed", "--option", f"url={URL}"],
     "error: market_data.name: '{lead}' is also an account's name"),
    ("market data's name", ["--broker", "paper", "--role", "follower"],
     "error: '{md}' is the market data's name in "),
    ("second source", ["--market-data", "tradovate", "--option", "username=jane"], "already has market data '{md}'"),
    ("no token on stdin", ["--market-data", "dxfeed", "--option", f"url={URL}"],
     "error: dxfeed market data {new} needs its token (secret 1 of 1): give 1 line(s) on stdin"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "argv", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_market_data_input_is_one_line_and_changes_nothing(
    cli: Cli, names: Names, case: str, argv: list[str], message: str
) -> None:
    lead = leader(cli, names)
    md = names("md")
    if case in ("second source", "market data's name"):
        cli.ok("accounts", "add", md, "--market-data", "dxfeed", "--option", f"url={URL}", "--secret-stdin",
               stdin=secret() + "\n")  # fmt: skip
    new = {"account's name": lead, "market data's name": md}.get(case) or names("new")
    files, keys = tree_bytes(cli.root), keyring_state(names)
    r = cli("accounts", "add", new, *argv, "--secret-stdin", stdin="" if case == "no token on stdin" else "tok-x1\n")
    assert r.exit_code != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and message.format(lead=lead, md=md, new=new) in lines[0], r.stderr
    assert "LEAKED-TOKEN-1" not in r.stdout + r.stderr
    assert tree_bytes(cli.root) == files and keyring_state(names) == keys


def test_config_check_reads_market_data_options_against_its_source(cli: Cli, names: Names) -> None:
    lead = leader(cli, names)
    md = names("md")
    text = cli.config.read_text()
    cli.config.write_text(text + f"market_data:\n  name: {md}\n  source: dxfeed\n  options: {{url: '{URL}'}}\n")
    assert cli.ok("config", "check").stdout.strip().endswith(f"0 followers; market data {md} (dxfeed)")

    cli.config.write_text(text + f"market_data:\n  name: {lead}\n  source: dxfeed\n"
                                 "  options: {url: 'wss://x/', stale_after_ms: soon, keepalive: 5}\n")  # fmt: skip
    r = cli("config", "check")
    assert r.exit_code == 2
    assert r.stderr.splitlines() == [
        f"error: {cli.config}: market_data.name: '{lead}' is also an account's name; their secrets would share "
        "keyring entries, so give the market data a name of its own",
        f"error: {cli.config}: market_data.options.keepalive: not a dxfeed option; known: aggregation_period_s, "
        "connect_timeout_s, keepalive_timeout_s, reconnect_delay_s, reconnect_max_s, stale_after_ms, symbols, url",
        "2 problem(s) in the accounts' and the market data's options",
    ]
    cli.config.write_text(text + f"market_data:\n  name: {md}\n  source: dxfeed\n  options: {{url: 'wss://x/', "
                                 "stale_after_ms: soon}\n")  # fmt: skip
    r = cli("config", "check")
    assert "market_data.options.stale_after_ms: must be a positive number, got 'soon'" in r.stderr
    cli.config.write_text(text + f"market_data:\n  name: {md}\n  source: reuters\n")
    r = cli("config", "check")
    assert "market_data.source: unknown market-data source 'reuters'; installed sources: dxfeed, tradovate" in r.stderr


def test_doctor_lists_the_sources_and_checks_the_configured_one(cli: Cli, names: Names) -> None:
    leader(cli, names)
    md = names("md")
    text = cli.config.read_text()
    cli.config.write_text(text + f"market_data:\n  name: {md}\n  source: dxfeed\n  options: {{url: '{URL}'}}\n")
    r = run_cli(cli.root, "doctor")
    assert r.returncode == 1, r.stdout
    assert "[ ok ] market-data sources: installed: dxfeed, tradovate" in r.stdout
    assert f"[ ok ] market data {md}: source dxfeed, options valid" in r.stdout
    assert (
        f"[FAIL] secret of {md}: missing in the keyring: token\n       fix: copytui accounts set {md} --new-secret"
        in r.stdout
    )

    token = secret()
    cli.ok("accounts", "set", md, "--new-secret", "--secret-stdin", stdin=token + "\n")
    r = run_cli(cli.root, "doctor")
    assert r.returncode == 0 and f"[ ok ] secret of {md}: token present" in r.stdout, r.stdout
    assert token not in r.stdout + r.stderr

    cli.config.write_text(text + f"market_data:\n  name: {md}\n  source: dxfeed\n  options: {{url: 'ftp://x'}}\n")
    r = run_cli(cli.root, "doctor")
    assert r.returncode == 1
    assert f"[FAIL] market data {md}: market_data.options.url: 'ftp://x' is not a WebSocket URL" in r.stdout
    assert f"fix: edit the market_data: section of {cli.config}, then run `copytui config check`" in r.stdout
    assert token not in r.stdout + r.stderr
    assert runtime_lookup(md, "dxfeed")(f"{md}:token") == token  # untouched by the failed checks
