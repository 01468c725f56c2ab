"""Secrets go into the keyring and nowhere else: accounts are added through the CLI with unique
random secrets, every command that reads them runs, the demo runs with those accounts, and then
every byte copytui wrote (config, journal with its -wal/-shm, logs, anything under the temporary
HOME and XDG folders) and everything it printed is searched for them."""

from __future__ import annotations

import io
import logging
import secrets
import sqlite3
from pathlib import Path

import keyring
import pytest

from copytui.config import load_config
from copytui.credentials import RedactingFilter, apply_changes, make_lookup
from tests.keyring_support import Names, run_cli, tree_bytes, unique_names

_names = pytest.fixture(unique_names, name="names")


def fresh_secret() -> str:
    return "LEAK-" + secrets.token_urlsafe(24)


def test_no_secret_in_any_file_or_output(tmp_path: Path, names: Names) -> None:
    journal = tmp_path / "journal" / "desk.sqlite3"
    config = tmp_path / "config" / "copytui" / "config.yaml"
    outputs: list[str] = []
    stored: dict[str, str] = {}
    used: list[str] = []

    def cli(*args: str, stdin: str = "", ok: bool = True) -> str:
        r = run_cli(tmp_path, *args, stdin=stdin, timeout=120)
        outputs.extend([r.stdout, r.stderr])
        assert not ok or r.returncode == 0, (args, r.stdout, r.stderr)
        return r.stdout

    lead, alpha, bravo, charlie = names("lead"), names("alpha"), names("bravo"), names("charlie")
    for name, role, rules in [
        (lead, "leader", []),
        (alpha, "follower", ["--multiplier", "2", "--max-position", "6"]),
        (bravo, "follower", ["--fixed-qty", "1", "--reverse"]),
        (charlie, "follower", ["--mode", "mirror"]),
    ]:
        stored[name] = fresh_secret()
        used.append(stored[name])
        cli("accounts", "add", name, "--broker", "paper", "--role", role, *rules, "--secret-stdin",
            stdin=stored[name] + "\n")  # fmt: skip
    stored[alpha] = fresh_secret()  # a rotated secret: the old one must not surface either
    used.append(stored[alpha])
    cli("accounts", "set", alpha, "--new-secret", "--secret-stdin", stdin=stored[alpha] + "\n")
    cli("accounts", "set", bravo, "--multiplier", "3", "--pause")
    assert "yes" in cli("accounts", "list")
    assert "auth:      ok" in cli("accounts", "test", alpha)
    cli("config", "check")
    cli("doctor")
    # bad input with a secret on stdin: refused, and the secret is not echoed back
    used.append(fresh_secret())
    cli("accounts", "add", alpha, "--broker", "paper", "--role", "follower", "--secret-stdin",
        stdin=used[-1] + "\n", ok=False)  # fmt: skip

    out = cli("run", "--demo", "--headless", "--duration", "3", "--config", str(config), "--journal", str(journal))
    assert f'copying leader "{lead}" (paper) to 3 followers' in out and "signals " in out
    with sqlite3.connect(journal) as db:  # the run really journaled something
        assert db.execute("select count(*) from sqlite_master").fetchone()[0] > 0

    for name, value in stored.items():  # the secrets were really there, in the keyring
        assert keyring.get_password("copytui", name) == value
    written = tree_bytes(tmp_path)
    assert any(p.startswith("journal/desk.sqlite3") for p in written) and "config/copytui/config.yaml" in written
    assert load_config(config).leader.name == lead
    for value in used:
        for path, content in written.items():
            assert value.encode() not in content, f"a secret is in {path}"
        for text in outputs:
            assert value not in text, "a secret was printed"


def test_log_records_are_redacted(names: Names) -> None:
    """The filter main() installs: a secret read through the adapters' lookup is masked in the
    message, its arguments and a logged traceback."""
    name = names("logger")
    value = fresh_secret()
    undo = apply_changes({name: value})
    assert callable(undo)

    class Acct:
        broker = "paper"

    acct = Acct()
    acct.name = name  # type: ignore[attr-defined]
    lookup = make_lookup([acct])
    got = lookup(name)
    assert got == value and lookup(f"{name}:password") == value and lookup("someone-else") is None

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    log = logging.getLogger(f"copytui.test.{name}")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("login with %s failed", got)
        log.warning("request body {'password': 'short1', \"apiKey\": \"k-77\"} token=abc123")
        try:
            raise RuntimeError(f"broker said: bad password {got}")
        except RuntimeError:
            log.exception("connect failed")
    finally:
        log.removeHandler(handler)
    text = stream.getvalue()
    assert value not in text and "short1" not in text and "k-77" not in text and "abc123" not in text
    assert text.count("***") >= 5 and "RuntimeError: broker said: bad password ***" in text
