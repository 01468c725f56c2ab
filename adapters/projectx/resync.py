"""What the account already had, and what happened while the user hub was away, read over REST.

:func:`baseline` runs once, at the first connect: the account's recent trades and working orders
become known to the translator without being reported, so an old trade or an order placed before
copytui started is never mistaken for new leader activity. :func:`resync` runs each time the hub
is subscribed again: it feeds missed trades, the open orders, the orders that ended meanwhile and
the positions through the same translator, which reports only what is new.
"""

from __future__ import annotations

import contextlib
import time
from datetime import UTC, datetime, timedelta

from adapters.projectx import contracts, searches
from adapters.projectx.intake import Intake
from adapters.projectx.payloads import GwOrder, GwTrade
from adapters.projectx.rest import GatewayRest


async def baseline(rest: GatewayRest, intake: Intake, since: datetime) -> None:
    tr = intake.translator
    for raw in await searches.trades_since(rest, tr.account_id, since):
        if (t := intake.valid(GwTrade, raw, "Trade/search")) is not None and t.accountId == tr.account_id:
            tr.on_trade(t)
    for raw in await searches.open_orders(rest, tr.account_id):
        if (o := intake.valid(GwOrder, raw, "Order/searchOpen")) is not None and o.accountId == tr.account_id:
            tr.on_order(o)


async def resync(rest: GatewayRest, intake: Intake, session_start: datetime, lookback: timedelta) -> None:
    tr = intake.translator
    now_ns = time.perf_counter_ns()
    since = datetime.fromtimestamp(tr.last_trade_ns / 1e9, UTC) if tr.last_trade_ns else session_start
    # a generous window: trades already seen are known by id, so overlap costs nothing
    for raw in await searches.trades_since(rest, tr.account_id, min(since, session_start) - timedelta(minutes=5)):
        intake.handle("GatewayUserTrade", raw, now_ns)
    open_ids = set()
    for raw in await searches.open_orders(rest, tr.account_id):
        if isinstance(raw, dict) and isinstance(raw.get("id"), int):
            open_ids.add(raw["id"])
        intake.handle("GatewayUserOrder", raw, now_ns)
    gone = [oid for oid in tr.working_ids() if oid not in open_ids]
    if gone:
        for raw in await searches.orders_since(rest, tr.account_id, session_start - lookback):
            if isinstance(raw, dict) and raw.get("id") in gone:
                intake.handle("GatewayUserOrder", raw, now_ns)
    held = set()
    for raw in await searches.open_positions(rest, tr.account_id):
        intake.handle("GatewayUserPosition", raw, now_ns)
        with contextlib.suppress(contracts.ContractError):
            if isinstance(raw, dict):
                held.add(contracts.symbol_of(raw.get("contractId")))
    for sym in list(tr.positions):
        if sym not in held:
            intake.emit(tr.flat(sym, now_ns))
