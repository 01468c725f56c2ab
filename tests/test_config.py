"""Config files: unknown keys, bad values and secrets are refused with file, line, key and a fix."""

from __future__ import annotations

import pytest

from copytui.config import ConfigError, load_config, parse_config
from copytui.demo import demo_config

GOOD = """\
leader:
  name: lead
followers:
  - name: f1
    multiplier: 0.5
    symbol_map:
      NQ: {symbol: MNQ, factor: 10}
"""


def test_good_config_loads_frozen() -> None:
    cfg = parse_config(GOOD)
    assert cfg.followers[0].symbol_map["NQ"].symbol == "MNQ"
    assert cfg.followers[0].rule_text() == "fills x0.5 NQ->MNQ x10"
    with pytest.raises(Exception):  # noqa: B017 - frozen models refuse assignment
        cfg.followers[0].multiplier = 2  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "line", "key", "hint"),
    [
        (GOOD.replace("multiplier: 0.5", "multiplyer: 0.5"), 5, "followers[1].multiplyer", "did you mean multiplier?"),
        (GOOD.replace("multiplier: 0.5", "multiplier: -1"), 5, "followers[1].multiplier", "must be more than 0."),
        (GOOD.replace("multiplier: 0.5", "mode: copy"), 5, "followers[1].mode", "use 'fills' or 'mirror'."),
        (GOOD.replace("symbol: MNQ", "symbol: XYZ"), 7, "followers[1].symbol_map.NQ.symbol", "unknown symbol 'XYZ'"),
        (GOOD.replace("name: lead", "name: lead\n  password: hunter2"), 3, "leader.password", "accounts add"),
        (GOOD.replace("  name: lead\n", ""), 1, "leader", "must be a mapping of the leader's keys"),
        (GOOD.replace("  name: lead\n", "  broker: paper\n"), 1, "leader.name", "is missing; add it"),
        (GOOD + "  - name: f1\n", 8, "followers[2].name", "'f1' is already used by followers[1] (line 4)"),
    ],
)
def test_bad_config_names_line_key_and_fix(text: str, line: int, key: str, hint: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(text, "cfg.yaml")
    msg = str(err.value)
    assert msg.startswith(f"cfg.yaml:{line}: {key}: ") and len(msg.splitlines()) == 1, msg
    assert hint in msg
    assert "hunter2" not in msg


def test_yaml_syntax_error_and_missing_file(tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"cfg.yaml:3: not valid YAML"):
        parse_config("leader:\n  name: [oops\n", "cfg.yaml")
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "nope.yaml")


def test_demo_config_is_valid() -> None:
    cfg = demo_config()
    assert len(cfg.followers) >= 5
