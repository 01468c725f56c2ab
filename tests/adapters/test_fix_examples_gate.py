"""QuickFIX's example acceptors must really run in CI: without them the interop tests skip on a
developer's machine, and fail where ``COPYTUI_REQUIRE_FIX_EXAMPLES=1`` (.ci/run) says they must run."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.adapters.fix_examples import ENV, example

REQUIRE = "COPYTUI_REQUIRE_FIX_EXAMPLES"
NAMES = ["executor", "executor.py", "ordermatch"]


def _outcome(name: str) -> BaseException | Path:
    """What ``example(name)`` does: its path, or the skip / failure it raised (caught, to compare)."""
    try:
        return example(name)
    except (pytest.skip.Exception, pytest.fail.Exception) as exc:
        return exc


@pytest.mark.parametrize("name", NAMES)
def test_missing_examples_skip_by_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str) -> None:
    monkeypatch.delenv(REQUIRE, raising=False)
    monkeypatch.delenv(ENV, raising=False)
    got = _outcome(name)
    assert isinstance(got, pytest.skip.Exception) and "build_quickfix_examples.sh" in str(got)
    monkeypatch.setenv(ENV, str(tmp_path))  # set, but nothing built there
    assert isinstance(_outcome(name), pytest.skip.Exception)


@pytest.mark.parametrize("name", NAMES)
def test_missing_examples_fail_where_they_are_required(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str
) -> None:
    monkeypatch.setenv(REQUIRE, "1")
    monkeypatch.delenv(ENV, raising=False)
    got = _outcome(name)
    assert isinstance(got, pytest.fail.Exception), repr(got)
    assert f"`{name}` not built" in str(got) and f"{REQUIRE}=1" in str(got)
    monkeypatch.setenv(ENV, str(tmp_path))
    assert isinstance(_outcome(name), pytest.fail.Exception)


def test_built_examples_are_found(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "executor").write_text("#!/bin/sh\n")
    (tmp_path / "executor").chmod(0o755)
    (tmp_path / "executor.py").write_text("")  # a script, run with the tests' interpreter: no x bit needed
    monkeypatch.setenv(ENV, str(tmp_path))
    monkeypatch.setenv(REQUIRE, "1")
    assert _outcome("executor") == tmp_path / "executor"
    assert _outcome("executor.py") == tmp_path / "executor.py"
