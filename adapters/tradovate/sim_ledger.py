"""The simulator's side of Tradovate's data model: paper-exchange events become Tradovate entities
(order, orderVersion, command, executionReport, fill, position) and the ``props`` events a real
server would push for them.

The order of ``props`` for one action follows what a Tradovate client sees for a new order:
order Created (PendingNew), command, orderVersion, executionReport New, order Updated (Working);
a fill brings fill Created, executionReport Trade, order Updated, position Updated. Each move of a
trailing stop is a modification: a new orderVersion with the new ``stopPrice`` (and the order's
``pegDifference``, when it was placed with one), an executionReport Replaced, order Updated.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from adapters.tradovate.entities import (
    MONTH_CODES,
    ORDER_TYPE_TO_WIRE,
    SIDE_TO_ACTION,
    TIF_TO_WIRE,
)
from copytui.instruments import INSTRUMENTS
from copytui.models import AccountEvent, EventKind

Entity = dict[str, Any]
Props = dict[str, Any]
REFERENCE_ENTITIES = ("contract", "product", "contractmaturity")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def trade_date() -> dict[str, int]:
    d = datetime.now(UTC).date()
    return {"year": d.year, "month": d.month, "day": d.day}


def front_contracts(today: datetime | None = None) -> list[tuple[str, str]]:
    """(root, contract name) for the front and next quarterly months of every known symbol."""
    d = today or datetime.now(UTC)
    quarters = [3, 6, 9, 12]
    out = []
    month, year = next(((m, d.year) for m in quarters if m >= d.month), (3, d.year + 1))
    nxt_i = quarters.index(month) + 1
    nxt = (quarters[nxt_i], year) if nxt_i < 4 else (3, year + 1)
    for root in INSTRUMENTS:
        for m, y in ((month, year), nxt):
            out.append((root, f"{root}{MONTH_CODES[m - 1]}{y % 10}"))
    return out


@dataclass
class Command:
    """What the request being handled asked for: ties the paper events it causes to its clOrdId."""

    account_id: int
    kind: str  # New | Modify | Cancel
    clordid: str | None
    order_id: int | None = None
    closing_order_ids: list[int] = field(default_factory=list)
    recorded: bool = False
    peg_given: bool = True
    """False for a TrailingStop placed by its stopPrice alone: its versions then carry no
    ``pegDifference`` (the simulator echoes what the request said, and invents nothing)."""


@dataclass
class _Pos:
    id: int
    bought: int = 0
    sold: int = 0
    net: int = 0
    price: float | None = None


class Ledger:
    def __init__(self) -> None:
        self._ids = {
            k: itertools.count(start)
            for k, start in (
                ("order", 5_000_001),
                ("orderVersion", 6_000_001),
                ("command", 7_000_001),
                ("executionReport", 8_000_001),
                ("fill", 9_000_001),
                ("position", 4_000_001),
            )
        }
        self.products: dict[int, Entity] = {}
        self.product_by_name: dict[str, Entity] = {}
        for pid, root in enumerate(INSTRUMENTS, start=2_000_001):
            self.products[pid] = self.product_by_name[root] = _product(pid, root)
        self.maturities: dict[int, Entity] = {}
        self.contracts: dict[int, Entity] = {}
        self.contract_by_name: dict[str, Entity] = {}
        fronts: set[str] = set()
        for i, (root, name) in enumerate(front_contracts(), start=1):
            m = {"id": 1_000_000 + i, "productId": self.product_by_name[root]["id"], "isFront": root not in fronts}
            fronts.add(root)
            c = {"id": 3_000_000 + i, "name": name, "contractMaturityId": m["id"]}
            self.maturities[m["id"]] = m
            self.contracts[c["id"]] = c
            self.contract_by_name[name] = c
        self.orders: dict[int, Entity] = {}
        self.versions: dict[int, Entity] = {}
        self.commands: dict[int, Entity] = {}
        self.reports: dict[int, Entity] = {}
        self.fills: dict[int, Entity] = {}
        self.positions: dict[tuple[int, int], Entity] = {}
        self._pos: dict[tuple[int, int], _Pos] = {}
        self.by_paper: dict[str, int] = {}
        self.order_account: dict[int, int] = {}
        self.clordids: dict[int, dict[str, int]] = {}  # account id -> clOrdId -> order id
        self.latest_version: dict[int, Entity] = {}  # order id -> its newest orderVersion
        self.peg_hidden: set[int] = set()  # trailing stops placed without pegDifference
        self.reserved: list[tuple[int, Entity]] = []
        """(order id, link fields) for the next orders created, in turn: a placeOCO names each leg's
        partner in ``ocoId`` from its creation on, so both ids are known before either leg exists."""

    def next_id(self, kind: str) -> int:
        return next(self._ids[kind])

    def front(self, root: str) -> Entity:
        return next(
            c for c in self.contracts.values() if c["name"].startswith(root) and c["name"][len(root)] in MONTH_CODES
        )

    def contract_of(self, symbol: str) -> Entity:
        return self.front(symbol)

    def reference(self, entity: str, op: str, query: dict[str, str]) -> tuple[int, Any]:
        """``contract|product|contractMaturity`` ``/list|item|items|find`` (and ``contract/suggest``):
        (status, answer). ``entity`` is lower-cased, as the simulator matches paths."""
        kind, table, by_name = {
            "contract": ("contract", self.contracts, self.contract_by_name),
            "product": ("product", self.products, self.product_by_name),
            "contractmaturity": ("contractMaturity", self.maturities, {}),
        }[entity]
        try:
            if op == "item":
                found = table.get(int(query.get("id", "0")))
                return (200, found) if found else (404, {"errorText": f"no such {kind}"})
            if op == "items":
                return 200, [table[i] for i in (int(x) for x in query.get("ids", "").split(",") if x) if i in table]
            if op == "suggest" and kind == "contract":
                text, limit = query.get("t", "").upper(), int(query.get("l", "10") or 10)
                return 200, [c for c in table.values() if c["name"].startswith(text)][:limit]
        except ValueError:
            return 400, {"errorText": f"{kind} ids and limits must be numbers"}
        if op == "list":
            return 200, list(table.values())
        if op == "find" and by_name:
            found = by_name.get(query.get("name", ""))
            return (200, found) if found else (404, {"errorText": f"no such {kind}"})
        return 404, {"errorText": f"the simulator does not implement {kind}/{op}"}

    # ----------------------------------------------------------- events
    def translate(self, account_id: int, ev: AccountEvent, cmd: Command | None) -> list[Props]:
        """The props a Tradovate server pushes for one paper-exchange event."""
        if ev.kind is EventKind.POSITION:
            return self._position(account_id, ev)
        if ev.order_id is None:
            return []
        out: list[Props] = []
        oid = self.by_paper.get(ev.order_id)
        if oid is None:
            oid = self._create(account_id, ev, cmd, out)
        elif cmd is not None and cmd.kind in ("Modify", "Cancel") and cmd.order_id == oid and not cmd.recorded:
            cmd.recorded = True
            out.append(self._command(oid, cmd.kind, cmd.clordid, account_id))
        order = self.orders[oid]
        if ev.kind is EventKind.ORDER_NEW:
            out.append(self._report(order, "New", "Working"))
            out.append(self._set_status(order, "Working"))
        elif ev.kind is EventKind.ORDER_MODIFIED:
            v = self._version(oid, ev)
            out.append(_props("orderVersion", "Created", v))
            out.append(self._report(order, "Replaced", "Working"))
            out.append(self._set_status(order, "Working"))
        elif ev.kind is EventKind.ORDER_CANCELLED:
            out.append(self._report(order, "Canceled", "Canceled"))
            out.append(self._set_status(order, "Canceled"))
        elif ev.kind is EventKind.ORDER_REJECTED:
            out.append(self._report(order, "Rejected", "Rejected", text=ev.reason))
            out.append(self._set_status(order, "Rejected"))
        elif ev.kind is EventKind.FILL:
            fill = {
                "id": self.next_id("fill"),
                "orderId": oid,
                "contractId": order["contractId"],
                "timestamp": now_iso(),
                "tradeDate": trade_date(),
                "action": order["action"],
                "qty": ev.fill_qty,
                "price": ev.fill_price,
                "active": True,
                "finallyPaired": 0,
            }
            self.fills[fill["id"]] = fill
            self._track_fill(account_id, order, ev.fill_qty, ev.fill_price or 0.0)
            out.append(_props("fill", "Created", fill))
            done = ev.cum_qty >= ev.qty
            status = "Filled" if done else "Working"
            out.append(
                self._report(order, "Trade", status, cumQty=ev.cum_qty, lastQty=ev.fill_qty, lastPx=ev.fill_price)
            )
            out.append(self._set_status(order, status))
        return out

    def _create(self, account_id: int, ev: AccountEvent, cmd: Command | None, out: list[Props]) -> int:
        assert ev.order_id is not None and ev.symbol and ev.side
        oid, links = self.reserved.pop(0) if self.reserved else (self.next_id("order"), {})
        self.by_paper[ev.order_id] = oid
        self.order_account[oid] = account_id
        order = {
            "id": oid,
            "accountId": account_id,
            "contractId": self.contract_of(ev.symbol)["id"],
            "timestamp": now_iso(),
            "action": SIDE_TO_ACTION[ev.side],
            "ordStatus": "PendingNew",
            "admin": False,
            **links,
        }
        self.orders[oid] = order
        out.append(_props("order", "Created", dict(order)))
        clordid = None
        if cmd is not None and cmd.account_id == account_id and cmd.kind == "New" and cmd.order_id is None:
            cmd.order_id = oid
            clordid = cmd.clordid
        elif cmd is not None and cmd.account_id == account_id:
            cmd.closing_order_ids.append(oid)  # an order the server made itself (liquidation)
        if clordid:
            self.clordids.setdefault(account_id, {}).setdefault(clordid, oid)
        if cmd is not None and cmd.order_id == oid and not cmd.peg_given:
            self.peg_hidden.add(oid)
        out.append(self._command(oid, "New", clordid, account_id))
        out.append(_props("orderVersion", "Created", self._version(oid, ev)))
        return oid

    def _command(self, oid: int, kind: str, clordid: str | None, account_id: int) -> Props:
        command_id = self.next_id("command")
        c: Entity = {
            "id": command_id,
            "orderId": oid,
            "timestamp": now_iso(),
            "clOrdId": clordid,
            "commandType": kind,
            "commandStatus": "RiskPassed",
            "isAutomated": True,
        }
        self.commands[command_id] = c
        if clordid:
            self.clordids.setdefault(account_id, {}).setdefault(clordid, oid)
        return _props("command", "Created", c)

    def _version(self, oid: int, ev: AccountEvent) -> Entity:
        assert ev.order_type is not None
        v: Entity = {
            "id": self.next_id("orderVersion"),
            "orderId": oid,
            "orderQty": ev.qty,
            "orderType": ORDER_TYPE_TO_WIRE[ev.order_type],
            "timeInForce": TIF_TO_WIRE[next(iter(TIF_TO_WIRE))],
        }
        if ev.price is not None:
            v["price"] = ev.price
        if ev.stop_price is not None:
            v["stopPrice"] = ev.stop_price
        if ev.trail is not None and oid not in self.peg_hidden:
            v["pegDifference"] = ev.trail
        self.versions[v["id"]] = v
        self.latest_version[oid] = v
        return v

    def _report(self, order: Entity, exec_type: str, status: str, **extra: Any) -> Props:
        r = {
            "id": self.next_id("executionReport"),
            "commandId": 0,
            "name": str(order["id"]),
            "accountId": order["accountId"],
            "contractId": order["contractId"],
            "timestamp": now_iso(),
            "tradeDate": trade_date(),
            "orderId": order["id"],
            "execType": exec_type,
            "execRefId": 0,
            "ordStatus": status,
            "action": order["action"],
        }
        r.update({k: v for k, v in extra.items() if v is not None})
        self.reports[r["id"]] = r
        return _props("executionReport", "Created", r)

    def _set_status(self, order: Entity, status: str) -> Props:
        order["ordStatus"] = status
        return _props("order", "Updated", dict(order))

    def _track_fill(self, account_id: int, order: Entity, qty: int, price: float) -> None:
        key = (account_id, order["contractId"])
        p = self._pos.setdefault(key, _Pos(self.next_id("position")))
        if order["action"] == "Buy":
            p.bought += qty
        else:
            p.sold += qty

    def _position(self, account_id: int, ev: AccountEvent) -> list[Props]:
        assert ev.symbol is not None and ev.position is not None
        cid = self.contract_of(ev.symbol)["id"]
        key = (account_id, cid)
        p = self._pos.setdefault(key, _Pos(self.next_id("position")))
        p.net, p.price = ev.position, (ev.avg_price if ev.position else None)
        existed = key in self.positions
        entity = {
            "id": p.id,
            "accountId": account_id,
            "contractId": cid,
            "timestamp": now_iso(),
            "tradeDate": trade_date(),
            "netPos": p.net,
            "bought": p.bought,
            "sold": p.sold,
            "prevPos": 0,
        }
        if p.price is not None:
            entity["netPrice"] = p.price
        self.positions[key] = entity
        return [_props("position", "Updated" if existed else "Created", dict(entity))]

    # ------------------------------------------------------------ views
    def of_accounts(self, kind: str, accounts: set[int]) -> list[Entity]:
        if kind == "orders":
            return [dict(o) for o in self.orders.values() if o["accountId"] in accounts]
        if kind == "positions":
            return [dict(p) for p in self.positions.values() if p["accountId"] in accounts]
        table = {
            "orderVersions": self.versions,
            "commands": self.commands,
            "fills": self.fills,
            "executionReports": self.reports,
        }[kind]
        return [dict(e) for e in table.values() if self.order_account.get(e["orderId"]) in accounts]

    def snapshot(self, accounts: set[int]) -> dict[str, Any]:
        snap: dict[str, Any] = {
            k: self.of_accounts(k, accounts)
            for k in ("orders", "orderVersions", "commands", "executionReports", "fills", "positions")
        }
        used = {e["contractId"] for k in ("orders", "fills", "positions") for e in snap[k]}
        snap["contracts"] = [dict(self.contracts[c]) for c in sorted(used)]
        maturities = sorted({self.contracts[c]["contractMaturityId"] for c in used})
        snap["contractMaturities"] = [dict(self.maturities[m]) for m in maturities]
        products = sorted({self.maturities[m]["productId"] for m in maturities})
        snap["products"] = [dict(self.products[p]) for p in products]
        return snap

    def product_of(self, contract: Entity) -> Entity:
        return self.products[self.maturities[contract["contractMaturityId"]]["productId"]]


def _product(pid: int, root: str) -> Entity:
    """A product as example-api-js reads it (EX-07a renders these fields; EX-12a uses valuePerPoint)."""
    inst = INSTRUMENTS[root]
    return {
        "id": pid,
        "name": root,
        "description": inst.description,
        "productType": "Futures",
        "currencyId": 1,
        "status": "Verified",
        "tickSize": inst.tick_size,
        "valuePerPoint": inst.point_value,
        "isMicro": "Micro" in inst.description,
    }


def _props(entity_type: str, event_type: str, entity: Entity) -> Props:
    return {"e": "props", "d": {"entityType": entity_type, "eventType": event_type, "entity": dict(entity)}}
