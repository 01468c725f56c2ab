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
