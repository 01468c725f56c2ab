"""async-rithmic (a maintained R|Protocol client nobody on copytui wrote) against a Rithmic gateway.

    RITHMIC_PASSWORD=... python check_client.py ws://127.0.0.1:PORT --symbol ESZ5 --exchange CME \
        --account RSIM-1001 --user trader1 --limit-price 4990 [--schema ours.json] [--tag-prefix sdk]

Runs in a venv of its own with ``async-rithmic==1.6.6`` (it pins websockets < 15, which copytui's
test venv cannot take). Two checks:

1. ``--schema``: the message declarations copytui encodes and decodes (field names, numbers, kinds,
   enum members), compared with async-rithmic's generated protobuf classes; each sample body copytui
   encoded is parsed by protobuf and compared field by field, and protobuf's own encoding of it is
   written back (``"protobuf_hex"``) for the caller to decode with copytui's codec.
2. The client: ``RithmicClient`` with its SSL context cleared (a loopback ``ws://`` gateway), the
   order plant only, as a trader's script uses it: log in, list accounts and trade routes,
   subscribe, place a limit order, find it with list_orders, modify it, cancel it, buy at market,
   exit the position, replay the executions; it waits for each order and exchange notification.

Exit 0 when everything matched; 1 with ``MISMATCH: ...`` on stderr naming what did not; 2 when
async-rithmic is missing. The last stdout line is JSON: the tags sent and every notification the
client received, as async-rithmic parsed it, for the caller to compare with copytui's events.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

try:
    from async_rithmic import (
        ExchangeOrderNotificationType,
        OrderType,
        RithmicClient,
        SysInfraType,
        TransactionType,
    )
    from async_rithmic.plants.base import TEMPLATES_MAP
    from google.protobuf.descriptor import FieldDescriptor
except ImportError as exc:  # pragma: no cover - the caller's venv is wrong
    print(f"SETUP: async-rithmic is not importable here ({exc}); see the docstring", file=sys.stderr)
    sys.exit(2)

NOTIFY_OPEN, NOTIFY_MODIFIED, NOTIFY_COMPLETE = 13, 14, 15  # RithmicOrderNotification.NotifyType
SCALARS = {
    "TEXT": {FieldDescriptor.TYPE_STRING},
    "INTEGER": {
        FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_UINT32,
        FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_ENUM,
    },
    "REAL": {FieldDescriptor.TYPE_DOUBLE},
    "FLAG": {FieldDescriptor.TYPE_BOOL},
    "TEXTS": {FieldDescriptor.TYPE_STRING},
    "FLAGS": {FieldDescriptor.TYPE_BOOL},
}  # fmt: skip


class Mismatch(Exception):
    """What copytui declares or a gateway does that async-rithmic does not expect."""


def expect(cond: object, what: str) -> None:
    if not cond:
        raise Mismatch(what)


def repeated(fd: Any) -> bool:
    return bool(fd.is_repeated) if hasattr(fd, "is_repeated") else fd.label == FieldDescriptor.LABEL_REPEATED


# ----------------------------------------------------------------------------- 1. the declarations


def check_schema(schema: dict[str, Any]) -> list[dict[str, Any]]:
    problems: list[str] = []
    for m in schema["messages"]:
        cls = TEMPLATES_MAP.get(m["template"])
        if cls is None:
            problems.append(f"template {m['template']} ({m['name']}) is not one async-rithmic knows")
            continue
        if cls.DESCRIPTOR.name != m["name"]:
            problems.append(
                f"template {m['template']} is {cls.DESCRIPTOR.name} in async-rithmic, {m['name']} in copytui"
            )
        for f in m["fields"]:
            fd = cls.DESCRIPTOR.fields_by_name.get(f["name"])
            where = f"{m['name']}.{f['name']}"
            if fd is None:
                problems.append(f"{where}: async-rithmic's {m['name']} has no such field")
            elif fd.number != f["number"]:
                problems.append(f"{where}: field number {f['number']} in copytui, {fd.number} in async-rithmic")
            elif fd.type not in SCALARS[f["kind"]] or repeated(fd) != (f["kind"] in ("TEXTS", "FLAGS")):
                problems.append(f"{where}: copytui reads it as {f['kind']}, async-rithmic declares type {fd.type}")
    for e in schema["enums"]:
        cls = next(c for c in TEMPLATES_MAP.values() if c.DESCRIPTOR.name == e["message"])
        values = {v.name: v.number for v in cls.DESCRIPTOR.fields_by_name[e["field"]].enum_type.values}
        for name, number in e["members"].items():
            found = [values[name]] if name in values else [n for v, n in values.items() if v.endswith(f"_{name}")]
            if found != [number]:
                problems.append(f"{e['message']}.{e['field']}: {name}={number} in copytui, async-rithmic has {values}")
    samples = []
    for s in schema["samples"]:
        cls = TEMPLATES_MAP[s["template"]]
        msg = cls()
        msg.ParseFromString(bytes.fromhex(s["hex"]))
        for name, want in s["values"].items():
            got = list(getattr(msg, name)) if isinstance(want, list) else getattr(msg, name)
            if got != want:
                problems.append(f"{cls.__name__}.{name}: copytui wrote {want!r}, protobuf read {got!r}")
        expect(msg.template_id == s["template"], f"{cls.__name__}: template_id read as {msg.template_id}")
        samples.append({"template": s["template"], "protobuf_hex": msg.SerializeToString().hex()})
    if problems:
        raise Mismatch("schema: " + "; ".join(problems[:20]))
    return samples


# ----------------------------------------------------------------------------- 2. the client


class Seen:
    def __init__(self) -> None:
        self.notes: list[dict[str, Any]] = []
        self.changed = asyncio.Event()

    def add(self, kind: str, n: Any) -> None:
        row = {"kind": kind, "template": n.template_id}
        for name in (
            "notify_type", "user_tag", "basket_id", "account_id", "symbol", "exchange", "quantity", "price",
            "trigger_price", "transaction_type", "price_type", "status", "completion_reason", "is_snapshot",
            "fill_id", "fill_size", "fill_price", "total_fill_size", "total_unfilled_size", "avg_fill_price",
        ):  # fmt: skip
            if n.DESCRIPTOR.fields_by_name.get(name) is not None:
                row[name] = getattr(n, name)
        self.notes.append(row)
        self.changed.set()

    async def wait(self, what: str, pred: Any, timeout: float) -> dict[str, Any]:
        async def found() -> dict[str, Any]:
            while True:
                for row in self.notes:
                    if pred(row):
                        return row
                self.changed.clear()
                await self.changed.wait()

        try:
            return await asyncio.wait_for(found(), timeout)
        except TimeoutError:
            raise Mismatch(f"no {what} notification within {timeout}s") from None


async def run_client(args: argparse.Namespace) -> dict[str, Any]:
    client = RithmicClient(
        user=args.user,
        password=os.environ.get("RITHMIC_PASSWORD", ""),
        system_name=args.system,
        app_name="copytui-check",
        app_version="1.0",
        url=args.url,
    )
    client.ssl_context = None  # a loopback ws:// gateway: websockets refuses ssl= on it
    seen = Seen()
    client.on_rithmic_order_notification += lambda n: seen.add("rithmic", n)
    client.on_exchange_order_notification += lambda n: seen.add("exchange", n)
    await asyncio.wait_for(client.connect(plants=[SysInfraType.ORDER_PLANT]), args.timeout)
    try:
        accounts = [a.account_id for a in client.accounts]
        expect(args.account in accounts, f"account {args.account} not in the account list {accounts}")
        routes = [(r.exchange, r.trade_route) for r in client.plants["order"].trade_routes]
        expect(any(e == args.exchange and r for e, r in routes), f"no trade route for {args.exchange}: {routes}")
        expect(client.fcm_id and client.ib_id, "login info without fcm_id / ib_id")
        acct, t = args.account, args.timeout
        lim, mkt = f"{args.tag_prefix}lim", f"{args.tag_prefix}mkt"

        answer = await client.submit_order(
            lim, args.symbol, args.exchange, qty=1, order_type=OrderType.LIMIT,
            transaction_type=TransactionType.BUY, price=args.limit_price, account_id=acct,
        )  # fmt: skip
        expect(any(a.basket_id for a in answer), f"new order answered without a basket_id: {answer}")
        await seen.wait(
            "OPEN", lambda r: r["user_tag"] == lim and r.get("notify_type") == NOTIFY_OPEN and r["kind"] == "rithmic", t
        )
        listed = [o for o in await client.list_orders(account_id=acct) if o.user_tag == lim]
        expect(len(listed) == 1 and listed[0].price == args.limit_price, f"list_orders did not show {lim} at its price")
        await client.modify_order(order_id=lim, account_id=acct, price=args.limit_price - args.tick)
        await seen.wait(
            "MODIFIED",
            lambda r: r["user_tag"] == lim and r["kind"] == "rithmic" and r["notify_type"] == NOTIFY_MODIFIED,
            t,
        )
        await client.cancel_order(order_id=lim, account_id=acct)
        await seen.wait(
            "COMPLETE",
            lambda r: r["user_tag"] == lim and r["kind"] == "rithmic" and r["notify_type"] == NOTIFY_COMPLETE,
            t,
        )
        expect(
            not [o for o in await client.list_orders(account_id=acct) if o.user_tag == lim],
            "cancelled order still listed",
        )

        await client.submit_order(
            mkt, args.symbol, args.exchange, qty=2, order_type=OrderType.MARKET,
            transaction_type=TransactionType.BUY, account_id=acct,
        )  # fmt: skip
        fill = ExchangeOrderNotificationType.FILL
        await seen.wait(
            "FILL", lambda r: r["user_tag"] == mkt and r.get("notify_type") == fill and r["total_fill_size"] == 2, t
        )
        await client.exit_position(symbol=args.symbol, exchange=args.exchange, account_id=acct)
        await seen.wait(
            "exit FILL",
            lambda r: r.get("notify_type") == fill and r["transaction_type"] == 2 and r["total_fill_size"] == 2,
            t,
        )
        now = datetime.now(UTC)
        await client.replay_executions(now - timedelta(hours=1), now + timedelta(minutes=1), account_id=acct)
        live = {
            (r["basket_id"], r["fill_id"]) for r in seen.notes if r.get("notify_type") == fill and not r["is_snapshot"]
        }

        def replayed(_: dict[str, Any]) -> bool:
            again = {
                (r["basket_id"], r["fill_id"]) for r in seen.notes if r.get("notify_type") == fill and r["is_snapshot"]
            }
            return again >= live

        await seen.wait("replay of every fill seen live", replayed, t)
    finally:
        await client.disconnect()
    return {"tags": [lim, mkt], "accounts": accounts, "notifications": seen.notes}


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--symbol", required=True)
    parser.add_argument("--exchange", default="CME")
    parser.add_argument("--account", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--system", default="Rithmic Test")
    parser.add_argument("--limit-price", type=float, required=True)
    parser.add_argument("--tick", type=float, default=0.25)
    parser.add_argument("--schema")
    parser.add_argument("--tag-prefix", default="sdk")
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--schema-only", action="store_true")
    args = parser.parse_args()
    out: dict[str, Any] = {"passed": False}
    try:
        if args.schema:
            with open(args.schema, encoding="utf-8") as fh:
                out["samples"] = check_schema(json.load(fh))
        if not args.schema_only:
            out.update(await run_client(args))
    except Mismatch as exc:
        print(f"MISMATCH: {exc}", file=sys.stderr)
        print(json.dumps(out))
        return 1
    out["passed"] = True
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
