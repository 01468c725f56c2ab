"""What a trader sees from `copytui config check` and from a config that `run` cannot load: the path
as an argument, honest wording for a missing file, a non-UTF-8 file, duplicate names and accounts at
their lines, errors without pydantic internals, and every problem at once (issue 24)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from copytui.cli import app
from copytui.commands.config_cmd import first_line
from copytui.config import AccountConfig, Config, ConfigError, FollowerConfig, load_config, parse_config
from copytui.demo import demo_config

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "config.example.yaml"
INTERNALS = ("instance of", "pattern", "Input should", "\\d", "^", "followers.0", "SymbolMapping", "dictionary")


def cli(tmp_path: Path, *args: str) -> Any:
    env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg-config"), "XDG_DATA_HOME": str(tmp_path / "xdg-data")}
    return CliRunner().invoke(app, list(args), env={**env, "COLUMNS": "200"})


def problems_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as err:
        parse_config(text, "cfg.yaml")
    return str(err.value).splitlines()


# ------------------------------------------------------------------------- 1. the path as an argument
def test_config_check_takes_the_path_as_an_argument(tmp_path: Path) -> None:
    for args in (("config", "check", str(EXAMPLE)), ("config", "check", "--config", str(EXAMPLE))):
        r = cli(tmp_path, *args)
        assert r.exit_code == 0, r.output
        assert r.stdout == f"ok: {EXAMPLE}: leader lead (paper), 3 followers; market data dx (dxfeed)\n"
    r = cli(tmp_path, "config", "check", str(EXAMPLE), "--config", str(EXAMPLE))
    assert r.exit_code == 2
    assert r.stderr.startswith("error: two config files given (") and "pass one, as FILE or with --config" in r.stderr
    assert "unexpected extra argument" not in r.output


# ------------------------------------------------------------------------- 2. a missing file
def test_missing_config_file_does_not_tell_to_pass_config(tmp_path: Path) -> None:
    missing = tmp_path / "nosuch.yaml"
    want = (
        f"error: {missing}: no such config file. Check the path, or start from config.example.yaml "
        f"(`cp config.example.yaml {missing}`).\n"
    )
    r = cli(tmp_path, "run", "--headless", "--config", str(missing))
    assert r.exit_code == 2 and r.stderr == want
    r = cli(tmp_path, "config", "check", str(missing))
    assert r.exit_code == 2 and r.stderr == want + f"1 problem in {missing}\n"
    assert "pass --config" not in r.output


# ------------------------------------------------------------------------- 3. bytes that are not UTF-8
def test_non_utf8_config_names_file_line_byte_and_fix(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("leader:\n  name: lead\nfollowers:\n  - name: caf\xe9\n".encode("latin-1"))
    want = f"error: {path}:4: byte 0xE9 at column 14 (byte offset 45) is not UTF-8 text. Save the file as UTF-8"
    for args in (("config", "check", str(path)), ("run", "--headless", "--config", str(path))):
        r = cli(tmp_path, *args)
        assert r.exit_code == 2, r.output
        assert r.stderr.startswith(want) and "Traceback" not in r.output and "UnicodeDecodeError" not in r.output
    with pytest.raises(ConfigError, match=r":4: byte 0xE9 at column 14"):
        load_config(path)


# ------------------------------------------------------------------------- 4. a name used twice
def test_duplicate_name_is_reported_at_the_repeated_entry() -> None:
    text = "leader:\n  name: lead\nfollowers:\n  - name: alpha\n  - name: bravo\n  - broker: paper\n    name: alpha\n"
    assert problems_of(text) == [
        "cfg.yaml:7: followers[3].name: 'alpha' is already used by followers[1] (line 4); "
        "every account needs its own name."
    ]
    assert problems_of("leader:\n  name: lead\nfollowers:\n  - name: lead\n") == [
        "cfg.yaml:4: followers[1].name: 'lead' is already used by leader (line 2); every account needs its own name."
    ]


# ------------------------------------------------------------------------- 5. one broker account twice
FEEDBACK = "the leader's own account (lead, line {}): its copies would come back as leader orders"
DOUBLE = "two followers on one account would double every order"


@pytest.mark.parametrize(
    ("followers", "line", "key", "says"),
    [
        # a follower on the leader's account: the leader's account_id, or the leader's name as account_id
        ("  - {name: alpha, account_id: lead-001}\n", 5, "followers[1].account_id", FEEDBACK.format(3)),
        ("  - {name: alpha, account_id: LEAD-001}\n", 5, "followers[1].account_id", FEEDBACK.format(3)),
        # two followers on one paper account, by account_id or by a name that is another's account_id
        ("  - {name: a, account_id: x}\n  - {name: b, account_id: x}\n", 6, "followers[2].account_id", DOUBLE),
        ("  - {name: a}\n  - {name: b, account_id: a}\n", 6, "followers[2].account_id", DOUBLE),
        (
            "  - {name: a, broker: tradovate, username: u, account_id: '123'}\n"
            "  - {name: b, broker: tradovate, username: U, account_id: '123'}\n",
            6,
            "followers[2].account_id",
            "b is on tradovate account '123', like followers[1] (a, line 5): " + DOUBLE,
        ),
    ],
)
def test_same_broker_account_twice_is_refused(followers: str, line: int, key: str, says: str) -> None:
    text = "leader:\n  name: lead\n  account_id: lead-001\nfollowers:\n" + followers
    [problem] = problems_of(text)
    assert problem.startswith(f"cfg.yaml:{line}: {key}: ") and says in problem, problem


@pytest.mark.parametrize(
    "followers",
    [
        "  - {name: a}\n  - {name: b}\n  - {name: lead-002}\n",  # paper: one account per name
        "  - {name: a, account_id: x}\n  - {name: b, account_id: y}\n",
        "  - {name: a, broker: tradovate, account_id: '1', username: u}\n"
        "  - {name: b, broker: tradovate, account_id: '1', username: v}\n"  # another login
        "  - {name: c, broker: tradovate, account_id: '1', username: u, environment: live}\n"  # another environment
        "  - {name: d, broker: projectx, account_id: '1', username: u}\n",  # another broker
    ],
)
def test_distinct_accounts_pass(followers: str) -> None:
    parse_config("leader:\n  name: lead\n  account_id: lead-001\nfollowers:\n" + followers)
    assert len(demo_config().followers) >= 5


def test_same_account_is_refused_when_built_in_code_too() -> None:
    with pytest.raises(ValidationError, match=r"followers\[1\]\.account_id: alpha is on paper account 'lead'"):
        Config(leader=AccountConfig(name="lead"), followers=[FollowerConfig(name="alpha", account_id="lead")])
    with pytest.raises(ValidationError, match=r"followers\[2\]\.name: 'a' is already used by followers\[1\]"):
        Config(leader=AccountConfig(name="lead"), followers=[FollowerConfig(name="a"), FollowerConfig(name="a")])


# ------------------------------------------------------------------------- 6. a trader's words
BASE = "leader:\n  name: lead\nfollowers:\n  - name: alpha\n"


@pytest.mark.parametrize(
    ("extra", "key", "says"),
    [
        (
            "    risk: {trading_hours: '9:30-16'}\n",
            "risk.trading_hours",
            "write HH:MM-HH:MM (24-hour, local time), e.g. 09:30-16:00.",
        ),
        ("    symbol_map: {NQ: MNQ}\n", "symbol_map.NQ", "must be a mapping like `NQ: {symbol: MNQ, factor: 10}`."),
        ("    multiplier: 0\n", "multiplier", "must be more than 0."),
        ("    multiplier: 5000\n", "multiplier", "must be 1000 or less."),
        ("    min_order_qty: 0\n", "min_order_qty", "must be 1 or more."),
        ("    rounding: half\n", "rounding", "use one of 'nearest', 'down' or 'up'."),
        ("    max_position: lots\n", "max_position", "must be a whole number."),
        ("    fixed_qty: 1.5\n", "fixed_qty", "must be a whole number (no decimals)."),
        ("    multiplier: twice\n", "multiplier", "must be a number."),
        ("    reverse: maybe\n", "reverse", "must be true or false."),
        ("    account_id: 465\n", "account_id", 'must be text; quote it when it looks like a number, e.g. "465".'),
        ("    mirror_unfiled: cancel\n", "mirror_unfiled", "unknown key; did you mean mirror_unfilled?"),
        (
            "    colour: red\n",
            "colour",
            "unknown key; remove it, or see config.example.yaml for the keys allowed here.",
        ),
        ("    symbol_map: {NQ: {factor: 10}}\n", "symbol_map.NQ.symbol", "is missing; add it (e.g. `symbol: MNQ`)."),
        ("    options: {tags: [a, b]}\n", "options.tags", "must be a plain value: text, a number, or true/false."),
    ],
)
def test_errors_are_said_in_a_traders_words(extra: str, key: str, says: str) -> None:
    assert problems_of(BASE + extra) == [f"cfg.yaml:5: followers[1].{key}: {says}"]


def test_no_internals_in_any_message() -> None:
    text = (
        "leader: {name: 'has space', port: x}\nfollowers:\n  - 3\n  - name: b\n    risk: {trading_hours: '9-5'}\n"
        "    symbol_map: {NQ: 1}\n    environment: prod\n"
    )
    for problem in problems_of(text):
        assert not [word for word in INTERNALS if word in problem], problem
    assert problems_of(text)[0] == (
        "cfg.yaml:1: leader.name: use 1 to 40 letters, digits, '.', '_' or '-' (no spaces), e.g. alpha-1."
    )


# ------------------------------------------------------------------------- 7. every problem at once
ALL_WRONG = """\
leader:
  name: lead
  account_id: L1
followers:
  - name: alpha
    multiplier: 0
    risk: {trading_hours: "9-17"}
  - name: alpha
  - name: beta
    account_id: l1
    options: {api_key: hunter2-is-here}
leadr: {}
"""


def test_config_check_reports_every_problem_by_line_with_a_count(tmp_path: Path) -> None:
    path = tmp_path / "all-wrong.yaml"
    path.write_text(ALL_WRONG)
    r = cli(tmp_path, "config", "check", str(path))
    assert r.exit_code == 2 and r.stdout == ""
    lines = r.stderr.splitlines()
    assert [line.split(": ", 3)[2] for line in lines[:-1]] == [
        "followers[1].multiplier",
        "followers[1].risk.trading_hours",
        "followers[2].name",
        "followers[3].account_id",
        "followers[3].options.api_key",
        "leadr",
    ]
    assert [int(line.split(": ")[1].rsplit(":", 1)[1]) for line in lines[:-1]] == [6, 7, 8, 10, 11, 12]
    assert all(line.startswith(f"error: {path}:") for line in lines[:-1])
    assert "feedback loop" in lines[3] and "accounts add" in lines[4] and "did you mean leader?" in lines[5]
    assert lines[-1] == f"6 problems in {path}"
    assert "hunter2" not in r.output


def test_first_line_of_a_config_error_stands_on_its_own() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(ALL_WRONG, "cfg.yaml")
    assert first_line(err.value) == (
        "cfg.yaml:6: followers[1].multiplier: must be more than 0. (and 5 more; run `copytui config check`)"
    )
