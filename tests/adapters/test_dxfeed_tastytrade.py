"""tastytrade 13.2.3's own ``DXLinkStreamer``, a dxLink client nobody on copytui wrote, against our
dxLink simulator (issue 20): it connects, subscribes to Quote and Trade, and what it parsed equals,
field for field, what the simulator sent from the paper exchange's prices.

tastytrade lives in a venv of its own (its dependencies are not copytui's): ``COPYTUI_DXFEED_SDK_PYTHON``
names that venv's interpreter, which runs tests/outside/dxfeed/check_streamer.py. Without the
variable the test skips, saying how to make the venv; with ``COPYTUI_REQUIRE_OUTSIDE=1`` (CI) a
missing interpreter is a failure, not a skip.

    python3 -m venv ~/.cache/copytui-tests/dxfeed
    ~/.cache/copytui-tests/dxfeed/bin/pip install -r tests/outside/dxfeed/requirements.txt
    COPYTUI_DXFEED_SDK_PYTHON=~/.cache/copytui-tests/dxfeed/bin/python pytest tests/adapters/test_dxfeed_tastytrade.py
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest

from adapters.dxfeed.simulator import DxLinkSimulator
from tests.adapters.dxfeed_support import TOKEN, running_sim

CHECK = Path(__file__).resolve().parents[1] / "outside" / "dxfeed" / "check_streamer.py"
VENV = (
    "python3 -m venv ~/.cache/copytui-tests/dxfeed && "
    "~/.cache/copytui-tests/dxfeed/bin/pip install -r tests/outside/dxfeed/requirements.txt"
)
HANG_GUARD_S = 120.0  # only against a hung child: the script has its own timeout


def sdk_python() -> str:
    python = os.environ.get("COPYTUI_DXFEED_SDK_PYTHON", "")
    if not python:
        why = f"COPYTUI_DXFEED_SDK_PYTHON is not set (make the venv: {VENV}; then point it at that venv's python)"
        if os.environ.get("COPYTUI_REQUIRE_OUTSIDE") == "1":
            pytest.fail(f"tastytrade must run here (COPYTUI_REQUIRE_OUTSIDE=1), but {why}")
        pytest.skip(f"tastytrade DXLinkStreamer check skipped: {why}")
    if not Path(python).exists():
        pytest.fail(f"COPYTUI_DXFEED_SDK_PYTHON={python} does not exist (make the venv: {VENV})")
    return python


def sent_event(sim: DxLinkSimulator, line: dict[str, Any]) -> dict[str, Any]:
    """The event the simulator made that the SDK printed (each has its own sequence)."""
    found = [e for e in sim.tape.history if e["eventType"] == line["event"] and e["sequence"] == line["sequence"]]
    assert len(found) == 1, f"the SDK printed an event the simulator never sent: {line}"
    return found[0]


def assert_same_fields(line: dict[str, Any], sent: dict[str, Any]) -> None:
    """Every field the SDK parsed equals the value sent (the SDK gives prices as decimal strings)."""
    fields = {k: v for k, v in line.items() if k != "event"}
    assert set(fields) <= set(sent), f"fields the simulator does not send: {set(fields) - set(sent)}"
    for name, value in fields.items():
        want = sent[name]
        if isinstance(value, str) and isinstance(want, int | float) and not isinstance(want, bool):
            assert float(value) == float(want), f"{line['event']} {name}: SDK {value}, sent {want}"
        else:
            assert value == want, f"{line['event']} {name}: SDK {value!r}, sent {want!r}"


class Streamer:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[dict[str, Any]] = []

    async def next_quote(self, symbol: str, after: int = 0) -> dict[str, Any]:
        """The next Quote line of ``symbol`` with a sequence above ``after`` (Trade lines are kept too)."""
        while True:
            raw = await asyncio.wait_for(self.proc.stdout.readline(), HANG_GUARD_S)
            if not raw:
                err = (await self.proc.stderr.read()).decode()
                raise AssertionError(f"the SDK script ended (exit {await self.proc.wait()}): {err}")
            line = json.loads(raw)
            self.lines.append(line)
            if line["event"] == "Quote" and line["eventSymbol"] == symbol and line["sequence"] > after:
                return line


async def test_tastytrade_streamer_receives_the_simulator_quotes_field_for_field():
    python = sdk_python()
    async with running_sim(seed=11) as sim:
        es, cl = (next(s for s, root in sim.symbols.items() if root == r) for r in ("ES", "CL"))
        proc = await asyncio.create_subprocess_exec(
            python, str(CHECK), sim.url, es, cl, "--quotes", "4", "--timeout-s", "60",
            env={**os.environ, "COPYTUI_DXFEED_TOKEN": TOKEN},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        streamer = Streamer(proc)
        try:
            first = {s: await streamer.next_quote(s) for s in (es, cl)}
            for symbol, root in ((es, "ES"), (cl, "CL")):
                assert (float(first[symbol]["bidPrice"]), float(first[symbol]["askPrice"])) == sim.exchange.quote(root)
            sim.exchange.set_price("ES", 5021.75)
            moved_es = await streamer.next_quote(es, first[es]["sequence"])
            sim.exchange.set_price("CL", 76.88)
            moved_cl = await streamer.next_quote(cl, first[cl]["sequence"])
            assert (float(moved_es["bidPrice"]), float(moved_es["askPrice"])) == (5021.75, 5022.0)
            assert (float(moved_cl["bidPrice"]), float(moved_cl["askPrice"])) == (76.88, 76.89)
            out, err = await asyncio.wait_for(proc.communicate(), HANG_GUARD_S)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        assert proc.returncode == 0, err.decode()
        streamer.lines += [json.loads(raw) for raw in out.decode().splitlines()]
        for line in streamer.lines:
            assert_same_fields(line, sent_event(sim, line))
        trades = [line for line in streamer.lines if line["event"] == "Trade"]
        assert {t["eventSymbol"] for t in trades} == {es, cl}
        assert any(float(t["price"]) == 5021.75 for t in trades if t["eventSymbol"] == es)
        channels = sorted({m["channel"] for _, m in sim.received if m["type"] == "CHANNEL_REQUEST"})
        assert channels == [7, 15]  # the SDK's own channel per event type: Quote 7, Trade 15
        assert TOKEN not in err.decode()
