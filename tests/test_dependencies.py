"""Every import is backed by a declared dependency.

A green suite once hid a missing dependency (click, no longer pulled in by typer) that broke the
first command for every new user: the development machine happened to have it. This test reads
every module we ship and every test, finds each third-party import, asks the installed metadata
which distribution provides it, and checks that distribution is declared in pyproject.toml for
that place: the core dependencies for what every user runs, an extra only where that extra is
needed, dev for tests.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIRST_PARTY = {"copytui", "adapters", "themes", "tests"}
EXTRA_HOMES = {"fix": ("adapters/fix/",), "testkit": ("adapters/kit/conformance.py",)}
"""Optional extras and the only folders whose code may import them (`pip install copytui[fix]`)."""


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _req_name(requirement: str) -> str:
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    assert match, f"pyproject.toml: cannot read the requirement {requirement!r}"
    return _norm(match.group(1))


def _declared() -> tuple[set[str], dict[str, set[str]]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    core = {_req_name(r) for r in project["dependencies"]}
    extras = {k: {_req_name(r) for r in v} for k, v in project.get("optional-dependencies", {}).items()}
    return core, extras


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return {m for m in found if m not in sys.stdlib_module_names and m not in FIRST_PARTY}


def _providers(module: str) -> set[str]:
    return {_norm(d) for d in importlib.metadata.packages_distributions().get(module, [])}


OWN_VENVS = ("tests/outside/",)
"""Outside code run by interpreters of its own, each folder with its own requirements.txt."""


def _problems(folders: tuple[str, ...], allowed_for: callable) -> list[str]:  # type: ignore[valid-type]
    problems = []
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel.startswith(OWN_VENVS):
                assert (path.parent / "requirements.txt").exists(), f"{rel}: its folder declares no requirements.txt"
                continue
            allowed = allowed_for(rel)
            for module in sorted(_imports(path)):
                providers = _providers(module)
                if not providers:
                    problems.append(f"{rel}: imports {module!r}, which no installed distribution provides")
                elif not providers & allowed:
                    problems.append(
                        f"{rel}: imports {module!r} (from {', '.join(sorted(providers))}), "
                        "which pyproject.toml does not declare for this code"
                    )
    return problems


def test_shipped_code_imports_only_declared_dependencies() -> None:
    core, extras = _declared()

    def allowed_for(rel: str) -> set[str]:
        allowed = set(core)
        for extra, homes in EXTRA_HOMES.items():
            if rel.startswith(homes):
                allowed |= extras[extra]
        return allowed

    assert _problems(("copytui", "adapters", "themes"), allowed_for) == []


def test_tests_import_only_declared_dependencies() -> None:
    core, extras = _declared()
    allowed = core | extras["dev"] | extras["fix"]
    assert _problems(("tests",), lambda _rel: allowed) == []


def test_the_check_catches_an_undeclared_import(tmp_path: Path) -> None:
    """The check itself can fail: a module importing something installed but undeclared."""
    core, _ = _declared()
    assert "pytest" not in core  # installed here (dev), but no user gets it
    probe = tmp_path / "probe.py"
    probe.write_text("import pytest\nimport os\n", encoding="utf-8")
    modules = _imports(probe)
    assert modules == {"pytest"}
    assert not (_providers("pytest") & core)
