"""QuickFIX's own example acceptors, ``executor`` and ``ordermatch``, as real counterparties.

They are C++ programs from the quickfix source distribution (not in the PyPI sdist; the Debian
source package has them), and ``executor.py``, the same executor in Python, run here with the
tests' own interpreter. Build them with ``adapters/fix/build_quickfix_examples.sh DIR`` and point
``COPYTUI_QUICKFIX_EXAMPLES`` at DIR; without it the interop tests are skipped, unless
``COPYTUI_REQUIRE_FIX_EXAMPLES=1`` (CI sets it): then they fail, since a skip there would hide them.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ENV = "COPYTUI_QUICKFIX_EXAMPLES"
REQUIRE = "COPYTUI_REQUIRE_FIX_EXAMPLES"


def unavailable(reason: str) -> None:
    """Skip, or fail where the examples must run (``COPYTUI_REQUIRE_FIX_EXAMPLES=1``)."""
    if os.environ.get(REQUIRE) == "1":
        pytest.fail(f"{reason} ({REQUIRE}=1: these tests must run here, not skip)", pytrace=False)
    pytest.skip(reason)


def example(name: str) -> Path:
    """The example's path; ``executor.py`` is a Python script, the others are programs."""
    base = os.environ.get(ENV)
    path = Path(base) / name if base else None
    ready = path is not None and (path.is_file() if name.endswith(".py") else os.access(path, os.X_OK))
    if path is None or not ready:
        unavailable(
            f"QuickFIX example acceptor `{name}` not built: run adapters/fix/build_quickfix_examples.sh DIR "
            f"and set {ENV}=DIR (README, FIX: trying real counterparties)"
        )
        raise AssertionError("unreachable")
    return path


def spec_dir() -> Path:
    """quickfix's XML data dictionaries, as the PyPI wheel installs them."""
    for candidate in (Path(sys.prefix) / "share" / "quickfix", Path("/usr/share/quickfix")):
        if (candidate / "FIX42.xml").is_file():
            return candidate
    unavailable("quickfix's FIX42.xml / FIX44.xml data dictionaries not found")
    raise AssertionError("unreachable")


def settings(port: int, work: Path, sender: str, sessions: list[tuple[str, str]]) -> Path:
    """An acceptor settings file in the examples' own format."""
    lines = [
        "[DEFAULT]",
        "ConnectionType=acceptor",
        f"SocketAcceptPort={port}",
        "SocketReuseAddress=Y",
        "StartTime=00:00:00",
        "EndTime=00:00:00",
        f"FileStorePath={work / 'store'}",
        "UseDataDictionary=Y",
        "ScreenLogShowIncoming=N",
        "ScreenLogShowOutgoing=N",
        "ScreenLogShowEvents=N",
    ]
    specs = spec_dir()
    for begin, client in sessions:
        dictionary = specs / f"{begin.replace('.', '')}.xml"
        lines += ["[SESSION]", f"BeginString={begin}", f"SenderCompID={sender}", f"TargetCompID={client}"]
        lines.append(f"DataDictionary={dictionary}")
    path = work / f"{sender.lower()}.cfg"
    path.write_text("\n".join(lines) + "\n")
    return path


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


@contextlib.contextmanager
def running(name: str, port: int, cfg: Path, work: Path) -> Iterator[subprocess.Popen[str]]:
    """Start the example on ``cfg``; ordermatch reads commands from stdin, so it gets a pipe."""
    path = example(name)
    command = [sys.executable, str(path)] if path.suffix == ".py" else [str(path)]
    proc = subprocess.Popen(
        [*command, str(cfg)],
        cwd=work,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        deadline = time.monotonic() + 10
        while not _listening(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{name} did not listen on {port} (exit code {proc.poll()})")
            time.sleep(0.05)
        yield proc
    finally:
        if name == "ordermatch":  # it quits on "#quit"; executor only on a signal
            with contextlib.suppress(OSError):
                assert proc.stdin is not None
                proc.stdin.write("#quit\n")
                proc.stdin.flush()
        else:  # executor (and executor.py) stop only on a signal
            proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
