"""`copytui sim dxfeed` and `copytui sim tradovate-md` through the real entry point in a subprocess:
what they print is read as a trader would (the ``market_data:`` section), and the sources copytui
builds from that section (registry.create_market, the real dxLink and Tradovate md clients) get
quotes from them over loopback. The token never appears in what they print."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import termios
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from adapters.base import AuthFailed
from adapters.tradovate.settings import SIM_PASSWORD, SIM_SEC
from copytui import registry
from copytui.cli import app
from copytui.config import MarketDataConfig
from tests.adapters.dxfeed_support import wait_until
from tests.keyring_support import cli_env

TOKEN = "dx-cli-token-7f3e2a91"  # the simulator's token in these tests, checked never to be printed
ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "copytui.cli", "sim"]


class Sim:
    """A simulator process and what it printed so far (stdout and stderr together)."""

    def __init__(self, read: Callable[[float], str], proc: subprocess.Popen[bytes] | None, pid: int) -> None:
        self._read, self.proc, self.pid, self.out = read, proc, pid, ""
        self.exit_code: int | None = None

    def until(self, text: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while text not in self.out:
            if time.monotonic() > deadline:
                raise AssertionError(f"the simulator never printed {text!r}; it printed:\n{self.out}")
            self.out += self._read(deadline - time.monotonic())
        return self.out

    def section(self) -> dict[str, Any]:
        """The ``market_data:`` section it printed, read as YAML."""
        text = self.until("or add it")
        lines = text.split("section for your config", 1)[1].splitlines()[1:]
        block = "\n".join(line[4:] for line in lines if line.startswith("    "))
        found: dict[str, Any] = yaml.safe_load(block.split("copytui accounts add")[0])["market_data"]
        return found

    def stop(self) -> int:
        """Ctrl-C, as a trader stops it; its exit status."""
        os.kill(self.pid, signal.SIGINT)
        self.until("simulator stopped")
        if self.proc is not None:
            self.exit_code = self.proc.wait(10)
        else:
            self.exit_code = os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])
        return self.exit_code


def _reader(fd: int) -> Callable[[float], str]:
    def read(timeout: float) -> str:
        ready, _, _ = select.select([fd], [], [], max(timeout, 0.0))
        if not ready:
            return ""
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # a pty whose child has exited
            chunk = b""
        if not chunk:
            raise AssertionError("the simulator exited")
        return chunk.decode(errors="replace")

    return read


@pytest.fixture
def sims(tmp_path: Path) -> Iterator[Callable[..., Sim]]:
    started: list[Sim] = []

    def start(*args: str, **env: str) -> Sim:
        proc = subprocess.Popen([*CLI, *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, env=cli_env(tmp_path, COPYTUI_SIM_TOKEN=None, **env),
                                cwd=ROOT)  # fmt: skip
        assert proc.stdout is not None
        started.append(Sim(_reader(proc.stdout.fileno()), proc, proc.pid))
        return started[-1]

    yield start
    for sim in started:
        if sim.proc is not None and sim.proc.poll() is None:
            sim.proc.kill()
            sim.proc.wait()


async def first_quote(section: dict[str, Any], secrets: dict[str, str], symbol: str = "ES") -> Any:
    """The first quote of ``symbol`` from the source copytui builds from ``section``."""
    source = registry.create_market(MarketDataConfig.model_validate(section), secrets.get)
    try:
        await source.connect()
        await source.subscribe([symbol])
        return await wait_until(lambda: (q := source.quote(symbol)) and q.bid and q.ask and q, f"a {symbol} quote")
    finally:
        await source.disconnect()


async def test_sim_dxfeed_asks_for_the_token_hidden_and_serves_quotes_to_the_section_it_prints(tmp_path: Path):
    pid, fd = pty.fork()  # a terminal of its own: the hidden prompt, as a trader gets it
    if pid == 0:  # the child: the CLI, with no token in its environment
        try:
            os.chdir(ROOT)
            os.execve(sys.executable, [*CLI, "dxfeed", "--seed", "3"], cli_env(tmp_path, COPYTUI_SIM_TOKEN=None))
        finally:
            os._exit(127)  # never back into pytest in the forked child
    sim = Sim(_reader(fd), None, pid)
    try:
        assert "$COPYTUI_SIM_TOKEN is unset" in sim.until("token the simulator's clients must send")
        await wait_until(lambda: not termios.tcgetattr(fd)[3] & termios.ECHO, "the prompt to turn echo off")
        os.write(fd, (TOKEN + "\n").encode())
        section = sim.section()
        assert section["source"] == "dxfeed" and section["name"] == "dxfeed-sim"
        assert section["options"]["url"].startswith("ws://127.0.0.1:")
        url = section["options"]["url"]
        assert f"copytui accounts add dxfeed-sim --market-data dxfeed --option url={url}" in sim.out

        quote = await first_quote(section, {"token": TOKEN})
        assert quote.bid < quote.ask
        assert sim.stop() == 0
    finally:
        if sim.exit_code is None:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(fd)
    assert TOKEN not in sim.out  # not echoed at the prompt, never printed


async def test_sim_dxfeed_takes_the_token_from_token_env_and_passes_its_faults(sims: Callable[..., Sim]):
    sim = sims("dxfeed", "--unauthorised", "--stale", "--drop-every-s", "30", "--token-env", "MY_DX", MY_DX=TOKEN)
    section = sim.section()
    assert "faults: stale, drop every 30s, unauthorised" in sim.out
    with pytest.raises(AuthFailed):
        await first_quote(section, {"token": TOKEN})
    assert sim.stop() == 0
    assert TOKEN not in sim.out


async def test_sim_tradovate_md_serves_quotes_to_the_section_it_prints(sims: Callable[..., Sim]):
    sim = sims("tradovate-md", "--port", "0", "--tick-s", "0.05")
    section = sim.section()
    assert section["source"] == "tradovate" and section["options"]["environment"] == "sim"
    quote = await first_quote(section, {"password": SIM_PASSWORD, "sec": SIM_SEC}, "NQ")
    assert quote.bid < quote.ask
    assert sim.stop() == 0


def test_sim_names_and_refusals(tmp_path: Path) -> None:
    def run(*args: str) -> Any:
        return CliRunner().invoke(app, ["sim", *args], env=cli_env(tmp_path, COPYTUI_SIM_TOKEN=None))

    listing = run("--help").stdout
    assert all(f"  {name} " in listing for name in ("dxfeed", "tradovate-md", "tradovate"))

    no_token = run("dxfeed", "--token-env", "NO_SUCH_VAR_SET")  # stdin is not a terminal here: no prompt
    assert no_token.exit_code == 2
    assert no_token.stderr.startswith("error: $NO_SUCH_VAR_SET is empty or unset: set it to the token")
    assert "never taken on the command line" in no_token.stderr

    no_faults = run("tradovate-md", "--stale", "--token-env", "X")
    assert no_faults.exit_code == 2
    assert no_faults.stderr.strip() == (
        "error: --token-env, --stale: the tradovate-md simulator has no such option; it takes --port, --seed, --tick-s."
    )
