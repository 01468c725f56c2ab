"""The gateway's searches for one account, as raw payload lists (validated by the caller, one by one,
so that one bad entry costs only itself): open orders, orders and trades since a time, open
positions, the account's id by its name, and the active contract of a symbol."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from adapters.base import AuthFailed, BrokerError
from adapters.projectx import contracts
from adapters.projectx.rest import GatewayRest
from copytui.instruments import instrument


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def _list(rest: GatewayRest, path: str, key: str, what: str, body: dict[str, Any]) -> list[Any]:
    data = await rest.read(path, body, what=what)
    items = data.get(key)
    if not isinstance(items, list):
        raise BrokerError(f"ProjectX {what} answer has no '{key}' list")
    return items


async def open_orders(rest: GatewayRest, account_id: int | None) -> list[Any]:
    return await _list(rest, "/api/Order/searchOpen", "orders", "open order search", {"accountId": account_id})


async def orders_since(rest: GatewayRest, account_id: int | None, start: datetime) -> list[Any]:
    body = {"accountId": account_id, "startTimestamp": iso(start), "endTimestamp": None}
    return await _list(rest, "/api/Order/search", "orders", "order search", body)


async def trades_since(rest: GatewayRest, account_id: int | None, start: datetime) -> list[Any]:
    body = {"accountId": account_id, "startTimestamp": iso(start), "endTimestamp": None}
    return await _list(rest, "/api/Trade/search", "trades", "trade search", body)


async def open_positions(rest: GatewayRest, account_id: int | None) -> list[Any]:
    return await _list(rest, "/api/Position/searchOpen", "positions", "position search", {"accountId": account_id})


async def account_id_of(rest: GatewayRest, name: str | None) -> int:
    """The id of the user's active account called ``name``; AuthFailed naming the ones it has."""
    data = await rest.read("/api/Account/search", {"onlyActiveAccounts": True}, what="account search")
    accounts = data.get("accounts")
    if not isinstance(accounts, list):
        raise BrokerError("ProjectX Account/search answer has no 'accounts' list")
    names = [a.get("name") for a in accounts if isinstance(a, dict)]
    for a in accounts:
        if isinstance(a, dict) and a.get("name") == name and isinstance(a.get("id"), int):
            return int(a["id"])
    have = ", ".join(map(str, names)) or "none"
    raise AuthFailed(f"ProjectX user has no active account named {name!r}; it has: {have}")


async def active_contract(rest: GatewayRest, symbol: str) -> str:
    """The active contract of a copytui symbol, by Contract/search; its tick size must be copytui's."""
    data = await rest.read("/api/Contract/search", {"searchText": symbol, "live": False}, what="contract search")
    found = data.get("contracts")
    if not isinstance(found, list):
        raise BrokerError("ProjectX Contract/search answer has no 'contracts' list")
    for c in found:
        if not isinstance(c, dict) or not c.get("activeContract", True):
            continue
        try:
            if contracts.symbol_of(c.get("id"), "Contract/search id") != symbol:
                continue
        except contracts.ContractError:
            continue
        tick = c.get("tickSize")
        if isinstance(tick, int | float) and abs(tick - instrument(symbol).tick_size) > 1e-9:
            raise BrokerError(
                f"ProjectX says {c['id']} ticks by {tick}, copytui expects {instrument(symbol).tick_size}"
            )
        return str(c["id"])
    raise BrokerError(
        f"ProjectX has no active {symbol} contract; set options.contracts, e.g. {symbol}="
        f"{contracts.contract_for(symbol, 'H25')}"
    )
