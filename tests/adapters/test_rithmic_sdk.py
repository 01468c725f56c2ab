"""async-rithmic 1.6.6, an R|Protocol client nobody on copytui wrote, against our simulator (issue 17).

async-rithmic pins websockets < 15 while copytui's test venv has 17 (pysignalr needs >= 15), so it
runs in a venv of its own: ``COPYTUI_RITHMIC_SDK_PYTHON`` names that venv's interpreter, which runs
tests/outside/rithmic/check_client.py against a simulator started here. Without the variable the
test skips, saying how to make the venv; with ``COPYTUI_REQUIRE_OUTSIDE=1`` (CI) a missing
interpreter is a failure, not a skip.

    python3 -m venv ~/.cache/copytui-tests/rithmic
    ~/.cache/copytui-tests/rithmic/bin/pip install -r tests/outside/rithmic/requirements.txt
    COPYTUI_RITHMIC_SDK_PYTHON=~/.cache/copytui-tests/rithmic/bin/python pytest tests/adapters/test_rithmic_sdk.py

What is compared: every message declaration copytui encodes and decodes against async-rithmic's
protobuf classes (names, numbers, kinds, enum members, and sample bodies both ways); then the
client's session, orders and notifications against the simulator; and what the client parsed of
each notification against the events copytui's adapter made of the same notifications, field by
field.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest

from adapters.rithmic import proto
from adapters.rithmic.messages import ENUM_FIELDS, TEMPLATES
from adapters.rithmic.proto import Kind
from copytui.models import EventKind, Side
from tests.adapters.rithmic_support import PASSWORD, USER, connected, filled_message, simulator

CHECK = Path(__file__).resolve().parents[1] / "outside" / "rithmic" / "check_client.py"
VENV = (
    "python3 -m venv ~/.cache/copytui-tests/rithmic && "
    "~/.cache/copytui-tests/rithmic/bin/pip install -r tests/outside/rithmic/requirements.txt"
)
HANG_GUARD_S = 300.0  # only against a hung child: the script waits for each notification on its own


def sdk_python() -> str:
    python = os.environ.get("COPYTUI_RITHMIC_SDK_PYTHON", "")
    if not python:
        why = f"COPYTUI_RITHMIC_SDK_PYTHON is not set (make the venv: {VENV}; then point it at that venv's python)"
        if os.environ.get("COPYTUI_REQUIRE_OUTSIDE") == "1":
            pytest.fail(f"async-rithmic must run here (COPYTUI_REQUIRE_OUTSIDE=1), but {why}")
        pytest.skip(f"async-rithmic check skipped: {why}")
    if not Path(python).exists():
        pytest.fail(f"COPYTUI_RITHMIC_SDK_PYTHON={python} does not exist (make the venv: {VENV})")
    return python


def our_schema() -> dict[str, Any]:
    """Every declaration copytui reads and writes, and one sample body of each message."""
    messages, samples = [], []
    for template, cls in sorted(TEMPLATES.items()):
        fields = [f for f in proto.spec_of(cls).fields if f.name]
        messages.append(
            {
                "template": template,
                "name": cls.__name__,
                "fields": [{"name": f.name, "number": f.number, "kind": f.kind.name} for f in fields],
            }
        )
        sample = filled_message(cls, wide=False)
        samples.append(
            {
                "template": template,
                "hex": proto.encode(sample).hex(),
                "values": {f.name: getattr(sample, f.name) for f in fields},
            }
        )
    enums = [
        {"message": m, "field": f, "members": {e.name: e.value for e in enum}} for (m, f), enum in ENUM_FIELDS.items()
    ]
    return {"messages": messages, "enums": enums, "samples": samples}


async def run_check(python: str, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        python, str(CHECK), *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "RITHMIC_PASSWORD": PASSWORD},
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(proc.communicate(), HANG_GUARD_S)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError(f"check_client.py did not finish within {HANG_GUARD_S:.0f}s") from None
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_async_rithmic_trades_against_the_simulator_and_agrees_with_our_adapter(tmp_path: Path) -> None:
    python = sdk_python()
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps(our_schema()), encoding="utf-8")
    async with simulator(seed=21) as sim, connected(sim, "watch", "RSIM-1001") as (adapter, ours):
        front = sim.desk.contract("ES")
        bid, _ = sim.exchange.quote("ES")
        code, out, err = await run_check(
            python, sim.url, "--symbol", front.symbol, "--exchange", front.exchange, "--account", "RSIM-1001",
            "--user", USER, "--limit-price", str(bid - 10), "--schema", str(schema), "--tag-prefix", "sdk",
        )  # fmt: skip
        assert code != 2, f"async-rithmic is not installed for {python}: {err}"
        assert code == 0, f"async-rithmic found a mismatch:\n{err}\n{out}"
        summary = json.loads(out.strip().splitlines()[-1])
        replayed, _ = await adapter.fills_since(None)
    assert summary["passed"] and summary["tags"] == ["sdklim", "sdkmkt"] and "RSIM-1001" in summary["accounts"]
    audit = [(e.action, e.client_order_id, e.outcome) for e in sim.audit.entries]
    assert audit == [
        ("new_order", "sdklim", "accepted"),
        ("modify_order", "sdklim", "accepted"),
        ("cancel_order", "sdklim", "accepted"),
        ("new_order", "sdkmkt", "accepted"),
        ("exit_position", None, "accepted"),
    ]

    # protobuf's encoding of each sample reads back through our codec; where no repeated bool is
    # declared (protobuf packs those, Rithmic's servers do not) it is our encoding byte for byte
    for back in summary["samples"]:
        cls = TEMPLATES[back["template"]]
        theirs = bytes.fromhex(back["protobuf_hex"])
        assert proto.decode(theirs, TEMPLATES) == filled_message(cls, wide=False), cls.__name__
        if not any(f.kind is Kind.FLAGS for f in proto.spec_of(cls).fields):
            assert theirs == proto.encode(filled_message(cls, wide=False)), cls.__name__

    # what async-rithmic parsed of each notification, against the event our adapter made of it
    notes = summary["notifications"]
    live = [n for n in notes if not n.get("is_snapshot")]
    fills = [n for n in live if n["kind"] == "exchange" and n["notify_type"] == 5]
    assert len(fills) == 2  # the market buy and the exit
    for n in fills:
        [ev] = [
            e
            for e in ours.events
            if e.kind is EventKind.FILL and (e.order_id, e.fill_id) == (n["basket_id"], n["fill_id"])
        ]
        assert (ev.fill_qty, ev.cum_qty, ev.fill_price) == (n["fill_size"], n["total_fill_size"], n["fill_price"])
        assert ev.side is (Side.BUY if n["transaction_type"] == 1 else Side.SELL)
        assert ev.client_order_id == (n["user_tag"] or None) and ev.symbol == "ES" and n["symbol"] == front.symbol
    [opened] = [n for n in live if n["kind"] == "rithmic" and n["notify_type"] == 13 and n["user_tag"] == "sdklim"]
    [new] = [e for e in ours.events if e.kind is EventKind.ORDER_NEW and e.client_order_id == "sdklim"]
    assert (new.order_id, new.price, new.qty, new.side) == (
        opened["basket_id"],
        opened["price"],
        opened["quantity"],
        Side.BUY,
    )
    [modified] = [n for n in live if n["kind"] == "rithmic" and n["notify_type"] == 14]
    [mod] = [e for e in ours.events if e.kind is EventKind.ORDER_MODIFIED]
    assert (mod.order_id, mod.price, mod.version) == (modified["basket_id"], modified["price"], 1)
    assert [e.order_id for e in ours.events if e.kind is EventKind.ORDER_CANCELLED] == [opened["basket_id"]]
    # the executions async-rithmic saw replayed are the ones fills_since replays for copytui
    theirs = {(n["basket_id"], n["fill_id"]) for n in notes if n.get("is_snapshot") and n.get("notify_type") == 5}
    assert theirs == {(e.order_id, e.fill_id) for e in replayed} and len(theirs) == 2


async def test_the_check_names_a_declaration_that_disagrees() -> None:
    """The check can fail: a field number copytui got wrong is named, with async-rithmic's number."""
    python = sdk_python()
    bad = our_schema()
    new_order = next(m for m in bad["messages"] if m["name"] == "RequestNewOrder")
    next(f for f in new_order["fields"] if f["name"] == "user_tag")["number"] = 154120
    bad["samples"] = []
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"rithmic-bad-schema-{os.getpid()}.json"
    path.write_text(json.dumps(bad), encoding="utf-8")
    try:
        code, out, err = await run_check(
            python, "ws://127.0.0.1:9", "--symbol", "ESZ5", "--account", "X", "--user", "u",
            "--limit-price", "1", "--schema", str(path), "--schema-only",
        )  # fmt: skip
    finally:
        path.unlink()
    assert code == 1, f"expected a mismatch, got exit {code}:\n{err}\n{out}"
    assert (
        "MISMATCH" in err and "RequestNewOrder.user_tag: field number 154120 in copytui, 154119 in async-rithmic" in err
    )
