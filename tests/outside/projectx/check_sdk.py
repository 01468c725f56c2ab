"""project-x-py (a maintained ProjectX client nobody on copytui wrote) against a ProjectX gateway.

    python3.12 check_sdk.py http://127.0.0.1:PORT [--account PRAC-1001] [--tag-prefix sdk]

Runs in a Python 3.12 venv of its own with ``project-x-py==4.4.1`` (it needs Python >= 3.12;
copytui's own venv may be older), pointed at a gateway's base URL: REST under ``/api``, hubs at
``/hubs/user`` and ``/hubs/market`` (project-x-py takes these through ``ProjectXConfig``, or the
``PROJECTX_API_URL`` / ``PROJECTX_USER_HUB_URL`` / ``PROJECTX_MARKET_HUB_URL`` variables; plain
http is allowed only for localhost / 127.0.0.1). It does what a trader's script does: log in,
search accounts, resolve a contract by search and by id, subscribe to the user and market hubs,
place / modify / cancel a limit order, buy and sell at market, and waits for the realtime order,
trade, position and quote events, each read through project-x-py's own models.

Exit 0 when everything matched; 1 with ``MISMATCH: ...`` on stderr naming the first step that did
not; 2 when project-x-py is missing. The last stdout line is JSON: the custom tags and order ids
it sent, for the caller to find in the gateway's audit log.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Callable
from typing import Any

try:
    from project_x_py import (
        ConfigManager,
        EventBus,
        Instrument,
        Order,
        OrderManager,
        Position,
        ProjectX,
        ProjectXConfig,
        ProjectXRealtimeClient,
        Trade,
    )
except ImportError as exc:  # pragma: no cover - the caller's venv is wrong
    print(f"SETUP: project-x-py is not importable here ({exc}); see the docstring", file=sys.stderr)
    sys.exit(2)


class Mismatch(Exception):
    """What the gateway did that project-x-py, or the ProjectX documentation, does not expect."""


def expect(cond: object, what: str) -> None:
    if not cond:
        raise Mismatch(what)


def unwrap(payload: Any) -> dict[str, Any]:
    """A user-hub payload comes bare or as {"action": n, "data": {...}} (project-x-py takes both)."""
    if isinstance(payload, list) and payload:
        payload = payload[0]
    if isinstance(payload, dict) and "data" in payload and "action" in payload:
        payload = payload["data"]
    if not isinstance(payload, dict):
        raise Mismatch(f"a user-hub payload is not a JSON object: {payload!r:.200}")
    return payload


class Events:
    """Every realtime event project-x-py handed to its callbacks, and a way to wait for one."""

    def __init__(self, timeout_s: float, log_level: int) -> None:
        self.timeout_s = timeout_s
        self.log_level = log_level
        self.seen: dict[str, list[Any]] = {"order_update": [], "trade_execution": [], "position_update": []}
        self.seen["quote_update"] = []
        self._changed = asyncio.Event()

    def callback(self, kind: str) -> Callable[[Any], Any]:
        async def on_event(data: Any) -> None:
            self.seen[kind].append(data)
            self._changed.set()

        return on_event

    async def wait(self, what: str, found: Callable[[], Any]) -> Any:
        try:
            async with asyncio.timeout(self.timeout_s):
                while not (hit := found()):
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            counts = {k: len(v) for k, v in self.seen.items()}
            raise Mismatch(f"no {what} within {self.timeout_s:.0f}s (events seen: {counts})") from None
        return hit

    def orders(self, order_id: int) -> list[Order]:
        out = []
        for raw in self.seen["order_update"]:
            data = unwrap(raw)
            if data.get("id") == order_id:
                out.append(Order.from_api(data))
        return out

    def trades(self, order_id: int) -> list[Trade]:
        return [Trade.from_api(d) for d in map(unwrap, self.seen["trade_execution"]) if d.get("orderId") == order_id]

    def positions(self, contract_id: str) -> list[Position]:
        return [
            Position.from_api(d)
            for d in map(unwrap, self.seen["position_update"])
            if d.get("contractId") == contract_id
        ]


def quiet_sdk(level: int) -> None:
    """project-x-py logs INFO lines to stdout from every module: keep stdout for this check's own lines."""
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if name.startswith("project_x_py") and isinstance(logger, logging.Logger):
            logger.setLevel(level)
            for handler in logger.handlers:
                if isinstance(handler, logging.StreamHandler) and handler.stream is sys.stdout:
                    handler.setStream(sys.stderr)


def config_for(base: str) -> ProjectXConfig:
    config = ProjectXConfig(
        api_url=f"{base}/api",
        realtime_url=base,
        user_hub_url=f"{base}/hubs/user",
        market_hub_url=f"{base}/hubs/market",
        timeout_seconds=20,
    )
    expect(ConfigManager().validate_config(config), f"project-x-py refuses the URLs of {base}")
    return config


async def check(
    base: str, account_name: str | None, tag_prefix: str, timeout_s: float, log_level: int
) -> dict[str, Any]:
    config = config_for(base)
    sent: dict[str, Any] = {"tags": [], "order_ids": []}
    async with ProjectX(username="sdk-check", api_key="sim-key", config=config, account_name=account_name) as client:
        await client.authenticate()
        account = client.account_info
        expect(account is not None, "authenticate() selected no account")
        assert account is not None
        print(f"ok login and account search: {account.name} (id {account.id})", flush=True)
        accounts = await client.list_accounts()
        expect(any(a.id == account.id for a in accounts), f"list_accounts() lacks {account.id}: {accounts}")

        by_search: Instrument = await client.get_instrument("MES")
        expect(by_search.id.startswith("CON.F.US.MES."), f"get_instrument('MES') gave {by_search.id}")
        expect(abs(by_search.tickSize - 0.25) < 1e-9, f"MES tick size {by_search.tickSize}, expected 0.25")
        by_id: Instrument = await client.get_instrument(by_search.id)
        expect(by_id == by_search, f"Contract/searchById gave {by_id}, Contract/search gave {by_search}")
        listed = await client.search_instruments("MNQ")
        expect(any(i.id.startswith("CON.F.US.MNQ.") for i in listed), f"search_instruments('MNQ') gave {listed}")
        contract = by_search.id
        print(f"ok contract search and searchById: {contract}", flush=True)

        events = Events(timeout_s, log_level)
        realtime = ProjectXRealtimeClient(client.get_session_token(), str(account.id), config=config)
        for kind in events.seen:
            await realtime.add_callback(kind, events.callback(kind))
        orders = OrderManager(client, EventBus())
        try:
            expect(await realtime.connect(), "the realtime client did not connect to both hubs")
            expect(await realtime.subscribe_user_updates(), "subscribe_user_updates() failed")
            expect(await realtime.subscribe_market_data([contract]), "subscribe_market_data() failed")
            expect(await orders.initialize(realtime_client=realtime), "OrderManager.initialize() failed")
            quiet_sdk(events.log_level)  # loggers made while connecting
            print("ok user and market hubs", flush=True)
            quote = await events.wait(
                f"GatewayQuote for {contract}",
                lambda: next((q for q in events.seen["quote_update"] if q.get("contract_id") == contract), None),
            )
            data = quote["data"]
            bid, ask, last = data.get("bestBid"), data.get("bestAsk"), data.get("lastPrice")
            expect(
                all(isinstance(v, int | float) for v in (bid, ask, last)) and bid <= ask,
                f"quote without a sane bestBid/bestAsk/lastPrice: {data}",
            )
            print(f"ok quote {bid} / {ask} last {last}", flush=True)
            await limit_order_life(orders, events, contract, float(bid), f"{tag_prefix}lim", sent)
            await market_round_trip(client, orders, events, contract, f"{tag_prefix}mkt", sent)
        finally:
            await orders.cleanup()
            await realtime.cleanup()
    return sent


async def limit_order_life(
    orders: OrderManager, events: Events, contract: str, bid: float, tag: str, sent: dict[str, Any]
) -> None:
    price = round((bid - 50.0) * 4) / 4  # far below the market: it rests
    placed = await orders.place_order(contract, order_type=1, side=0, size=1, limit_price=price, custom_tag=tag)
    expect(placed is not None and placed.success and placed.orderId, f"place_order (limit) answered {placed}")
    oid = placed.orderId
    sent["tags"].append(tag)
    sent["order_ids"].append(oid)
    first = await events.wait(f"an order_update for order {oid}", lambda: events.orders(oid))
    expect(first[0].status == 1 and first[0].customTag == tag, f"the new order came as {first[0]}")
    expect(first[0].limitPrice == price, f"limit price {first[0].limitPrice}, placed at {price}")
    print(f"ok limit order {oid} open at {price}", flush=True)

    lower = price - 0.25
    expect(await orders.modify_order(oid, limit_price=lower), f"modify_order({oid}) failed")
    await events.wait(f"order {oid} at {lower}", lambda: any(o.limitPrice == lower for o in events.orders(oid)))
    print(f"ok modified to {lower}", flush=True)

    expect(await orders.cancel_order(oid), f"cancel_order({oid}) failed")
    gone = await events.wait(f"order {oid} cancelled", lambda: [o for o in events.orders(oid) if o.status == 3])
    expect(gone[0].is_terminal and gone[0].is_cancelled, f"the cancelled order came as {gone[0]}")
    open_ids = [o.id for o in await orders.search_open_orders()]
    expect(oid not in open_ids, f"order {oid} still listed open after its cancel: {open_ids}")
    print(f"ok cancelled {oid}", flush=True)


async def market_round_trip(
    client: ProjectX, orders: OrderManager, events: Events, contract: str, tag: str, sent: dict[str, Any]
) -> None:
    for side, size, want, name in ((0, 2, 2, "buy"), (1, 2, 0, "sell")):
        placed = await orders.place_order(contract, order_type=2, side=side, size=size, custom_tag=f"{tag}{name}")
        expect(placed is not None and placed.success and placed.orderId, f"place_order (market) answered {placed}")
        oid = placed.orderId
        sent["tags"].append(f"{tag}{name}")
        sent["order_ids"].append(oid)
        done = await events.wait(f"order {oid} filled", lambda oid=oid: [o for o in events.orders(oid) if o.is_filled])
        expect(done[-1].fillVolume == size, f"the filled order came as {done[-1]}")
        trades = await events.wait(
            f"trades of order {oid} adding to {size}",
            lambda oid=oid, size=size: events.trades(oid) if sum(t.size for t in events.trades(oid)) >= size else None,
        )
        expect(sum(t.size for t in trades) == size, f"trades of order {oid} add to more than {size}: {trades}")
        expect(all(t.side == side and not t.voided for t in trades), f"trades of order {oid}: {trades}")
        expect(all(t.price > 0 for t in trades), f"trade prices of order {oid}: {trades}")
        pos = await events.wait(
            f"a position update to {want} in {contract}",
            lambda want=want: [p for p in events.positions(contract) if p.size == want],
        )
        if want:
            expect(pos[-1].is_long and pos[-1].averagePrice > 0, f"the position came as {pos[-1]}")
            held = [p for p in await client.search_open_positions() if p.contractId == contract]
            expect(len(held) == 1 and held[0].signed_size == want, f"Position/searchOpen says {held}")
        print(f"ok market {name} {size}: order {oid}, {len(trades)} trade(s), position {want}", flush=True)
    held = [p for p in await client.search_open_positions() if p.contractId == contract]
    expect(not held, f"Position/searchOpen still lists {held} after the round trip")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="the gateway's base URL, e.g. http://127.0.0.1:8123 (no /api)")
    parser.add_argument("--account", default=None, help="account name to trade (default: the first one)")
    parser.add_argument("--tag-prefix", default="sdk", help="prefix of the customTags sent")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for each event")
    parser.add_argument("--verbose", action="store_true", help="project-x-py's INFO logs too (on stderr)")
    args = parser.parse_args(argv)
    level = logging.INFO if args.verbose else logging.WARNING
    quiet_sdk(level)
    try:
        sent = asyncio.run(check(args.url.rstrip("/"), args.account, args.tag_prefix, args.timeout, level))
    except Mismatch as exc:
        print(f"MISMATCH: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # project-x-py raising is a mismatch too: say which and where
        print(f"MISMATCH: project-x-py raised {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"passed": True, **sent}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
