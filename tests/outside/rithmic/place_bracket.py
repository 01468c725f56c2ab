"""async-rithmic (an R|Protocol client nobody on copytui wrote) places a bracket order (330) on a
Rithmic gateway, as a leader's own script would, and reports the notifications it parsed.

    RITHMIC_PASSWORD=... python place_bracket.py ws://127.0.0.1:PORT --symbol ESZ5 \
        --exchange CME --account RSIM-1001 --user trader1 --tag sdkbr

Run by tests/adapters/test_rithmic_leader_oco.py with the interpreter COPYTUI_RITHMIC_SDK_PYTHON
names (async-rithmic pins websockets < 15: a venv of its own, see test_rithmic_sdk.py). The client
buys 2 at market with ``stop_ticks`` and ``target_ticks`` (async-rithmic then sends 330 with
TARGET_AND_STOP_STATIC) and waits until two legs are working: notifications naming an
``original_basket_id``, one per leg, the second naming the first in ``linked_basket_ids``.

Exit 0 with the notifications as JSON on the last stdout line; 1 with ``MISMATCH: ...`` on stderr;
2 when async-rithmic is missing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import Any

try:
    from async_rithmic import OrderType, RithmicClient, SysInfraType, TransactionType
except ImportError as exc:  # pragma: no cover - the caller's venv is wrong
    print(f"SETUP: async-rithmic is not importable here ({exc}); see the docstring", file=sys.stderr)
    sys.exit(2)

FIELDS = (
    "notify_type", "user_tag", "basket_id", "original_basket_id", "linked_basket_ids", "bracket_type",
    "transaction_type", "price_type", "price", "trigger_price", "quantity", "status", "is_snapshot",
    "fill_size", "fill_price", "total_fill_size",
)  # fmt: skip


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    client = RithmicClient(
        user=args.user,
        password=os.environ.get("RITHMIC_PASSWORD", ""),
        system_name=args.system,
        app_name="copytui-check",
        app_version="1.0",
        url=args.url,
    )
    client.ssl_context = None  # a loopback ws:// gateway: websockets refuses ssl= on it
    notes: list[dict[str, Any]] = []
    changed = asyncio.Event()

    def seen(kind: str, n: Any) -> None:
        row: dict[str, Any] = {"kind": kind}
        for name in FIELDS:
            if n.DESCRIPTOR.fields_by_name.get(name) is not None:
                row[name] = getattr(n, name)
        notes.append(row)
        changed.set()

    client.on_rithmic_order_notification += lambda n: seen("rithmic", n)
    client.on_exchange_order_notification += lambda n: seen("exchange", n)
    await asyncio.wait_for(client.connect(plants=[SysInfraType.ORDER_PLANT]), args.timeout)
    try:
        answer = await client.submit_order(
            args.tag, args.symbol, args.exchange, qty=2, order_type=OrderType.MARKET,
            transaction_type=TransactionType.BUY, account_id=args.account, stop_ticks=8, target_ticks=12,
        )  # fmt: skip
        if not any(getattr(a, "basket_id", "") for a in answer):
            raise AssertionError(f"the bracket order was answered without a basket_id: {answer}")

        def legs() -> set[str]:
            return {n["basket_id"] for n in notes if n["kind"] == "rithmic" and n.get("original_basket_id")}

        async def both() -> None:
            while len(legs()) < 2 or not any(n.get("linked_basket_ids") for n in notes):
                changed.clear()
                await changed.wait()

        await asyncio.wait_for(both(), args.timeout)
    finally:
        await client.disconnect()
    return notes


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--symbol", required=True)
    parser.add_argument("--exchange", default="CME")
    parser.add_argument("--account", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--system", default="Rithmic Test")
    parser.add_argument("--tag", default="sdkbr")
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args()
    try:
        notes = await run(args)
    except (AssertionError, TimeoutError) as exc:
        print(f"MISMATCH: {exc or 'no two working legs within the timeout'}", file=sys.stderr)
        return 1
    print(json.dumps({"notifications": notes}))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
