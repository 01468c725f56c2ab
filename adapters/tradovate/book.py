"""One Tradovate account's entities, merged from the sync snapshot and ``props`` events, turned
into canonical AccountEvents exactly once each.

Merging is monotone so duplicated, late and out-of-order ``props`` cannot move state backwards:
final order statuses are sticky, versions and reports are keyed by id, a fill id counts once, and a
position update only replaces an older one (more contracts traded, or a later timestamp). An order's
cumulative filled quantity is the sum of its distinct fills, so a fill that arrives after a later
one still raises the cumulative quantity. Fills of an order whose owner is not known yet wait for
the order entity (a fill can overtake its order). Orders linked by ``ocoId`` carry one OCO group
(see ``oco_links``). A TrailingStop is a TRAILING_STOP with the trail its version's ``pegDifference``
gives (None when it gives none); each move of its stop is a new version, so an ORDER_MODIFIED.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from adapters.tradovate.entities import (
    ACTION_TO_SIDE,
    FINAL_STATUSES,
    ORDER_TYPE_FROM_WIRE,
    SNAPSHOT_KEYS,
    STATUS_FROM_WIRE,
    EntityError,
    WireCommand,
    WireContract,
    WireExecutionReport,
    WireFill,
    WireOrder,
    WireOrderVersion,
    WirePosition,
    parse_time_ns,
    root_symbol,
    validate,
)
from adapters.tradovate.oco_links import OcoLinks
from copytui.models import AccountEvent, EventKind, OrderInfo, OrderStatus, OrderType, Position

log = logging.getLogger("copytui.adapters.tradovate")

# order types copytui cannot copy still need a type in OrderInfo (reconciliation only)
_INFO_TYPE = {"TrailingStopLimit": OrderType.STOP_LIMIT}


@dataclass
class _Order:
    order: WireOrder | None = None
    status: str | None = None
    versions: dict[int, WireOrderVersion] = field(default_factory=dict)
    commands: dict[int, WireCommand] = field(default_factory=dict)
    report: WireExecutionReport | None = None
    fills: dict[int, WireFill] = field(default_factory=dict)
    emitted_fills: set[int] = field(default_factory=set)
    emitted_new: bool = False
    emitted_versions: int = 0
    emitted_final: bool = False

    def version(self) -> WireOrderVersion | None:
        return self.versions[max(self.versions)] if self.versions else None

    def client_id(self) -> str | None:
        for cid in sorted(self.commands):
            c = self.commands[cid]
            if c.commandType == "New" and c.clOrdId:
                return c.clOrdId
        return None

    def cum_qty(self) -> int:
        return sum(f.qty for f in self.fills.values() if f.active)

    def set_status(self, status: str | None) -> None:
        if status is None or self.status in FINAL_STATUSES:
            return  # a final status never goes back (late or duplicated props)
        self.status = status


class AccountBook:
    def __init__(self, label: str, account_id: int) -> None:
        self.label = label
        self.account_id = account_id
        self.contracts: dict[int, str] = {}
        self.orders: dict[int, _Order] = {}
        self.foreign: set[int] = set()
        self.clordids: dict[str, int] = {}
        self.positions: dict[int, WirePosition] = {}
        self._pos_emitted: dict[int, tuple[int, float | None]] = {}
        self._roots: dict[str, str] = {}
        self.max_fill_id = 0
        self.oco = OcoLinks()

    # ------------------------------------------------------------ merging
    def apply(self, entity_type: str, raw: Any, *, recv_ns: int = 0, emit: bool = True) -> list[AccountEvent]:
        """Merge one entity; the AccountEvents it newly implies (none when ``emit`` is False)."""
        if entity_type not in _HANDLERS:
            return []  # cashBalance, marginSnapshot, user ...: not copytui's business
        entity = validate(entity_type, raw)
        try:
            events = _HANDLERS[entity_type](self, entity, recv_ns)
        except ValidationError as exc:  # what it implies breaks an AccountEvent bound (a sum past MAX_QTY ...)
            err = exc.errors()[0]
            raise EntityError(
                f"tradovate {entity_type} {raw.get('id', '?')}: makes no valid event: {err['msg']}"
            ) from None
        return events if emit else []

    def load_snapshot(self, snapshot: Any, *, recv_ns: int = 0, emit: bool = True) -> list[AccountEvent]:
        """Merge a ``user/syncrequest`` snapshot; bad entities are logged and skipped."""
        if not isinstance(snapshot, dict):
            raise EntityError(f"tradovate sync snapshot must be an object, got {type(snapshot).__name__}")
        events: list[AccountEvent] = []
        for key, entity_type in SNAPSHOT_KEYS.items():
            items = snapshot.get(key) or []
            if not isinstance(items, list):
                raise EntityError(f"tradovate sync snapshot: {key!r} must be a list, got {type(items).__name__}")
            if entity_type == "fill":
                items = sorted(items, key=lambda f: f["id"] if isinstance(f, dict) and type(f.get("id")) is int else 0)
            for raw in items:
                try:
                    events.extend(self.apply(entity_type, raw, recv_ns=recv_ns, emit=emit))
                except EntityError as exc:
                    log.warning("%s; skipped", exc)
        return events

    def _contract(self, c: WireContract, recv_ns: int) -> list[AccountEvent]:
        known = c.id in self.contracts
        self.contracts[c.id] = c.name
        if known:
            return []
        out: list[AccountEvent] = []
        for oid, o in self.orders.items():
            if o.order is not None and o.order.contractId == c.id:
                out.extend(self._events_for(oid, recv_ns))
        for pid, p in self.positions.items():
            if p.contractId == c.id:
                out.extend(self._position_event(pid, recv_ns))
        return out

    def _slot(self, order_id: int) -> _Order | None:
        if order_id in self.foreign:
            return None
        return self.orders.setdefault(order_id, _Order())

    def _order(self, w: WireOrder, recv_ns: int) -> list[AccountEvent]:
        if w.accountId != self.account_id:
            self.foreign.add(w.id)
            self.orders.pop(w.id, None)
            return []
        o = self.orders.setdefault(w.id, _Order())
        o.order = w
        if w.ocoId is not None:
            self.oco.link(w.id, w.ocoId)
        o.set_status(w.ordStatus)
        return self._events_for(w.id, recv_ns)

    def _version(self, v: WireOrderVersion, recv_ns: int) -> list[AccountEvent]:
        o = self._slot(v.orderId)
        if o is None:
            return []
        o.versions[v.id] = v
        return self._events_for(v.orderId, recv_ns)

    def _command(self, c: WireCommand, recv_ns: int) -> list[AccountEvent]:
        o = self._slot(c.orderId)
        if o is None:
            return []
        o.commands[c.id] = c
        if c.clOrdId:
            self.clordids.setdefault(c.clOrdId, c.orderId)
        return self._events_for(c.orderId, recv_ns)

    def _report(self, r: WireExecutionReport, recv_ns: int) -> list[AccountEvent]:
        if r.accountId is not None and r.accountId != self.account_id:
            return []
        o = self._slot(r.orderId)
        if o is None:
            return []
        if o.report is None or r.id >= o.report.id:
            o.report = r
        if r.ordStatus in FINAL_STATUSES:
            o.set_status(r.ordStatus)
        return self._events_for(r.orderId, recv_ns)

    def _fill(self, f: WireFill, recv_ns: int) -> list[AccountEvent]:
        o = self._slot(f.orderId)
        if o is None or f.id in o.fills:
            return []  # another account's fill, or a duplicate
        if not f.active:
            log.warning("tradovate fill %s of order %s arrived inactive; not copied", f.id, f.orderId)
            o.emitted_fills.add(f.id)
        o.fills[f.id] = f
        self.max_fill_id = max(self.max_fill_id, f.id)
        return self._events_for(f.orderId, recv_ns)

    def _position(self, p: WirePosition, recv_ns: int) -> list[AccountEvent]:
        if p.accountId != self.account_id:
            return []
        old = self.positions.get(p.id)
        if old is not None:
            traded_new, traded_old = p.bought + p.sold, old.bought + old.sold
            if traded_new < traded_old or (
                traded_new == traded_old and parse_time_ns(p.timestamp) < parse_time_ns(old.timestamp)
            ):
                return []  # an older update delivered late
        self.positions[p.id] = p
        return self._position_event(p.id, recv_ns)

    # ----------------------------------------------------------- emitting
    def symbol_of(self, contract_id: int | None) -> str | None:
        name = self.contracts.get(contract_id) if contract_id is not None else None
        if not name:
            return None
        root = self._roots.get(name)
        if root is None:
            root = self._roots[name] = root_symbol(name)
        return root

    def _base(self, oid: int, o: _Order, symbol: str, recv_ns: int) -> dict[str, Any]:
        assert o.order is not None
        v = o.version()
        return dict(
            account=self.label,
            order_id=str(oid),
            client_order_id=o.client_id(),
            symbol=symbol,
            side=ACTION_TO_SIDE[o.order.action],
            order_type=ORDER_TYPE_FROM_WIRE.get(v.orderType) if v else None,
            qty=v.orderQty if v else 0,
            price=v.price if v else None,
            stop_price=v.stopPrice if v else None,
            trail=v.trail if v else None,
            version=max(len(o.versions) - 1, 0),
            oco_group=self.oco.group(oid),
            recv_ns=recv_ns,
        )

    def _events_for(self, oid: int, recv_ns: int) -> list[AccountEvent]:
        o = self.orders.get(oid)
        if o is None or o.order is None:
            return []  # owner unknown yet: held until the order entity arrives
        v = o.version()
        owed = (
            (v is not None and (not o.emitted_new or len(o.versions) > o.emitted_versions))
            or len(o.fills) > len(o.emitted_fills)
            or (o.status in ("Canceled", "Expired", "Rejected") and not o.emitted_final)
        )
        if not owed:
            return []  # the common case for commands, reports and repeats: nothing new to say
        symbol = self.symbol_of(o.order.contractId)
        if symbol is None:
            return []  # held until the contract is known
        base = self._base(oid, o, symbol, recv_ns)
        wall = parse_time_ns(o.order.timestamp) or time.time_ns()
        out: list[AccountEvent] = []
        if v is not None and not o.emitted_new:
            o.emitted_new = True
            o.emitted_versions = len(o.versions)
            if v.orderType not in ORDER_TYPE_FROM_WIRE:
                log.warning("tradovate order %s has type %s, which copytui does not copy", oid, v.orderType)
            elif o.status not in FINAL_STATUSES:
                out.append(AccountEvent(kind=EventKind.ORDER_NEW, wall_ns=wall, **base))
        elif v is not None and len(o.versions) > o.emitted_versions:
            o.emitted_versions = len(o.versions)
            if v.orderType in ORDER_TYPE_FROM_WIRE and o.status not in FINAL_STATUSES:
                out.append(AccountEvent(kind=EventKind.ORDER_MODIFIED, wall_ns=time.time_ns(), **base))
        cum = sum(o.fills[f].qty for f in o.emitted_fills if o.fills[f].active)
        for fid in sorted(set(o.fills) - o.emitted_fills):
            f = o.fills[fid]
            o.emitted_fills.add(fid)
            cum += f.qty
            fill_base = {**base, "side": ACTION_TO_SIDE[f.action], "symbol": self.symbol_of(f.contractId) or symbol}
            out.append(
                AccountEvent(
                    kind=EventKind.FILL,
                    fill_id=str(fid),
                    fill_qty=f.qty,
                    cum_qty=cum,
                    fill_price=f.price,
                    wall_ns=parse_time_ns(f.timestamp) or time.time_ns(),
                    **fill_base,
                )
            )
        if o.status in ("Canceled", "Expired", "Rejected") and not o.emitted_final:
            o.emitted_final = True
            if o.status == "Rejected":
                r = o.report
                reason = (r.text or r.rejectReason) if r else None
                out.append(
                    AccountEvent(
                        kind=EventKind.ORDER_REJECTED,
                        reason=reason or "rejected by Tradovate",
                        wall_ns=time.time_ns(),
                        **base,
                    )
                )
            else:
                out.append(AccountEvent(kind=EventKind.ORDER_CANCELLED, wall_ns=time.time_ns(), **base))
        return out

    def _position_event(self, pid: int, recv_ns: int) -> list[AccountEvent]:
        p = self.positions[pid]
        symbol = self.symbol_of(p.contractId)
        if symbol is None:
            return []
        state = (p.netPos, p.netPrice)
        if self._pos_emitted.get(pid) == state:
            return []
        self._pos_emitted[pid] = state
        return [
            AccountEvent(
                account=self.label,
                kind=EventKind.POSITION,
                symbol=symbol,
                position=p.netPos,
                avg_price=p.netPrice,
                wall_ns=parse_time_ns(p.timestamp) or time.time_ns(),
                recv_ns=recv_ns,
            )
        ]

    # -------------------------------------------------------------- views
    def status(self, oid: int) -> OrderStatus | None:
        """The order's status as ``info`` gives it, without building the whole OrderInfo (the
        order path reads it after every answer)."""
        o = self.orders.get(oid)
        if o is None or o.order is None or self.symbol_of(o.order.contractId) is None:
            return None
        return self._status(o, max(o.cum_qty(), (o.report.cumQty or 0) if o.report else 0))

    @staticmethod
    def _status(o: _Order, filled: int) -> OrderStatus:
        status = STATUS_FROM_WIRE.get(o.status or "Unknown", OrderStatus.UNKNOWN)
        return OrderStatus.PARTIALLY_FILLED if status is OrderStatus.WORKING and filled else status

    def info(self, oid: int) -> OrderInfo | None:
        o = self.orders.get(oid)
        if o is None or o.order is None:
            return None
        symbol = self.symbol_of(o.order.contractId)
        if symbol is None:
            return None
        v = o.version()
        filled = max(o.cum_qty(), (o.report.cumQty or 0) if o.report else 0)
        fills = [f for f in o.fills.values() if f.active]
        avg = sum(f.price * f.qty for f in fills) / sum(f.qty for f in fills) if fills else None
        if avg is None and o.report and o.report.avgPx:
            avg = o.report.avgPx
        status = self._status(o, filled)
        wire_type = v.orderType if v else "Market"
        return OrderInfo(
            account=self.label,
            broker_order_id=str(oid),
            client_order_id=o.client_id(),
            symbol=symbol,
            side=ACTION_TO_SIDE[o.order.action],
            order_type=ORDER_TYPE_FROM_WIRE.get(wire_type) or _INFO_TYPE.get(wire_type, OrderType.LIMIT),
            qty=v.orderQty if v else filled,
            filled_qty=filled,
            price=v.price if v else None,
            stop_price=v.stopPrice if v else None,
            avg_fill_price=avg,
            status=status,
            oco_group=self.oco.group(oid),
            trail=v.trail if v else None,
        )

    def find(self, client_order_id: str) -> OrderInfo | None:
        oid = self.clordids.get(client_order_id)
        return self.info(oid) if oid is not None else None

    def open_orders(self) -> list[OrderInfo]:
        out = []
        for oid, o in self.orders.items():
            if o.order is not None and o.status not in FINAL_STATUSES:
                info = self.info(oid)
                if info is not None:
                    out.append(info)
        return out

    def working_contracts(self) -> set[int]:
        return {
            o.order.contractId
            for o in self.orders.values()
            if o.order is not None and o.order.contractId is not None and o.status not in FINAL_STATUSES
        }

    def position_list(self) -> list[Position]:
        out = []
        for p in self.positions.values():
            symbol = self.symbol_of(p.contractId)
            if symbol is not None:
                out.append(Position(account=self.label, symbol=symbol, qty=p.netPos, avg_price=p.netPrice or 0.0))
        return out

    def fills_after(self, cursor: int) -> list[AccountEvent]:
        """Fills with an id above ``cursor``, in id order, each with the cumulative quantity up to it."""
        out: list[tuple[int, AccountEvent]] = []
        for oid, o in self.orders.items():
            if o.order is None:
                continue
            symbol = self.symbol_of(o.order.contractId)
            if symbol is None:
                continue
            base = self._base(oid, o, symbol, 0)
            cum = 0
            for fid in sorted(o.fills):
                f = o.fills[fid]
                if not f.active:
                    continue
                cum += f.qty
                if fid > cursor:
                    ev = AccountEvent(
                        kind=EventKind.FILL,
                        fill_id=str(fid),
                        fill_qty=f.qty,
                        cum_qty=cum,
                        fill_price=f.price,
                        wall_ns=parse_time_ns(f.timestamp),
                        **{**base, "side": ACTION_TO_SIDE[f.action]},
                    )
                    out.append((fid, ev))
        return [ev for _, ev in sorted(out, key=lambda t: t[0])]


_Handler = Callable[[AccountBook, Any, int], list[AccountEvent]]
"""How one entity type is merged (its validated entity, recv_ns): the events it implies."""
_HANDLERS: dict[str, _Handler] = {
    "contract": AccountBook._contract,
    "order": AccountBook._order,
    "orderVersion": AccountBook._version,
    "command": AccountBook._command,
    "executionReport": AccountBook._report,
    "fill": AccountBook._fill,
    "position": AccountBook._position,
}
