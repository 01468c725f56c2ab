"""A new user on a box without an OS keyring: accounts that need no secret can still be added and
run; accounts that need one are refused before anything changes, with the fix."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.keyring_support import cli_env, run_cli


def _env(root: Path) -> dict[str, str]:
    return cli_env(root, PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring", DBUS_SESSION_BUS_ADDRESS=None)


def test_paper_accounts_need_no_keyring(tmp_path: Path) -> None:
    env = _env(tmp_path)
    added = run_cli(tmp_path, "accounts", "add", "lead", "--broker", "paper", "--role", "leader", env=env)
    assert added.returncode == 0, added.stderr
    assert "added leader lead (paper)" in added.stdout
    assert "no OS keyring here" in added.stdout
    follower = run_cli(tmp_path, "accounts", "add", "alpha", "--broker", "paper", "--role", "follower", env=env)
    assert follower.returncode == 0, follower.stderr
    config = tmp_path / "config" / "copytui" / "config.yaml"
    data = yaml.safe_load(config.read_text())
    assert data["leader"]["name"] == "lead"
    assert [f["name"] for f in data["followers"]] == ["alpha"]

    listed = run_cli(tmp_path, "accounts", "list", env=env)
    assert listed.returncode == 0, listed.stderr
    assert "lead" in listed.stdout and "alpha" in listed.stdout
    assert "accounts add" not in listed.stdout + listed.stderr  # it does not send the user round in a circle

    checked = run_cli(tmp_path, "config", "check", env=env)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_an_account_that_needs_a_secret_is_refused_with_the_fix_and_nothing_changes(tmp_path: Path) -> None:
    env = _env(tmp_path)
    assert (
        run_cli(tmp_path, "accounts", "add", "lead", "--broker", "paper", "--role", "leader", env=env).returncode == 0
    )
    config = tmp_path / "config" / "copytui" / "config.yaml"
    before = config.read_bytes()
    refused = run_cli(tmp_path, "accounts", "add", "px", "--broker", "projectx", "--role", "follower",
                      "--username", "trader", env=env)  # fmt: skip
    assert refused.returncode == 3
    assert "no usable OS keyring" in refused.stderr
    assert "gnome-keyring-daemon --unlock" in refused.stderr  # the headless recipe
    assert "Traceback" not in refused.stderr
    assert config.read_bytes() == before
