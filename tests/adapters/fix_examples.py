"""QuickFIX's own example acceptors, ``executor`` and ``ordermatch``, as real counterparties.

They are C++ programs from the quickfix source distribution (not in the PyPI sdist; the Debian
source package has them). Build them with ``adapters/fix/build_quickfix_examples.sh DIR`` and point
``COPYTUI_QUICKFIX_EXAMPLES`` at DIR; without it the interop tests are skipped.
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


def example(name: str) -> Path:
    base = os.environ.get(ENV)
    path = Path(base) / name if base else None
    if path is None or not os.access(path, os.X_OK):
        pytest.skip(
            f"QuickFIX example acceptor `{name}` not built: run adapters/fix/build_quickfix_examples.sh DIR "
            f"and set {ENV}=DIR (README, FIX: trying real counterparties)"
        )
    return path


def spec_dir() -> Path:
    """quickfix's XML data dictionaries, as the PyPI wheel installs them."""
    for candidate in (Path(sys.prefix) / "share" / "quickfix", Path("/usr/share/quickfix")):
        if (candidate / "FIX42.xml").is_file():
            return candidate
    pytest.skip("quickfix's FIX42.xml / FIX44.xml data dictionaries not found")
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
    proc = subprocess.Popen(
        [str(example(name)), str(cfg)],
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
        else:
            proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
