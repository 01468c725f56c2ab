"""The Tradovate simulator's own endpoints for black-box checks, apart from Tradovate's API: JSON over
``GET /admin/...`` on the simulator's port, no login (the simulator listens on 127.0.0.1 only).

- ``/admin/audit[?account=NAME]``: every order request received (place, modify, cancel, liquidate,
  and any other order command), refused ones included with the reason, in arrival order; the same
  entries go to the ``--audit`` JSON-lines file (adapters/simkit/audit.py).
- ``/admin/quote?symbol=ES`` (or a contract name, ``ESZ6``): bid, ask and last of the paper exchange
  behind the simulator, for a script that plays the leader's trading platform.
- ``/admin/orders[?account=NAME]``: each order with the clOrdId that placed it and every command on
  it. Tradovate's ``order/list`` has no clOrdId; over Tradovate's own API the same join is
  ``command/list`` (``orderId``, ``clOrdId``, ``commandType``) on ``command.orderId == order.id``, the
  ``New`` command carrying the clOrdId of the placement.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from adapters.simkit.audit import AuditLog
from adapters.tradovate.entities import EntityError, root_symbol

if TYPE_CHECKING:
    from adapters.tradovate.simulator import TradovateSimulator

READ_OPS = {"list", "item", "items", "find", "deps", "ldeps", "suggest"}
REFUSALS = {"failureReason", "errorText", "p-ticket"}


def is_order_request(endpoint: str) -> bool:
    """An order command (``order/placeorder``, ``order/placeoco``, ``orderstrategy/...``), not a read."""
    entity, _, op = endpoint.partition("/")
    return entity in ("order", "orderstrategy") and bool(op) and op not in READ_OPS


@dataclass
class Call:
    """One request as the simulator came to know it, for the audit."""

    endpoint: str
    raw: str = ""
    body: Any = None
    user_id: int | None = None


def outcome_of(status: int, data: Any) -> tuple[str, str]:
    """("accepted", "") or ("refused", why) for the answer the simulator gave."""
    if status == 200 and isinstance(data, dict) and not (REFUSALS & data.keys()):
        return "accepted", ""
    if isinstance(data, dict) and "p-ticket" in data:
        why = f"penalty ticket, wait {data.get('p-time')} s" + (" (captcha)" if data.get("p-captcha") else "")
    elif isinstance(data, dict) and "failureReason" in data:
        why = f"{data['failureReason']}: {data.get('failureText', '')}"
    elif isinstance(data, dict):
        why = str(data.get("errorText", ""))
    else:
        why = str(data or "")
    return "refused", why if status == 200 else f"{status} {why or 'refused'}".rstrip()


class SimAdmin:
    def __init__(self, sim: TradovateSimulator, audit_path: str | Path | None = None) -> None:
        self.sim = sim
        self.audit_path = audit_path
        self.audit = AuditLog("tradovate", audit_path)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/admin/audit", self._audit)
        app.router.add_get("/admin/quote", self._quote)
        app.router.add_get("/admin/orders", self._orders)

    # ----------------------------------------------------------------- audit
    def record(self, call: Call, status: int, data: Any, note: str = "") -> None:
        """The answer given to ``call``; ``note`` says what else happened to it (an answer lost)."""
        outcome, why = outcome_of(status, data)
        self._write(call, outcome, f"{why}; {note}" if why and note else why or note)

    def refuse_unhandled(self, call: Call, why: str) -> None:
        """A request received and never handled (the connection was cut under it)."""
        self._write(call, "refused", why)

    def _write(self, call: Call, outcome: str, why: str) -> None:
        body = call.body if isinstance(call.body, dict) else None
        request = body if body is not None else ({"raw": call.raw[:500]} if call.raw.strip() else None)
        clordid = body.get("clOrdId") if body else None
        self.audit.record(
            self._account_of(call, body or {}),
            call.endpoint.partition("/")[2] or call.endpoint,
            clordid if isinstance(clordid, str) else None,
            outcome,
            why,
            request,
        )

    def _account_of(self, call: Call, body: dict[str, Any]) -> str:
        sim = self.sim
        acct_id = body.get("accountId")
        if type(acct_id) is int and acct_id in sim.accounts:
            return sim.accounts[acct_id].name
        order_id = body.get("orderId")
        if type(order_id) is int and order_id in sim.ledger.order_account:
            return sim.accounts[sim.ledger.order_account[order_id]].name
        spec = body.get("accountSpec") or body.get("accountName")
        if isinstance(spec, str):
            return spec
        mine = [a.name for a in sim.accounts.values() if a.user_id == call.user_id]
        return mine[0] if len(mine) == 1 else ""

    async def _audit(self, request: web.Request) -> web.Response:
        account = request.query.get("account")
        entries = [e for e in self.audit.as_json() if account is None or e["account"] == account]
        return web.json_response(entries)

    # ----------------------------------------------------------------- quote
    async def _quote(self, request: web.Request) -> web.Response:
        symbol = request.query.get("symbol", "").strip()
        if not symbol:
            return web.json_response({"errorText": "give ?symbol=ES (a root) or a contract name"}, status=400)
        try:
            root = root_symbol(symbol.upper())
        except EntityError as exc:
            return web.json_response({"errorText": str(exc)}, status=404)
        exchange, contract = self.sim.exchange, self.sim.ledger.front(root)
        bid, ask = exchange.quote(root)
        quote = {"symbol": root, "contract": contract["name"], "contractId": contract["id"]}
        return web.json_response(quote | {"bid": bid, "ask": ask, "last": exchange.price(root)})

    # ---------------------------------------------------------------- orders
    def order_join(self, account: str | None = None) -> list[dict[str, Any]]:
        """Every order with the clOrdId of its placement and its commands (see the module's docstring)."""
        sim, ledger = self.sim, self.sim.ledger
        commands: dict[int, list[dict[str, Any]]] = {}
        for cmd in sorted(ledger.commands.values(), key=lambda c: c["id"]):
            commands.setdefault(cmd["orderId"], []).append(cmd)
        out = []
        for oid, order in ledger.orders.items():
            name = sim.accounts[order["accountId"]].name
            if account is not None and name != account:
                continue
            cmds = commands.get(oid, [])
            placed = next((c for c in cmds if c["commandType"] == "New"), None)
            out.append(
                {
                    "orderId": oid,
                    "accountId": order["accountId"],
                    "account": name,
                    "contractId": order["contractId"],
                    "contract": ledger.contracts[order["contractId"]]["name"],
                    "action": order["action"],
                    "ordStatus": order["ordStatus"],
                    "clOrdId": placed["clOrdId"] if placed else None,
                    "commands": [
                        {k: c.get(k) for k in ("id", "commandType", "clOrdId", "commandStatus", "timestamp")}
                        for c in cmds
                    ],
                }
            )
        return out

    async def _orders(self, request: web.Request) -> web.Response:
        return web.json_response(self.order_join(request.query.get("account")))
