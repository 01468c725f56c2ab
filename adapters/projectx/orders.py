"""The ProjectX adapter's order path: place, modify, cancel, position closes and flatten over REST.

``customTag`` carries copytui's client order id and is the idempotency key: the gateway refuses a
second order with the same tag on one account. An order request is never retried (rest.py); a
plain refusal comes back as a REJECTED ack, an answer that may hide an accepted order as
AmbiguousOutcome (the engine then asks by customTag). :class:`GatewayOrders` is the adapter's
base class (:class:`adapters.projectx.client.ProjectXAdapter` holds the state it reads), so the
order path costs no call beyond its own.

A trailing stop is type 5 with ``trailPrice``. The documentation calls it "the trail price" and no
more; copytui sends it as the trail, a positive distance in price units on the tick grid, as
project-x-py's ``place_trailing_stop_order`` does and as the gateway's own order events report it
(see ``GwOrder.trail``). ``stopPrice`` goes with it only when the leader's stop is known (where the
stop starts); a modify sends ``size`` and the same ``trailPrice``, never a price: the gateway moves
the stop. The simulator refuses the other readings naming the field, so a wrong guess fails loudly.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from adapters.base import AmbiguousOutcome, AuthFailed, BrokerAdapter, BrokerError, Disconnected, RateLimited
from adapters.projectx import searches
from adapters.projectx.events import Translator
from adapters.projectx.intake import Intake
from adapters.projectx.payloads import TYPE_OUT, GwPosition, side_out
from adapters.projectx.rest import GatewayRest, Wire
from copytui.instruments import instrument
from copytui.models import FollowerOrder, OrderAck, OrderStatus, OrderType

log = logging.getLogger("copytui.adapters.projectx")


def trail_price(symbol: str, trail: float) -> float:
    """The ``trailPrice`` for a trail: on the tick grid, at least one tick."""
    inst = instrument(symbol)
    return max(inst.round_price(trail), inst.tick_size)


def _refusal(data: dict[str, Any]) -> str:
    return f"ProjectX errorCode {data.get('errorCode')}: {data.get('errorMessage') or 'no message'}"


def _ack(
    order: FollowerOrder, status: OrderStatus, wire: Wire, broker_id: str | None, reason: str | None = None
) -> OrderAck:
    now = time.perf_counter_ns()
    return OrderAck(
        client_order_id=order.client_order_id,
        broker_order_id=broker_id,
        status=status,
        sent_ns=wire.sent_ns or now,
        ack_ns=now,
        reason=reason,
    )


class GatewayOrders(BrokerAdapter):
    rest: GatewayRest
    account_id: int | None
    translator: Translator | None
    intake: Intake | None
    contract_ids: dict[str, str]
    """copytui symbol -> the contract orders go to: options.contracts, then what Contract/search said."""

    def _body(self, **kw: Any) -> dict[str, Any]:
        return {"accountId": self.account_id, **kw}

    async def contract_id(self, symbol: str) -> str:
        """The active contract for a copytui symbol: from options.contracts, else Contract/search."""
        cid = self.contract_ids.get(symbol)
        if cid:
            return cid
        cid = self.contract_ids[symbol] = await searches.active_contract(self.rest, symbol)
        return cid

    async def _write(self, path: str, body: dict[str, Any], *, what: str, wire: Wire) -> dict[str, Any]:
        """An order request; a plain refusal (HTTP 4xx) comes back as success false, not as an error."""
        try:
            return await self.rest.call(path, body, what=what, write=True, wire=wire)
        except (AmbiguousOutcome, Disconnected, AuthFailed, RateLimited):
            raise
        except BrokerError as exc:
            return {"success": False, "errorCode": None, "errorMessage": str(exc)}

    async def place(self, order: FollowerOrder) -> OrderAck:
        wire = Wire()
        try:
            contract = await self.contract_id(order.symbol)
        except (RateLimited, Disconnected, AuthFailed):
            raise  # nothing was sent: the engine knows these
        except BrokerError as exc:
            return _ack(order, OrderStatus.REJECTED, wire, None, f"not sent: {exc}")
        inst = instrument(order.symbol)
        trail = None
        if order.order_type is OrderType.TRAILING_STOP:
            if order.trail is None:
                return _ack(order, OrderStatus.REJECTED, wire, None, "a trailing stop needs its trail (trailPrice)")
            trail = trail_price(order.symbol, order.trail)
        body = self._body(
            contractId=contract,
            type=int(TYPE_OUT[order.order_type]),
            side=side_out(order.side),
            size=order.qty,
            limitPrice=inst.round_price(order.price) if order.price is not None else None,
            stopPrice=inst.round_price(order.stop_price) if order.stop_price is not None else None,
            trailPrice=trail,
            customTag=order.client_order_id,
            linkedOrderId=None,
        )
        data = await self._write("/api/Order/place", body, what=f"Order/place {order.client_order_id}", wire=wire)
        if not data.get("success"):
            return _ack(order, OrderStatus.REJECTED, wire, None, _refusal(data))
        oid = data.get("orderId")
        if not isinstance(oid, int) or isinstance(oid, bool):
            raise AmbiguousOutcome(f"ProjectX Order/place answered success without an integer 'orderId' (got {oid!r})")
        assert self.translator is not None
        self.translator.learn(oid, order.client_order_id, order.symbol, order.side, order.order_type, order.qty)
        return _ack(order, OrderStatus.WORKING, wire, str(oid))

    async def _target_id(self, order: FollowerOrder) -> int | None:
        assert self.translator is not None
        raw = order.broker_order_id
        if raw is None and order.target_client_order_id:
            oid = self.translator.id_of_tag(order.target_client_order_id)
            if oid is not None:
                return oid
            info = await self.find_order(order.target_client_order_id)
            raw = info.broker_order_id if info else None
        if raw is None:
            return None
        try:
            return int(raw)
        except ValueError:
            raise BrokerError(f"ProjectX order ids are integers; {raw!r} is not one") from None

    async def modify(self, order: FollowerOrder) -> OrderAck:
        wire = Wire()
        oid = await self._target_id(order)
        if oid is None:
            return _ack(
                order, OrderStatus.REJECTED, wire, None, f"no order with client id {order.target_client_order_id}"
            )
        inst = instrument(order.symbol)
        if order.order_type is OrderType.TRAILING_STOP:  # the gateway moves its stop: size and trail only
            body = self._body(orderId=oid, size=order.qty or None, limitPrice=None, stopPrice=None, trailPrice=None)
            if order.trail is not None:
                body["trailPrice"] = trail_price(order.symbol, order.trail)
        else:
            body = self._body(
                orderId=oid,
                size=order.qty or None,
                limitPrice=inst.round_price(order.price) if order.price is not None else None,
                stopPrice=inst.round_price(order.stop_price) if order.stop_price is not None else None,
                trailPrice=None,
            )
        data = await self._write("/api/Order/modify", body, what=f"Order/modify {oid}", wire=wire)
        if not data.get("success"):
            return _ack(order, OrderStatus.REJECTED, wire, str(oid), _refusal(data))
        return _ack(order, OrderStatus.WORKING, wire, str(oid))

    async def cancel(self, order: FollowerOrder) -> OrderAck:
        wire = Wire()
        oid = await self._target_id(order)
        if oid is None:
            return _ack(
                order, OrderStatus.REJECTED, wire, None, f"no order with client id {order.target_client_order_id}"
            )
        data = await self._write("/api/Order/cancel", self._body(orderId=oid), what=f"Order/cancel {oid}", wire=wire)
        if not data.get("success"):
            return _ack(order, OrderStatus.REJECTED, wire, str(oid), _refusal(data))
        return _ack(order, OrderStatus.CANCELLED, wire, str(oid))

    async def _position_call(self, path: str, body: dict[str, Any], what: str) -> None:
        data = await self.rest.call(path, body, what=what, write=True)
        if not data.get("success"):
            raise BrokerError(f"ProjectX {what} failed: {_refusal(data)}")

    async def close_position(self, symbol: str) -> None:
        cid = await self.contract_id(symbol)
        await self._position_call("/api/Position/closeContract", self._body(contractId=cid), f"closeContract {symbol}")

    async def partial_close(self, symbol: str, size: int) -> None:
        if size <= 0:
            raise ValueError(f"partial close size must be positive, got {size}")
        cid = await self.contract_id(symbol)
        await self._position_call(
            "/api/Position/partialCloseContract",
            self._body(contractId=cid, size=size),
            f"partialCloseContract {symbol}",
        )

    async def flatten(self, symbol: str | None = None) -> None:
        """Cancel the working orders, then close the positions (of ``symbol``, or all)."""
        assert self.intake is not None
        for info in await self.open_orders():
            if symbol is None or info.symbol == symbol:
                oid = int(info.broker_order_id)
                data = await self.rest.call(
                    "/api/Order/cancel", self._body(orderId=oid), what=f"Order/cancel {oid}", write=True
                )
                if not data.get("success"):
                    log.warning("ProjectX %s: cancel %s during flatten: %s", self.account, oid, _refusal(data))
        for raw in await searches.open_positions(self.rest, self.account_id):
            p = self.intake.valid(GwPosition, raw, "Position/searchOpen")
            if p is not None and p.size and (symbol is None or p.symbol == symbol):
                await self._position_call(
                    "/api/Position/closeContract", self._body(contractId=p.contractId), f"closeContract {p.symbol}"
                )
