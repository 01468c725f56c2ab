"""The gateway's REST trading endpoints of the simulator: accounts, contracts, orders, positions and
trades over the paper exchange, answered as the gateway answers (``{..., success, errorCode,
errorMessage}``; a body the gateway could not bind is an HTTP 400 naming the field). A TrailingStop
(type 5) is the paper exchange's trailing stop, ``trailPrice`` its trail: a positive distance in
price units, the reading copytui chose (see adapters/projectx/orders.py); a ``trailPrice`` missing,
not above 0, off the tick grid or as large as the market price (a price, not a distance) is refused
naming it.

:class:`GatewayTrading` is mixed into :class:`adapters.projectx.simulator.ProjectXSimulator`,
which owns the state it reads; this module holds only the endpoints' logic.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

from adapters.base import OrderRejected
from adapters.paper.exchange import Faults, PaperExchange, PaperOrder
from adapters.projectx import contracts
from adapters.projectx.payloads import GwType
from adapters.projectx.sim_book import GatewayBook, gateway_order_id, iso
from copytui.instruments import INSTRUMENTS
from copytui.models import OrderType, Side

_TYPES = {
    GwType.LIMIT: OrderType.LIMIT,
    GwType.MARKET: OrderType.MARKET,
    GwType.STOP: OrderType.STOP,
    GwType.STOP_LIMIT: OrderType.STOP_LIMIT,
    GwType.TRAILING_STOP: OrderType.TRAILING_STOP,
}


class BadRequest(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def answer_ok(**kw: Any) -> dict[str, Any]:
    return {**kw, "success": True, "errorCode": 0, "errorMessage": None}


def answer_fail(code: int, message: str, **kw: Any) -> dict[str, Any]:
    return {**kw, "success": False, "errorCode": code, "errorMessage": message}


def body_field(body: dict[str, Any], name: str, kind: type | tuple[type, ...], *, required: bool = True) -> Any:
    value = body.get(name)
    if value is None:
        if required:
            raise BadRequest(name, "The field is required.")
        return None
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise BadRequest(name, f"expected {kind}, got a boolean")
    if not isinstance(value, kind):
        raise BadRequest(name, f"could not convert {value!r} to {getattr(kind, '__name__', kind)}")
    return value


def body_timestamp(body: dict[str, Any], name: str, *, required: bool) -> int | None:
    raw = body_field(body, name, str, required=required)
    if raw is None:
        return None
    try:
        dt = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(name, f"{raw!r} is not an ISO 8601 date-time") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1e9)


class GatewayTrading:
    """The trading endpoints; each takes the JSON body and the user, and returns the JSON answer."""

    exchange: PaperExchange
    accounts: dict[int, str]
    account_ids: dict[str, int]
    book: GatewayBook
    contract_month: str
    place_stall_s: float
    trade_search_stall_s: float

    def contract_of(self, symbol: str) -> str:
        return contracts.contract_for(symbol, self.contract_month)

    def _account(self, body: dict[str, Any]) -> str | None:
        return self.accounts.get(body_field(body, "accountId", int))

    async def _account_search(self, body: dict[str, Any], _user: str) -> dict[str, Any]:
        body_field(body, "onlyActiveAccounts", bool)
        out = [
            {
                "id": aid,
                "name": name,
                "balance": self.exchange.accounts[name].balance,
                "canTrade": True,
                "isVisible": True,
                "simulated": True,
            }
            for aid, name in self.accounts.items()
        ]
        return answer_ok(accounts=out)

    def _contract(self, sym: str) -> dict[str, Any]:
        inst = INSTRUMENTS[sym]
        return {
            "id": self.contract_of(sym),
            "name": f"{sym}{self.contract_month[0]}{self.contract_month[-1]}",
            "description": f"{inst.description}: {self.contract_month}",
            "tickSize": inst.tick_size,
            "tickValue": inst.tick_value,
            "activeContract": True,
            "symbolId": f"F.US.{contracts.PRODUCT_CODES[sym]}",
        }

    async def _contract_search(self, body: dict[str, Any], _user: str) -> dict[str, Any]:
        text = (body_field(body, "searchText", str, required=False) or "").upper()
        body_field(body, "live", bool)
        found = []
        for sym in INSTRUMENTS:
            if text and text not in (sym, contracts.PRODUCT_CODES[sym]) and not sym.startswith(text):
                continue
            found.append(self._contract(sym))
        return answer_ok(contracts=found)

    async def _contract_by_id(self, body: dict[str, Any], _user: str) -> dict[str, Any]:
        """``{contractId}`` -> ``{contract}``: what project-x-py's get_instrument asks first."""
        sym, refusal = self._symbol(body_field(body, "contractId", str))
        if refusal is not None:
            return {**refusal, "contract": None}
        assert sym is not None
        return answer_ok(contract=self._contract(sym))

    def _contract_refusal(self, contract_id: str) -> str | None:
        """Why a hub may not subscribe to this contract, or None."""
        _, refusal = self._symbol(contract_id)
        return None if refusal is None else str(refusal["errorMessage"])

    def _symbol(self, contract_id: str) -> tuple[str | None, dict[str, Any] | None]:
        try:
            sym = contracts.symbol_of(contract_id)
        except contracts.ContractError as exc:
            return None, answer_fail(8, f"Contract not found: {exc}")
        if contract_id != self.contract_of(sym):
            return None, answer_fail(
                9, f"Contract {contract_id} is not active; the active {sym} contract is {self.contract_of(sym)}"
            )
        return sym, None

    async def _latency(self, name: str) -> None:
        ms = self.exchange.accounts[name].faults.latency_ms
        if ms:
            await asyncio.sleep(ms / 2000.0)

    async def _place(self, body: dict[str, Any], _user: str) -> dict[str, Any]:
        name = self._account(body)
        contract_id = body_field(body, "contractId", str)
        raw_type = body_field(body, "type", int)
        side = body_field(body, "side", int)
        size = body_field(body, "size", int)
        limit = body_field(body, "limitPrice", (int, float), required=False)
        stop = body_field(body, "stopPrice", (int, float), required=False)
        trail = body_field(body, "trailPrice", (int, float), required=False)
        tag = body_field(body, "customTag", str, required=False)
        if name is None:
            return answer_fail(1, "Account not found.", orderId=None)
        if side not in (0, 1):
            raise BadRequest("side", f"{side} is not a valid OrderSide (0 bid, 1 ask)")
        try:
            gw_type = GwType(raw_type)
        except ValueError:
            gw_type = GwType.UNKNOWN
        if gw_type in (GwType.UNKNOWN, GwType.UNSPECIFIED):  # copytui's own sentinels are no order type
            raise BadRequest("type", f"{raw_type} is not a valid OrderType")
        if gw_type not in _TYPES:
            return answer_fail(2, f"order type {gw_type.name} is not simulated", orderId=None)
        sym, refusal = self._symbol(contract_id)
        if refusal is not None:
            return {**refusal, "orderId": None}
        assert sym is not None
        if gw_type is GwType.TRAILING_STOP:
            why = self._trail_refusal(sym, side, trail)
            if why is not None:
                return answer_fail(2, why, orderId=None)
        acct = self.exchange.accounts[name]
        if tag is not None and tag in acct.by_client_id:
            acct.submissions.append(tag)
            return answer_fail(
                2, f"customTag {tag!r} is already used on account {body['accountId']}: it must be unique", orderId=None
            )
        await self._latency(name)
        try:
            order = self.exchange.submit(
                name,
                symbol=sym,
                side=Side.BUY if side == 0 else Side.SELL,
                qty=size,
                order_type=_TYPES[gw_type],
                price=limit,
                stop_price=stop,
                client_order_id=tag,
                trail=float(trail) if gw_type is GwType.TRAILING_STOP and trail is not None else None,
            )
        except OrderRejected as exc:
            await self._latency(name)
            return answer_fail(2, str(exc), orderId=None)
        if self.place_stall_s:
            await asyncio.sleep(self.place_stall_s)
        await self._latency(name)
        return answer_ok(orderId=gateway_order_id(order.id))

    def _trail_refusal(self, sym: str, side: int, trail: float | None) -> str | None:
        """Why the simulator refuses a TrailingStop's ``trailPrice`` (copytui's reading made strict)."""
        if trail is None:
            return "trailPrice: a TrailingStop (type 5) needs its trail, a distance from the market in price units"
        bid, ask = self.exchange.quote(sym)
        touch = ask if side == 0 else bid
        tick = INSTRUMENTS[sym].tick_size
        if not trail > 0:
            return f"trailPrice {trail:g}: the simulator takes it as a positive distance in price units"
        if trail >= touch:
            return f"trailPrice {trail:g} reads as a price (the market is {touch:g}), not a distance from it"
        if abs(round(trail / tick) * tick - trail) > 1e-9:
            return f"trailPrice {trail:g} is not on the tick grid ({tick:g})"
        return None

    def _order(self, name: str, order_id: int) -> PaperOrder | None:
        return self.exchange.accounts[name].orders.get(f"P{order_id}")

    async def _modify(self, body: dict[str, Any], _user: str) -> dict[str, Any]:
        name = self._account(body)
        order_id = body_field(body, "orderId", int)
        size = body_field(body, "size", int, required=False)
        limit = body_field(body, "limitPrice", (int, float), required=False)
        stop = body_field(body, "stopPrice", (int, float), required=False)
        trail = body_field(body, "trailPrice", (int, float), required=False)
        if name is None:
            return answer_fail(1, "Account not found.")
        order = self._order(name, order_id)
        if order is None:
            return answer_fail(2, f"Order {order_id} not found.")
        if trail is not None:
            if order.trail is None:
                return answer_fail(3, f"Order {order_id} is no TrailingStop: trailPrice does not apply to it")
            why = self._trail_refusal(order.symbol, 0 if order.side is Side.BUY else 1, trail)
            if why is not None:
                return answer_fail(3, why)
        await self._latency(name)
        try:
            paper_trail = float(trail) if trail is not None else None
            self.exchange.modify(name, order.id, qty=size, price=limit, stop_price=stop, trail=paper_trail)
        except OrderRejected as exc:
            return answer_fail(3, str(exc))
        await self._latency(name)
        return answer_ok()

    async def _cancel(self, body: dict[str, Any], _user: str) -> dict[str, Any]:
        name = self._account(body)
        order_id = body_field(body, "orderId", int)
        if name is None:
            return answer_fail(1, "Account not found.")
        order = self._order(name, order_id)
        if order is None:
            return answer_fail(2, f"Order {order_id} not found.")
        await self._latency(name)
        try:
            self.exchange.cancel(name, order.id)
        except OrderRejected as exc:
            return answer_fail(3, str(exc))
        await self._latency(name)
        return answer_ok()

    async def _search_open(self, body: dict[str, Any], _user: str) -> dict[str, Any]:
        name = self._account(body)
        if name is None:
            return answer_fail(1, "Account not found.", orders=[])
        orders = [o for o in self.exchange.accounts[name].orders.values() if not o.status.final]
        return answer_ok(orders=[self.book.order_payload(o) for o in orders])

    async def _order_by_id(self, body: dict[str, Any], _user: str) -> dict[str, Any]:
        """``{accountId, orderId}`` -> ``{order}``: project-x-py's single-order lookup."""
        name = self._account(body)
        order_id = body_field(body, "orderId", int)
        if name is None:
            return answer_fail(1, "Account not found.", order=None)
        order = self._order(name, order_id)
        if order is None:
            return answer_fail(2, f"Order {order_id} not found.", order=None)
        return answer_ok(order=self.book.order_payload(order))

    async def _search_orders(self, body: dict[str, Any], _user: str) -> dict[str, Any]:
        name = self._account(body)
        start = body_timestamp(body, "startTimestamp", required=True) or 0
        end = body_timestamp(body, "endTimestamp", required=False) or time.time_ns() + 1
        if name is None:
            return answer_fail(1, "Account not found.", orders=[])
        out = []
        for o in self.exchange.accounts[name].orders.values():
            created = self.book.created_ns.get(gateway_order_id(o.id), 0)
            if start <= created <= end:
                out.append(self.book.order_payload(o))
        return answer_ok(orders=out)

    async def _positions(self, body: dict[str, Any], _user: str) -> dict[str, Any]:
        name = self._account(body)
        if name is None:
            return answer_fail(1, "Account not found.", positions=[])
        aid = self.account_ids[name]
        out = []
        for p in self.exchange.position_list(name):
            if p.qty:
                out.append(
                    {
                        "id": self.book.position_ids.setdefault((aid, p.symbol), len(self.book.position_ids) + 1),
                        "accountId": aid,
                        "contractId": self.contract_of(p.symbol),
                        "creationTimestamp": iso(),
                        "type": 1 if p.qty > 0 else 2,
                        "size": abs(p.qty),
                        "averagePrice": p.avg_price,
                    }
                )
        return answer_ok(positions=out)

    def _close(self, name: str, sym: str, qty: int) -> None:
        acct = self.exchange.accounts[name]
        saved, acct.faults = acct.faults, Faults()  # closing a position is not refused by the fault injector
        try:
            self.exchange.submit(name, symbol=sym, side=Side.for_delta(-qty), qty=abs(qty))
        finally:
            acct.faults = saved

    def _open_position(self, body: dict[str, Any]) -> tuple[str, str, int] | dict[str, Any]:
        """(account, symbol, signed quantity) of the position a close names, or the gateway's refusal."""
        name = self._account(body)
        contract_id = body_field(body, "contractId", str)
        if name is None:
            return answer_fail(1, "Account not found.")
        sym, refusal = self._symbol(contract_id)
        if refusal is not None:
            return refusal
        assert sym is not None
        pos = self.exchange.accounts[name].positions.get(sym)
        if pos is None or pos.qty == 0:
            return answer_fail(2, f"No open position in {contract_id}.")
        return name, sym, pos.qty

    async def _close_contract(self, body: dict[str, Any], _user: str) -> dict[str, Any]:
        found = self._open_position(body)
        if isinstance(found, dict):
            return found
        name, sym, qty = found
        self._close(name, sym, qty)
        return answer_ok()

    async def _partial_close(self, body: dict[str, Any], _user: str) -> dict[str, Any]:
        size = body_field(body, "size", int)
        found = self._open_position(body)
        if isinstance(found, dict):
            return found
        name, sym, qty = found
        if not 0 < size <= abs(qty):
            return answer_fail(2, f"size {size} must be between 1 and the position's {abs(qty)}")
        self._close(name, sym, size if qty > 0 else -size)
        return answer_ok()

    async def _trades(self, body: dict[str, Any], _user: str) -> dict[str, Any]:
        if self.trade_search_stall_s:  # a slow gateway: the answer is read after the stall
            await asyncio.sleep(self.trade_search_stall_s)
        name = self._account(body)
        start = body_timestamp(body, "startTimestamp", required=True) or 0
        end = body_timestamp(body, "endTimestamp", required=False) or time.time_ns() + 1
        if name is None:
            return answer_fail(1, "Account not found.", trades=[])
        aid = self.account_ids[name]
        out = []
        for t in self.book.trades.get(aid, []):
            ts = int(datetime.fromisoformat(t["creationTimestamp"]).timestamp() * 1e9)
            if start <= ts <= end:
                out.append(t)
        return answer_ok(trades=out)
