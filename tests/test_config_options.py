"""`copytui config check` reads each account's options through the model its broker declares
(AdapterSpec.options): a wrong key or value is named with the account, the key and the fix,
before `copytui run` ever builds an adapter."""

from __future__ import annotations

from pathlib import Path

from tests.test_config_messages import cli

CONFIG = """\
leader: {name: lead, broker: paper}
followers:
  - name: tv1
    broker: tradovate
    environment: sim
    host: 127.0.0.1
    port: 9
    options: {OPTIONS_TV}
  - name: px1
    broker: projectx
    environment: sim
    host: 127.0.0.1
    port: 9
    options: {OPTIONS_PX}
"""


def check(tmp_path: Path, tv: str, px: str) -> tuple[int, str, str]:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG.replace("{OPTIONS_TV}", tv).replace("{OPTIONS_PX}", px), encoding="utf-8")
    r = cli(tmp_path, "config", "check", str(path))
    return r.exit_code, r.stdout, r.stderr


def test_declared_options_pass(tmp_path: Path) -> None:
    code, out, err = check(tmp_path, "{request_timeout_s: 5, order_transport: rest}", "{requests_per_minute: 100}")
    assert code == 0, err
    assert out.startswith("ok: ") and "2 followers" in out


def test_an_old_or_unknown_option_is_named_with_its_account_and_fix(tmp_path: Path) -> None:
    code, out, err = check(tmp_path, "{requestTimeoutS: 5}", "{requests_per_minute: 100, colour: blue}")
    assert code == 2 and not out
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 2, err
    tv, px = lines
    assert "account tv1 (tradovate)" in tv and "requestTimeoutS" in tv and "request_timeout_s" in tv
    assert "account px1 (projectx)" in px and "colour" in px and "requests_per_minute" in px
    assert "2 problem(s)" in err


def test_a_bad_value_says_which_key(tmp_path: Path) -> None:
    code, _out, err = check(tmp_path, "{request_timeout_s: -1}", "{}")
    assert code == 2
    assert "account tv1 (tradovate): options.request_timeout_s:" in err
