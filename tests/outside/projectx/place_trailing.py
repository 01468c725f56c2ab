"""project-x-py (a ProjectX client nobody on copytui wrote) places, resizes and re-trails a trailing
stop on a ProjectX gateway, as a trader's own script would.

    python3.12 place_trailing.py http://127.0.0.1:PORT [--trail 5] [--new-trail 6]

Run by tests/adapters/test_projectx_trailing.py with the interpreter COPYTUI_PX_SDK_PYTHON names
(project-x-py needs Python >= 3.12: a venv of its own, see test_projectx_sdk.py). The script
sells 2 MES with ``place_trailing_stop_order`` (type 5, ``trailPrice`` = the trail), resizes it to
1 with ``modify_order(size=...)``, gives it a new trail with ``modify_order(trail_price=...)``, and
reads it back with ``search_open_orders``. What the gateway did with each request is for the caller
to read in the gateway's audit log and its book; the SDK's own answers are checked here.

Exit 0 with ``{"passed": true, "order_id": N}`` as the last stdout line; 1 with ``MISMATCH: ...``
on stderr; 2 when project-x-py is missing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from typing import Any

try:
    from project_x_py import EventBus, OrderManager, ProjectX, ProjectXConfig
except ImportError as exc:  # pragma: no cover - the caller's venv is wrong
    print(f"SETUP: project-x-py is not importable here ({exc}); see the docstring", file=sys.stderr)
    sys.exit(2)


class Mismatch(Exception):
    """What the gateway answered that project-x-py's trader would not expect."""


def expect(cond: object, what: str) -> None:
    if not cond:
        raise Mismatch(what)


async def run(base: str, trail: float, new_trail: float) -> dict[str, Any]:
    config = ProjectXConfig(
        api_url=f"{base}/api",
        realtime_url=base,
        user_hub_url=f"{base}/hubs/user",
        market_hub_url=f"{base}/hubs/market",
        timeout_seconds=20,
    )
    async with ProjectX(username="sdk-trail", api_key="sim-key", config=config) as client:
        await client.authenticate()
        contract = (await client.get_instrument("MES")).id
        orders = OrderManager(client, EventBus())
        placed = await orders.place_trailing_stop_order(contract, 1, 2, trail)
        expect(placed is not None and placed.success and placed.orderId, f"place_trailing_stop_order: {placed}")
        oid = placed.orderId
        expect(await orders.modify_order(oid, size=1), f"modify_order({oid}, size=1) failed")
        expect(await orders.modify_order(oid, trail_price=new_trail), f"modify_order({oid}, trail_price) failed")
        found = [o for o in await orders.search_open_orders() if o.id == oid]
        expect(len(found) == 1, f"search_open_orders() lacks order {oid}")
        expect((found[0].type, found[0].side, found[0].size) == (5, 1, 1), f"the order reads back as {found[0]}")
        return {"order_id": oid}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("url", help="the gateway's base URL, e.g. http://127.0.0.1:8123 (no /api)")
    parser.add_argument("--trail", type=float, default=5.0)
    parser.add_argument("--new-trail", type=float, default=6.0)
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)  # project-x-py logs INFO to stdout: keep stdout for the result line
    try:
        result = asyncio.run(run(args.url.rstrip("/"), args.trail, args.new_trail))
    except Mismatch as exc:
        print(f"MISMATCH: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # project-x-py raising is a mismatch too: say which
        print(f"MISMATCH: project-x-py raised {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"passed": True, **result}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
