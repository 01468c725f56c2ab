"""What the simulated gateway knows beyond the paper exchange: gateway ids, order timestamps, the
trade list for ``Trade/search``, position ids, and the gateway payloads made of paper events.

Every event of every simulated account passes through :class:`GatewayBook`, which keeps what the
REST side reports too and turns the event into ``GatewayUserOrder`` / ``GatewayUserTrade`` /
``GatewayUserPosition`` payloads for the user hub. A duplicated paper event gives the same trade
id, as a real duplicate delivery would.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from adapters.paper.exchange import PaperExchange, PaperOrder
from adapters.projectx.payloads import TYPE_OUT, GwStatus, side_out
from copytui.models import AccountEvent, EventKind, OrderStatus, OrderType


def iso(ns: int | None = None) -> str:
    return datetime.fromtimestamp((ns or time.time_ns()) / 1e9, UTC).isoformat()


def gateway_order_id(paper_id: str) -> int:
    return int(paper_id.lstrip("P"))


def _trail_fields(trail: float | None) -> dict[str, Any]:
    """A trailing stop's ``trailPrice`` (its distance from the market, in price units), as recorded
    gateway order events carry it; other orders have none."""
    return {} if trail is None else {"trailPrice": trail}


def status_of(order: PaperOrder) -> GwStatus:
    return {
        OrderStatus.FILLED: GwStatus.FILLED,
        OrderStatus.CANCELLED: GwStatus.CANCELLED,
        OrderStatus.REJECTED: GwStatus.REJECTED,
    }.get(order.status, GwStatus.OPEN)


@dataclass
class GatewayBook:
    """What the gateway knows beyond the paper exchange: ids, timestamps, trades, positions."""

    exchange: PaperExchange
    account_ids: dict[str, int]  # paper account name -> gateway account id
    contract_of: Callable[[str], str]
    created_ns: dict[int, int] = field(default_factory=dict)
    updated_ns: dict[int, int] = field(default_factory=dict)
    trade_ids: dict[str, int] = field(default_factory=dict)  # paper fill id -> trade id
    trades: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # account id -> trades
    notional: dict[int, float] = field(default_factory=dict)
    position_type: dict[tuple[int, str], int] = field(default_factory=dict)
    position_ids: dict[tuple[int, str], int] = field(default_factory=dict)

    def order_payload(self, order: PaperOrder) -> dict[str, Any]:
        """An order as the REST searches report it (its current state)."""
        oid = gateway_order_id(order.id)
        now = time.time_ns()
        return {
            "id": oid,
            "accountId": self.account_ids[order.account],
            "contractId": self.contract_of(order.symbol),
            "symbolId": self.contract_of(order.symbol).rsplit(".", 1)[0].removeprefix("CON."),
            "creationTimestamp": iso(self.created_ns.get(oid, now)),
            "updateTimestamp": iso(self.updated_ns.get(oid, now)),
            "status": int(status_of(order)),
            "type": int(TYPE_OUT[order.order_type]),
            "side": side_out(order.side),
            "size": order.qty,
            "limitPrice": order.price,
            "stopPrice": order.stop_price,
            "fillVolume": order.filled,
            "filledPrice": order.avg_fill_price,
            "customTag": order.client_order_id,
        } | _trail_fields(order.trail)

    def translate(self, ev: AccountEvent) -> list[tuple[str, dict[str, Any], bool]]:
        """One paper event -> [(hub target, payload, is_new)] in the order the gateway sends them."""
        acct_id = self.account_ids[ev.account]
        if ev.kind is EventKind.POSITION:
            return [("GatewayUserPosition", self._position(acct_id, ev), False)]
        assert ev.order_id is not None and ev.symbol is not None and ev.side is not None
        oid = gateway_order_id(ev.order_id)
        new = oid not in self.created_ns
        self.created_ns.setdefault(oid, ev.wall_ns)
        self.updated_ns[oid] = max(self.updated_ns.get(oid, 0), ev.wall_ns)
        out: list[tuple[str, dict[str, Any], bool]] = []
        status = {
            EventKind.ORDER_CANCELLED: GwStatus.CANCELLED,
            EventKind.ORDER_REJECTED: GwStatus.REJECTED,
        }.get(ev.kind, GwStatus.OPEN)
        if ev.kind is EventKind.FILL:
            out.append(("GatewayUserTrade", self._trade(acct_id, oid, ev), True))
            status = GwStatus.FILLED if ev.cum_qty >= ev.qty else GwStatus.OPEN
        avg = self.notional[oid] / ev.cum_qty if ev.cum_qty and oid in self.notional else None
        order = {
            "id": oid,
            "accountId": acct_id,
            "contractId": self.contract_of(ev.symbol),
            "creationTimestamp": iso(self.created_ns[oid]),
            "updateTimestamp": iso(ev.wall_ns),
            "status": int(status),
            "type": int(TYPE_OUT[ev.order_type or OrderType.MARKET]),
            "side": side_out(ev.side),
            "size": ev.qty,
            "limitPrice": ev.price,
            "stopPrice": ev.stop_price,
            "fillVolume": ev.cum_qty,
            "filledPrice": avg,
            "customTag": ev.client_order_id,
        } | _trail_fields(ev.trail)
        out.append(("GatewayUserOrder", order, new))
        return out

    def _trade(self, acct_id: int, oid: int, ev: AccountEvent) -> dict[str, Any]:
        assert ev.fill_id is not None and ev.fill_price is not None and ev.side is not None
        tid = self.trade_ids.get(ev.fill_id)
        if tid is None:
            tid = len(self.trade_ids) + 1
            self.trade_ids[ev.fill_id] = tid
            self.notional[oid] = self.notional.get(oid, 0.0) + ev.fill_price * ev.fill_qty
            trade = {
                "id": tid,
                "accountId": acct_id,
                "contractId": self.contract_of(ev.symbol or ""),
                "creationTimestamp": iso(ev.wall_ns),
                "price": ev.fill_price,
                "profitAndLoss": None,
                "fees": round(0.37 * ev.fill_qty, 2),
                "side": side_out(ev.side),
                "size": ev.fill_qty,
                "voided": False,
                "orderId": oid,
            }
            self.trades.setdefault(acct_id, []).append(trade)
            return trade
        return next(t for t in self.trades[acct_id] if t["id"] == tid)

    def _position(self, acct_id: int, ev: AccountEvent) -> dict[str, Any]:
        assert ev.symbol is not None and ev.position is not None
        key = (acct_id, ev.symbol)
        if ev.position:
            self.position_type[key] = 1 if ev.position > 0 else 2
        pid = self.position_ids.setdefault(key, len(self.position_ids) + 1)
        return {
            "id": pid,
            "accountId": acct_id,
            "contractId": self.contract_of(ev.symbol),
            "creationTimestamp": iso(ev.wall_ns),
            "type": self.position_type.get(key, 1),
            "size": abs(ev.position),
            "averagePrice": ev.avg_price or 0.0,
        }
