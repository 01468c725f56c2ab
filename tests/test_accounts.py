"""`copytui accounts` and `copytui config` against the real Secret Service (run via tests/run.sh).
The commands run in-process through typer's CliRunner (the real app, nothing replaced) for speed;
the subprocess paths are in test_doctor.py and test_secrets_never_leak.py."""

from __future__ import annotations

import json
import secrets
import stat
from pathlib import Path
from typing import Any

import keyring
import pytest
import yaml
from pydantic import BaseModel
from typer.testing import CliRunner

from copytui.cli import app
from copytui.config import Config, load_config
from tests.keyring_support import Names, keyring_state, tree_bytes, unique_names

ROOT = Path(__file__).resolve().parents[1]
_names = pytest.fixture(unique_names, name="names")


class Cli:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.config = root / "config" / "copytui" / "config.yaml"
        self.env = {"XDG_CONFIG_HOME": str(root / "config"), "XDG_DATA_HOME": str(root / "data"), "COLUMNS": "200"}

    def __call__(self, *args: str, stdin: str | None = None) -> Any:
        return CliRunner().invoke(app, list(args), input=stdin, env=self.env)

    def ok(self, *args: str, stdin: str | None = None) -> Any:
        r = self(*args, stdin=stdin)
        assert r.exit_code == 0, (r.stdout, r.stderr)
        return r

    def data(self) -> dict[str, Any]:
        return yaml.safe_load(self.config.read_text())


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path)


def secret() -> str:
    return "S-" + secrets.token_urlsafe(18)


def setup_desk(cli: Cli, names: Names) -> dict[str, str]:
    """A paper leader and follower with secrets, and a follower without one."""
    lead, alpha, bravo = names("lead"), names("alpha"), names("bravo")
    pw = {lead: secret(), alpha: secret()}
    cli.ok("accounts", "add", lead, "--broker", "paper", "--role", "leader", "--secret-stdin", stdin=pw[lead] + "\n")
    cli.ok("accounts", "add", alpha, "--broker", "paper", "--role", "follower", "--multiplier", "2",
           "--max-position", "4", "--map", "NQ=MNQ:10", "--secret-stdin", stdin=pw[alpha] + "\n")  # fmt: skip
    cli.ok("accounts", "add", bravo, "--broker", "paper", "--role", "follower", "--fixed-qty", "1", "--reverse",
           "--secret-stdin", stdin="")  # fmt: skip
    return pw


def test_add_stores_secrets_in_keyring_and_the_rest_in_a_0600_config(cli: Cli, names: Names) -> None:
    pw = setup_desk(cli, names)
    lead, alpha, bravo = names.made
    assert keyring.get_password("copytui", lead) == pw[lead]
    assert keyring.get_password("copytui", alpha) == pw[alpha]
    assert keyring.get_password("copytui", bravo) is None

    assert stat.S_IMODE(cli.config.stat().st_mode) == 0o600
    text = cli.config.read_text()
    assert all(p not in text for p in pw.values())
    cfg = load_config(cli.config)
    assert cfg.leader.name == lead and [f.name for f in cfg.followers] == [alpha, bravo]
    a, b = cfg.followers
    assert (a.multiplier, a.max_position, a.symbol_map["NQ"].symbol, a.symbol_map["NQ"].factor) == (2, 4, "MNQ", 10)
    assert (b.fixed_qty, b.reverse) == (1, True)
    assert cli.data()["leader"] == {"name": lead, "broker": "paper"}  # only what was given


def test_list_shows_whether_a_secret_is_present_never_the_secret(cli: Cli, names: Names) -> None:
    pw = setup_desk(cli, names)
    lead, alpha, bravo = names.made
    out = cli.ok("accounts", "list").stdout
    rows = {line.split("│")[1].strip(): line for line in out.splitlines() if line.count("│") > 5}
    assert set(rows) == {lead, alpha, bravo}
    assert "yes" in rows[alpha].split("│")[-2] and "leader" in rows[lead]
    assert "optional, unset" in rows[bravo] and "fixed 1" in rows[bravo] and "reverse" in rows[bravo]
    assert "x2" in rows[alpha] and "NQ->MNQ x10" in rows[alpha] and "max 4" in rows[alpha]
    assert all(p not in out for p in pw.values())


def test_interactive_add_prompts_with_hidden_input(cli: Cli, names: Names) -> None:
    lead = names("lead")
    pw = secret()
    r = cli.ok("accounts", "add", lead, "--broker", "paper", "--role", "leader", stdin=pw + "\n")
    assert "password" in r.stdout  # the prompt was shown...
    assert pw not in r.stdout + r.stderr  # ...and the answer not echoed
    assert keyring.get_password("copytui", lead) == pw


def test_set_changes_rules_and_pause(cli: Cli, names: Names) -> None:
    setup_desk(cli, names)
    _, alpha, _ = names.made
    cli.ok("accounts", "set", alpha, "--multiplier", "3", "--pause", "--max-position", "0", "--unmap", "NQ",
           "--rounding", "down")  # fmt: skip
    f = load_config(cli.config).followers[0]
    assert (f.multiplier, f.enabled, f.max_position, f.symbol_map, f.rounding) == (3, False, None, {}, "down")
    assert "PAUSED" in cli.ok("accounts", "list").stdout
    cli.ok("accounts", "set", alpha, "--resume")
    assert load_config(cli.config).followers[0].enabled is True
    assert stat.S_IMODE(cli.config.stat().st_mode) == 0o600


def test_set_new_secret_replaces_it(cli: Cli, names: Names) -> None:
    setup_desk(cli, names)
    _, alpha, _ = names.made
    before = cli.config.read_bytes()
    new = secret()
    cli.ok("accounts", "set", alpha, "--new-secret", "--secret-stdin", stdin=new + "\n")
    assert keyring.get_password("copytui", alpha) == new
    assert cli.config.read_bytes() == before


def test_remove_deletes_config_entry_and_keyring_entry(cli: Cli, names: Names) -> None:
    setup_desk(cli, names)
    lead, alpha, bravo = names.made
    cli.ok("accounts", "remove", alpha)
    assert keyring.get_password("copytui", alpha) is None
    assert [f.name for f in load_config(cli.config).followers] == [bravo]
    cli.ok("accounts", "remove", bravo)
    cli.ok("accounts", "remove", lead)  # the last account: the file is moved aside, not left invalid
    assert not cli.config.exists() and cli.config.with_name("config.yaml.bak").exists()
    assert keyring.get_password("copytui", lead) is None


def test_a_second_leader_turns_the_config_into_a_list_of_leaders(cli: Cli, names: Names) -> None:
    setup_desk(cli, names)
    lead, alpha, bravo = names.made
    second = names("second")
    r = cli.ok("accounts", "add", second, "--broker", "paper", "--role", "leader", "--secret-stdin",
               stdin=secret() + "\n")  # fmt: skip
    assert f"added leader {second}" in r.stdout
    data = cli.data()
    assert "leader" not in data and [a["name"] for a in data["leaders"]] == [lead, second]
    cfg = load_config(cli.config)
    assert [a.name for a in cfg.all_leaders] == [lead, second]
    assert cfg.follows(cfg.followers[0]) == [lead, second]  # no follows: every leader
    listed = cli.ok("accounts", "list").stdout
    assert listed.count("leader") >= 2 and second in listed
    # a follower that names the second leader keeps it from being removed, with the fix
    cli.ok("accounts", "set", bravo, "--follows", second)
    assert load_config(cli.config).follows(load_config(cli.config).followers[1]) == [second]
    r = cli("accounts", "remove", second)
    assert r.exit_code != 0 and f"{bravo} follow(s) {second}" in r.stderr
    r = cli("accounts", "set", bravo, "--follows", "nobody")
    assert r.exit_code != 0 and "'nobody' is not a leader" in r.stderr
    cli.ok("accounts", "set", bravo, "--follows", lead)
    cli.ok("accounts", "remove", second)
    assert keyring.get_password("copytui", second) is None
    assert [a.name for a in load_config(cli.config).all_leaders] == [lead]


def test_test_connects_and_reports_auth_and_positions(cli: Cli, names: Names) -> None:
    setup_desk(cli, names)
    r = cli.ok("accounts", "test", names.made[1])
    assert "secret:    in the keyring" in r.stdout
    assert "auth:      ok" in r.stdout and "positions: flat" in r.stdout


def test_comments_of_a_hand_written_config_are_kept_in_a_backup(cli: Cli, names: Names) -> None:
    lead = names("lead")
    cli.config.parent.mkdir(parents=True)
    original = f"# my desk\nleader:\n  name: {lead}  # the boss\n  broker: paper\n"
    cli.config.write_text(original)
    alpha = names("alpha")
    r = cli.ok("accounts", "add", alpha, "--broker", "paper", "--role", "follower", "--secret-stdin", stdin="")
    bak = cli.config.with_name("config.yaml.bak")
    assert "config.yaml.bak" in r.stdout and bak.read_text() == original
    assert stat.S_IMODE(bak.stat().st_mode) == 0o600


# ------------------------------------------------------------------------- bad input changes nothing
BAD = [
    ("unknown broker", ["accounts", "add", "{new}", "--broker", "nosuchbroker", "--role", "follower"],
     "unknown broker 'nosuchbroker'; installed adapters: "),
    ("duplicate name", ["accounts", "add", "{alpha}", "--broker", "paper", "--role", "follower", "--secret-stdin"],
     "already exists"),
    ("bad role", ["accounts", "add", "{new}", "--broker", "paper", "--role", "boss"], "--role"),
    ("bad rule", ["accounts", "add", "{new}", "--broker", "paper", "--role", "follower", "--multiplier", "0",
                  "--secret-stdin"], "--multiplier"),
    ("bad mode", ["accounts", "add", "{new}", "--broker", "paper", "--role", "follower", "--mode", "copy",
                  "--secret-stdin"], "--mode"),
    ("bad map", ["accounts", "add", "{new}", "--broker", "paper", "--role", "follower", "--map", "NQ",
                 "--secret-stdin"], "--map"),
    ("bad name", ["accounts", "add", "bad name!", "--broker", "paper", "--role", "follower", "--secret-stdin"],
     "NAME"),
    ("rule on leader", ["accounts", "set", "{lead}", "--multiplier", "2"], "followers only"),
    ("missing account: remove", ["accounts", "remove", "{new}"], "no account"),
    ("missing account: set", ["accounts", "set", "{new}", "--pause"], "no account"),
    ("missing account: test", ["accounts", "test", "{new}"], "no account"),
    ("bad set value", ["accounts", "set", "{alpha}", "--rounding", "sideways"], "--rounding"),
    ("nothing to set", ["accounts", "set", "{alpha}"], "nothing to change"),
    ("leader with followers", ["accounts", "remove", "{lead}"], "is the leader"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "argv", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_one_line_nonzero_and_changes_nothing(
    cli: Cli, names: Names, case: str, argv: list[str], message: str
) -> None:
    setup_desk(cli, names)
    lead, alpha, _ = names.made
    new = names("new")
    files, keys = tree_bytes(cli.root), keyring_state(names)
    args = [a.format(new=new, alpha=alpha, lead=lead) for a in argv]
    r = cli(*args, stdin=secret() + "\n")
    assert r.exit_code != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], r.stderr
    assert tree_bytes(cli.root) == files
    assert keyring_state(names) == keys


MALFORMED = {
    "yaml": "leader: [unclosed\n",
    "unknown key": "leader:\n  name: x\n  brokr: paper\n",
    "secret in config": "leader:\n  name: x\n  password: hunter2-is-here\n",
}


@pytest.mark.parametrize("kind", list(MALFORMED))
@pytest.mark.parametrize(
    "argv",
    [["accounts", "list"], ["accounts", "add", "{new}", "--broker", "paper", "--role", "follower", "--secret-stdin"],
     ["accounts", "remove", "x"], ["accounts", "set", "x", "--pause"], ["accounts", "test", "x"]],
    ids=["list", "add", "remove", "set", "test"],
)  # fmt: skip
def test_malformed_config_is_reported_and_left_alone(cli: Cli, names: Names, kind: str, argv: list[str]) -> None:
    cli.config.parent.mkdir(parents=True)
    cli.config.write_text(MALFORMED[kind])
    new = names("new")
    files, keys = tree_bytes(cli.root), keyring_state(names)
    r = cli(*[a.format(new=new) for a in argv], stdin=secret() + "\n")
    assert r.exit_code != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {cli.config}:"), r.stderr
    assert "hunter2-is-here" not in r.stderr + r.stdout
    assert tree_bytes(cli.root) == files and keyring_state(names) == keys


def test_follower_before_leader_is_refused(cli: Cli, names: Names) -> None:
    r = cli("accounts", "add", names("alpha"), "--broker", "paper", "--role", "follower", "--secret-stdin", stdin="")
    assert r.exit_code != 0 and "no leader" in r.stderr and not cli.config.exists()
    assert keyring_state(names) == dict.fromkeys(names.entries())


# ------------------------------------------------------------------------- config check / schema / example
def test_config_check(cli: Cli, tmp_path: Path) -> None:
    good = cli.ok("config", "check", "--config", str(ROOT / "config.example.yaml"))
    assert good.stdout.startswith("ok: ")
    bad = tmp_path / "bad.yaml"
    bad.write_text("leader:\n  name: x\nfollowers:\n  - name: y\n    multipler: 2\n")
    r = cli("config", "check", "--config", str(bad))
    assert r.exit_code == 2
    assert f"error: {bad}:5: followers[1].multipler: unknown key; did you mean multiplier?" in r.stderr
    bad.write_text("leader:\n  name: x\n  options:\n    api_key: abc\n")
    r = cli("config", "check", "--config", str(bad))
    assert r.exit_code == 2 and f"{bad}:4: leader.options.api_key" in r.stderr and "accounts add" in r.stderr
    r = cli("config", "check", "--config", str(tmp_path / "nope.yaml"))
    assert r.exit_code == 2 and "no such config file" in r.stderr


def test_config_schema(cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "schema.json"
    cli.ok("config", "schema", "--output", str(out))
    doc = json.loads(out.read_text())
    assert doc["additionalProperties"] is False and {"leader", "followers", "reconcile"} <= set(doc["properties"])
    assert "multiplier" in doc["$defs"]["FollowerConfig"]["properties"]
    assert json.loads(cli.ok("config", "schema").stdout) == doc


def _fields(model: type[BaseModel], prefix: str = "") -> set[str]:
    out = set()
    for name, info in model.model_fields.items():
        out.add(prefix + name)
        for arg in [info.annotation, *getattr(info.annotation, "__args__", ())]:
            inner = getattr(arg, "__args__", (arg,))[-1] if getattr(arg, "__origin__", None) in (dict, list) else arg
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                out |= _fields(inner, f"{prefix}{name}.")
    return out


def _keys(node: Any, prefix: str = "") -> set[str]:
    out = set()
    if isinstance(node, dict):
        for k, v in node.items():
            out.add(prefix + k)
            if k == "symbol_map":  # its keys are leader symbols, not fields
                for mapping in v.values():
                    out |= _keys(mapping, f"{prefix}{k}.")
            else:
                out |= _keys(v, f"{prefix}{k}.")
    elif isinstance(node, list):
        for v in node:
            out |= _keys(v, prefix)
    return out


def test_example_config_sets_every_key_and_runs_on_paper() -> None:
    path = ROOT / "config.example.yaml"
    cfg = load_config(path)
    assert {a.broker for a in [cfg.leader, *cfg.followers]} == {"paper"}
    present = _keys(yaml.safe_load(path.read_text()))
    # `leaders:` is the other way to write `leader:` (never both in one file): its keys are the
    # leader's, and the example shows it in a comment above `leader:`
    assert "leaders:" in path.read_text()
    missing = {k for k in _fields(Config) - present if k.split(".")[0] != "leaders"}
    assert not missing, f"config.example.yaml does not document: {sorted(missing)}"
