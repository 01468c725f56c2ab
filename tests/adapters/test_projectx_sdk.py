"""project-x-py 4.4, a ProjectX client nobody on copytui wrote, against our simulator (issue 14).

The SDK needs Python >= 3.12, so it runs in a venv of its own: ``COPYTUI_PX_SDK_PYTHON`` names that
venv's interpreter, which runs tests/outside/projectx/check_sdk.py against a simulator started here
on a loopback port. Without the variable the test skips, saying how to make the venv; with
``COPYTUI_REQUIRE_OUTSIDE=1`` (CI) a missing interpreter is a failure, not a skip.

    python3.12 -m venv /tmp/px312 && /tmp/px312/bin/pip install project-x-py==4.4.1
    COPYTUI_PX_SDK_PYTHON=/tmp/px312/bin/python pytest tests/adapters/test_projectx_sdk.py
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.paper.exchange import PaperExchange
from adapters.projectx.simulator import ProjectXSimulator
from adapters.simkit.audit import AuditLog

CHECK = Path(__file__).resolve().parents[1] / "outside" / "projectx" / "check_sdk.py"
VENV = "python3.12 -m venv /tmp/px312 && /tmp/px312/bin/pip install project-x-py==4.4.1"
HANG_GUARD_S = 600.0  # only against a hung child: the script waits for each event on its own


def sdk_python() -> str:
    python = os.environ.get("COPYTUI_PX_SDK_PYTHON", "")
    if not python:
        why = f"COPYTUI_PX_SDK_PYTHON is not set (make the venv: {VENV}; then set it to /tmp/px312/bin/python)"
        if os.environ.get("COPYTUI_REQUIRE_OUTSIDE") == "1":
            pytest.fail(f"project-x-py must run here (COPYTUI_REQUIRE_OUTSIDE=1), but {why}")
        pytest.skip(f"project-x-py check skipped: {why}")
    if not Path(python).exists():
        pytest.fail(f"COPYTUI_PX_SDK_PYTHON={python} does not exist (make the venv: {VENV})")
    return python


@contextlib.asynccontextmanager
async def walking_sim() -> AsyncIterator[ProjectXSimulator]:
    """A simulator whose prices walk (as ``copytui sim projectx`` does), with an audit log."""
    sim = ProjectXSimulator(PaperExchange(seed=21), audit=AuditLog("projectx"))
    await sim.start()

    async def walk() -> None:
        while True:
            await asyncio.sleep(0.1)
            sim.exchange.step()

    walker = asyncio.get_running_loop().create_task(walk(), name="px-sdk-price-walk")
    try:
        yield sim
    finally:
        walker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await walker
        await sim.stop()


async def run_check(python: str, sim: ProjectXSimulator, prefix: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        python, str(CHECK), sim.api_url, "--tag-prefix", prefix, "--timeout", "60",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(proc.communicate(), HANG_GUARD_S)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError(f"check_sdk.py did not finish within {HANG_GUARD_S:.0f}s") from None
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_project_x_py_trades_against_the_simulator():
    python = sdk_python()
    async with walking_sim() as sim:
        code, out, err = await run_check(python, sim, "pxsdk")
        assert code != 2, f"project-x-py is not installed for {python}: {err}"
        assert code == 0, f"project-x-py found a mismatch:\n{err}\n{out}"
        summary = json.loads(out.strip().splitlines()[-1])
        assert summary["passed"] and summary["tags"] == ["pxsdklim", "pxsdkmktbuy", "pxsdkmktsell"]
        # what the simulator saw of it: get_instrument's searchById, the market hub, and every order request
        assert "/api/Contract/searchById" in sim.requests
        assert sim.market.connects >= 1 and sim.market.quotes_sent >= 1
        assert sim.hub.connects >= 1
        audit = [(e.action, e.client_order_id, e.outcome) for e in sim.audit.entries]
    assert audit == [
        ("place", "pxsdklim", "accepted"),
        ("modify", "pxsdklim", "accepted"),
        ("cancel", "pxsdklim", "accepted"),
        ("place", "pxsdkmktbuy", "accepted"),
        ("place", "pxsdkmktsell", "accepted"),
    ]


async def test_the_check_names_what_the_gateway_lacks():
    """The same check against a simulator without Contract/searchById (as ours was): a clear failure."""
    python = sdk_python()
    async with walking_sim() as sim:
        del sim.routes["/api/Contract/searchById"]
        code, out, err = await run_check(python, sim, "pxgap")
    assert code == 1, f"expected a mismatch, got exit {code}:\n{err}\n{out}"
    assert "MISMATCH" in err and "searchById" in err
