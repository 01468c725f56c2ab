"""The engine, adapters, journal and models never import textual (DESIGN.md, STYLE.md 1)."""

from __future__ import annotations

import subprocess
import sys


def test_core_does_not_import_textual() -> None:
    code = (
        "import sys\n"
        "import copytui.engine, copytui.journal, copytui.models, copytui.runtime, adapters.base, adapters.paper\n"
        "import pkgutil, importlib, adapters\n"
        "for m in pkgutil.walk_packages(adapters.__path__, 'adapters.'):\n"
        "    if not m.name.endswith('simulator'): importlib.import_module(m.name)\n"
        "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        "print(bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


def test_import_contracts_of_the_rooms_hold() -> None:
    """pyproject.toml's [tool.importlinter] contracts (DESIGN.md's rooms), checked by import-linter."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-c", "from importlinter.cli import lint_imports_command; lint_imports_command()"],
        capture_output=True, text=True, timeout=120, cwd=root,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    import tomllib

    config = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    assert "BROKEN" not in out.stdout and f"Contracts: {len(contracts)} kept, 0 broken" in out.stdout
