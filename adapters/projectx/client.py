"""The ProjectX Gateway adapter (TopstepX and the other prop firms on ProjectX).

REST for orders, positions and trades (see :mod:`adapters.projectx.rest`), the SignalR user hub
for account events (see :mod:`adapters.projectx.hub`), payloads validated at the edge and turned
into AccountEvents (:mod:`adapters.projectx.events`). The hub reconnects by itself and, once
subscribed again, resyncs over REST: missed trades, open orders, orders that ended meanwhile,
positions. ``customTag`` carries copytui's client order id and is the idempotency key: the
gateway refuses a second order with the same tag on one account.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from adapters.base import (
    AmbiguousOutcome,
    AuthFailed,
    BrokerAdapter,
    BrokerError,
    Capabilities,
    Disconnected,
    HealthState,
    RateLimited,
)
from adapters.kit.tasks import TaskGroup
from adapters.projectx import contracts
from adapters.projectx.events import Translator
from adapters.projectx.hub import HubClosed, UserHub
from adapters.projectx.payloads import (
    TYPE_OUT,
    GwOrder,
    GwPosition,
    GwTrade,
    PayloadError,
    copy_status,
    side_out,
    validate,
)
from adapters.projectx.ratelimit import TokenBucket
from adapters.projectx.rest import GatewayRest, Wire
from adapters.projectx.signalr import SignalRProtocolError
from copytui.instruments import instrument
from copytui.models import (
    AccountEvent,
    FollowerOrder,
    OrderAck,
    OrderInfo,
    OrderStatus,
    OrderType,
    Position,
)

log = logging.getLogger("copytui.adapters.projectx")

_CLOSED = object()
_EVENT_MODELS: dict[str, type] = {
    "GatewayUserOrder": GwOrder,
    "GatewayUserTrade": GwTrade,
    "GatewayUserPosition": GwPosition,
}


def _type_from_prices(o: GwOrder) -> OrderType:
    """What an order of a type unknown here is, as far as its prices tell."""
    if o.limitPrice is not None:
        return OrderType.STOP_LIMIT if o.stopPrice is not None else OrderType.LIMIT
    return OrderType.STOP if o.stopPrice is not None else OrderType.MARKET


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


class ProjectXAdapter(BrokerAdapter):
    broker = "projectx"
    # customTag's length limit is not documented: 32 lowercase alphanumerics is a safe fit
    capabilities = Capabilities(modify=True, brackets=False, client_ids=True, client_id_max_len=32)

    def __init__(
        self,
        account: str,
        *,
        api_url: str,
        hub_url: str,
        username: str,
        api_key: Any,
        account_id: int | None = None,
        account_name: str | None = None,
        negotiate: bool = False,
        contract_overrides: dict[str, str] | None = None,
        budget: tuple[int, float] | TokenBucket = (200, 60.0),
        timeout_s: float = 5.0,
        order_timeout_s: float = 5.0,
        order_max_wait_s: float = 0.5,
        token_lifetime_s: float = 24 * 3600.0,
        ping_interval_s: float = 15.0,
        server_timeout_s: float = 30.0,
        reconnect_delay_s: float = 0.05,
        max_reconnect_delay_s: float = 5.0,
        lookback_h: float = 24.0,
    ) -> None:
        super().__init__(account)
        self.rest = GatewayRest(
            api_url,
            username,
            api_key,
            bucket=budget if isinstance(budget, TokenBucket) else TokenBucket(*budget),
            timeout_s=timeout_s,
            order_timeout_s=order_timeout_s,
            order_max_wait_s=order_max_wait_s,
            token_lifetime_s=token_lifetime_s,
        )
        self.hub_url = hub_url
        self.account_id = account_id
        self.account_name = account_name
        self.negotiate = negotiate
        self.ping_interval_s = ping_interval_s
        self.server_timeout_s = server_timeout_s
        self.reconnect_delay_s = reconnect_delay_s
        self._held_live: list[tuple[str, list[Any], int]] | None = None
        self.max_reconnect_delay_s = max_reconnect_delay_s
        self.lookback = timedelta(hours=lookback_h)
        self.contract_ids: dict[str, str] = dict(contract_overrides or {})
        self.translator: Translator | None = None
        self.hub: UserHub | None = None
        self.tasks = TaskGroup()
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        self._subscribed = asyncio.Event()
        self._closing = False
        self._session_start: datetime | None = None
        self.malformed: list[str] = []
        self.unknown_values: Counter[str] = Counter()  # "GatewayUserOrder.status=9" -> times seen
        self.resyncs = 0
        self._was_up = False

    # ------------------------------------------------------------ session
    @property
    def account_key(self) -> str:
        """After connect: the gateway's own account id at this gateway, however the config named it."""
        if self.account_id is None:
            return super().account_key
        return f"projectx-{urlsplit(self.rest.api_url).netloc}-{self.account_id}"

    async def connect(self) -> None:
        self._closing = False
        self.health.connecting()
        try:
            await self.rest.open()
            await self.rest.login()
            if self.account_id is None:
                self.account_id = await self._find_account_id()
            self._session_start = datetime.now(UTC)
            if self.translator is None:
                self.translator = Translator(self.account, self.account_id)
                await self._baseline()
        except BaseException:
            await self.rest.close()
            self.health.down(detail=self.health.detail)
            raise
        self._subscribed.clear()
        self.tasks.spawn(self._hub_loop(), f"projectx-hub-{self.account}")
        self.tasks.spawn(self._token_loop(), f"projectx-token-{self.account}")
        try:
            await asyncio.wait_for(self._subscribed.wait(), self.rest.timeout_s * 2)
        except TimeoutError:
            detail = self.health.detail or "no answer"
            await self.tasks.cancel_all()
            await self.rest.close()
            raise Disconnected(f"ProjectX user hub for {self.account} did not subscribe: {detail}") from None

    async def _baseline(self) -> None:
        """What the account already had before this session: known, never reported as news.

        A resync after a reconnect then reports only what happened since; old trades and
        orders placed before copytui started are not mistaken for new leader activity.
        """
        assert self.translator is not None and self._session_start is not None
        for raw in await self._search_trades(self._session_start - self.lookback):
            if (t := self._valid(GwTrade, raw, "Trade/search")) is not None and t.accountId == self.account_id:
                self.translator.on_trade(t)
        for raw in await self._search_open_orders():
            if (o := self._valid(GwOrder, raw, "Order/searchOpen")) is not None and o.accountId == self.account_id:
                self.translator.on_order(o)

    async def _find_account_id(self) -> int:
        data = await self.rest.read("/api/Account/search", {"onlyActiveAccounts": True}, what="account search")
        accounts = data.get("accounts")
        if not isinstance(accounts, list):
            raise BrokerError("ProjectX Account/search answer has no 'accounts' list")
        names = [a.get("name") for a in accounts if isinstance(a, dict)]
        for a in accounts:
            if isinstance(a, dict) and a.get("name") == self.account_name and isinstance(a.get("id"), int):
                return int(a["id"])
        have = ", ".join(map(str, names)) or "none"
        raise AuthFailed(f"ProjectX user has no active account named {self.account_name!r}; it has: {have}")

    async def disconnect(self) -> None:
        self._closing = True
        if self.hub is not None:
            await self.hub.close()
        await self.tasks.cancel_all()
        await self.rest.close()
        self.health.down()
        self._queue.put_nowait(_CLOSED)

    async def subscribe(self) -> AsyncIterator[AccountEvent]:  # type: ignore[override]
        while True:
            item = await self._queue.get()
            if item is _CLOSED:
                return
            assert isinstance(item, AccountEvent)
            yield item

    def _emit(self, events: list[AccountEvent]) -> None:
        for ev in events:
            self._queue.put_nowait(ev)
        if events:
            self.health.last_event_wall_ns = time.time_ns()

    # ------------------------------------------------------------ the hub
    async def _token_loop(self) -> None:
        while True:
            await asyncio.sleep(max(0.05, self.rest.token_refresh_at - time.monotonic()))
            try:
                await self.rest.revalidate()
            except BrokerError as exc:
                self.health.detail = f"token renewal failed: {exc}"
                log.warning("ProjectX %s: token renewal failed: %s", self.account, exc)
                await asyncio.sleep(1.0)

    async def _hub_loop(self) -> None:
        delay = self.reconnect_delay_s
        while not self._closing:
            self._was_up = False
            try:
                await self._hub_session()
            except HubClosed as exc:
                self._hub_down(str(exc))
                if not exc.allow_reconnect:
                    log.error("ProjectX %s: the hub said not to reconnect: %s", self.account, exc)
                    self.health.down(HealthState.STOPPED, str(exc))
                    return
            except AuthFailed as exc:
                self._hub_down(str(exc))
                with contextlib.suppress(BrokerError):
                    await self.rest.login()
            except (BrokerError, SignalRProtocolError, OSError) as exc:
                self._hub_down(str(exc))
            except Exception as exc:  # a bug must not end the account's stream: log it, reconnect, resync
                log.exception("ProjectX %s: user hub session failed", self.account)
                self._hub_down(f"{type(exc).__name__}: {exc}")
            if self._was_up:
                delay = self.reconnect_delay_s  # a working connection dropped: come back at once
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.max_reconnect_delay_s)

    def _hub_down(self, why: str) -> None:
        if self._closing:
            return
        self.health.lost(why)
        log.warning("ProjectX %s: user hub down: %s", self.account, why)

    async def _hub_session(self) -> None:
        session = await self.rest.open()
        await self.rest.fresh_token()
        hub = UserHub(
            session,
            self.hub_url,
            self.rest.token,
            self._on_invocation,
            negotiate=self.negotiate,
            ping_interval_s=self.ping_interval_s,
            server_timeout_s=self.server_timeout_s,
        )
        self.hub = hub
        await hub.open()
        reader = asyncio.get_running_loop().create_task(hub.run(), name=f"projectx-hub-reader-{self.account}")
        try:
            await hub.invoke("SubscribeAccounts")
            for method in ("SubscribeOrders", "SubscribePositions", "SubscribeTrades"):
                await hub.invoke(method, self.account_id)
            if self._subscribed.is_set():
                # live events wait while what happened during the outage is read, so the account's
                # events stay in the broker's order (invariant 11); a live event the resync already
                # brought is known by its id and dropped by the translator
                self._held_live = []
                try:
                    await self._resync()
                finally:
                    held, self._held_live = self._held_live, None
                    for target, args, recv_ns in held:
                        self._on_invocation(target, args, recv_ns)
                self.health.reconnects += 1
            self._subscribed.set()
            self._was_up = True
            self.health.up()
            await reader
        finally:
            if not reader.done():
                reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, HubClosed):
                await reader
            await hub.close()

    def _on_invocation(self, target: str, args: list[Any], recv_ns: int) -> None:
        if self._held_live is not None:
            self._held_live.append((target, args, recv_ns))
            return
        model = _EVENT_MODELS.get(target)
        if model is None:
            return  # GatewayUserAccount and anything newer: not needed for copying
        payloads = [a for arg in args for a in (arg if isinstance(arg, list) else [arg])]
        entities = [p for p in payloads if isinstance(p, dict)]
        if not entities:
            self._malformed(f"{target}: no JSON object among its arguments {args!r:.120}")
            return
        for raw in entities:
            self._handle(target, model, raw, recv_ns)

    def _handle(self, target: str, model: type, raw: Any, recv_ns: int) -> None:
        assert self.translator is not None
        try:
            p = validate(model, raw, target)
            if p.accountId != self.account_id:
                return  # SubscribeAccounts may bring other accounts' news
            self._note_unknown(target, p)
            if isinstance(p, GwOrder):
                events = self.translator.on_order(p, recv_ns)
            elif isinstance(p, GwTrade):
                events = self.translator.on_trade(p, recv_ns)
            else:
                events = self.translator.on_position(p, recv_ns)
        except (PayloadError, ValueError) as exc:
            self._malformed(str(exc))
            return
        except Exception as exc:  # never let one payload end the stream
            log.exception("ProjectX %s: %s payload could not be handled", self.account, target)
            self._malformed(f"{target}: could not be handled ({type(exc).__name__}: {exc})")
            return
        self._emit(events)

    def _note_unknown(self, what: str, p: Any) -> None:
        """Enum values this copytui does not know: counted, said once each, and the event kept."""
        for value in p.unknown_values:
            key = f"{what}.{value}"
            self.unknown_values[key] += 1
            if self.unknown_values[key] == 1:
                log.warning("ProjectX %s: %s is unknown to this copytui; the event is kept", self.account, key)
                self.health.detail = f"unknown gateway value {key} (event kept)"

    def _malformed(self, text: str) -> None:
        log.warning("ProjectX %s: skipped a malformed hub payload: %s", self.account, text)
        self.malformed.append(text)
        self.health.drop(f"malformed payload: {text}")  # the engine journals and alerts it
        self.health.detail = f"skipped malformed payload: {text[:160]}"

    async def _resync(self) -> None:
        """After a reconnect: what happened while the hub was away, through the same translator."""
        assert self.translator is not None and self._session_start is not None
        tr = self.translator
        now_ns = time.perf_counter_ns()
        since = datetime.fromtimestamp(tr.last_trade_ns / 1e9, UTC) if tr.last_trade_ns else self._session_start
        # a generous window: trades already seen are known by id, so overlap costs nothing
        for raw in await self._search_trades(min(since, self._session_start) - timedelta(minutes=5)):
            self._handle("GatewayUserTrade", GwTrade, raw, now_ns)
        open_ids = set()
        for raw in await self._search_open_orders():
            if isinstance(raw, dict) and isinstance(raw.get("id"), int):
                open_ids.add(raw["id"])
            self._handle("GatewayUserOrder", GwOrder, raw, now_ns)
        gone = [oid for oid in tr.working_ids() if oid not in open_ids]
        if gone:
            for raw in await self._search_orders(self._session_start - self.lookback):
                if isinstance(raw, dict) and raw.get("id") in gone:
                    self._handle("GatewayUserOrder", GwOrder, raw, now_ns)
        held = set()
        for raw in await self._search_positions():
            self._handle("GatewayUserPosition", GwPosition, raw, now_ns)
            with contextlib.suppress(contracts.ContractError):
                if isinstance(raw, dict):
                    held.add(contracts.symbol_of(raw.get("contractId")))
        for sym in list(tr.positions):
            if sym not in held:
                self._emit(tr.flat(sym, now_ns))
        self.resyncs += 1

    # ------------------------------------------------------------- REST reads
    def _body(self, **kw: Any) -> dict[str, Any]:
        return {"accountId": self.account_id, **kw}

    async def _list(self, path: str, key: str, what: str, body: dict[str, Any]) -> list[Any]:
        data = await self.rest.read(path, body, what=what)
        items = data.get(key)
        if not isinstance(items, list):
            raise BrokerError(f"ProjectX {what} answer has no '{key}' list")
        return items

    async def _search_open_orders(self) -> list[Any]:
        return await self._list("/api/Order/searchOpen", "orders", "open order search", self._body())

    async def _search_orders(self, start: datetime) -> list[Any]:
        body = self._body(startTimestamp=_iso(start), endTimestamp=None)
        return await self._list("/api/Order/search", "orders", "order search", body)

    async def _search_trades(self, start: datetime) -> list[Any]:
        body = self._body(startTimestamp=_iso(start), endTimestamp=None)
        return await self._list("/api/Trade/search", "trades", "trade search", body)

    async def _search_positions(self) -> list[Any]:
        return await self._list("/api/Position/searchOpen", "positions", "position search", self._body())

    def _valid(self, model: type, raw: Any, what: str) -> Any | None:
        try:
            p = validate(model, raw, what)
        except PayloadError as exc:
            self._malformed(str(exc))
            return None
        self._note_unknown(what, p)
        return p

    def _info(self, o: GwOrder) -> OrderInfo:
        """An order as copytui reports it; a side or type the gateway says in a value unknown here is taken
        from what place() or the hub told of the order, else inferred from its prices (type) or refused (side)."""
        assert self.translator is not None
        known = self.translator.orders.get(o.id)
        side = o.copy_side or (known.side if known else None)
        if side is None:
            raise BrokerError(
                f"ProjectX order {o.id}: side {', '.join(o.unknown_values)} is unknown to this copytui; "
                "cannot report the order"
            )
        order_type = o.order_type or (known.order_type if known else None) or _type_from_prices(o)
        return OrderInfo(
            account=self.account,
            broker_order_id=str(o.id),
            client_order_id=o.customTag or self.translator.tag_of(o.id),
            symbol=o.symbol,
            side=side,
            order_type=order_type,
            qty=o.size,
            filled_qty=o.filled,
            price=o.limitPrice,
            stop_price=o.stopPrice,
            avg_fill_price=o.filledPrice,
            status=copy_status(o.status, o.filled),
        )

    async def positions(self) -> list[Position]:
        out = []
        for raw in await self._search_positions():
            p = self._valid(GwPosition, raw, "Position/searchOpen")
            if p is not None and p.size:
                out.append(
                    Position(account=self.account, symbol=p.symbol, qty=p.signed_size, avg_price=p.averagePrice or 0.0)
                )
        return out

    async def open_orders(self) -> list[OrderInfo]:
        out = []
        for raw in await self._search_open_orders():
            o = self._valid(GwOrder, raw, "Order/searchOpen")
            if o is not None:
                out.append(self._info(o))
        return out

    async def find_order(self, client_order_id: str) -> OrderInfo | None:
        """By customTag: the open orders first, then every order of the look-back window."""
        assert self.translator is not None and self._session_start is not None
        known = self.translator.id_of_tag(client_order_id)
        for raw in await self._search_open_orders():
            o = self._valid(GwOrder, raw, "Order/searchOpen")
            if o is not None and (o.customTag == client_order_id or (known is not None and o.id == known)):
                return self._info(o).model_copy(update={"client_order_id": client_order_id})
        for raw in await self._search_orders(datetime.now(UTC) - self.lookback):
            o = self._valid(GwOrder, raw, "Order/search")
            if o is not None and (o.customTag == client_order_id or (known is not None and o.id == known)):
                return self._info(o).model_copy(update={"client_order_id": client_order_id})
        return None

    async def fills_since(self, cursor: str | None) -> tuple[list[AccountEvent], str | None]:
        """Trades after ``cursor`` ("<ISO time>|<trade id>"), each with its order's cumulative quantity."""
        assert self._session_start is not None
        if cursor:
            stamp, sep, last = cursor.partition("|")
            try:
                after_ts, after_id = datetime.fromisoformat(stamp), int(last)
            except ValueError:
                raise BrokerError(
                    f"ProjectX fill cursor must look like '2025-01-21T16:13:52Z|8604', got {cursor!r}"
                ) from None
        else:
            after_ts, after_id = self._session_start, -1
        trades = [
            t
            for raw in await self._search_trades(after_ts - self.lookback)
            if (t := self._valid(GwTrade, raw, "Trade/search"))
        ]
        trades = [t for t in trades if not t.voided and t.creationTimestamp is not None]
        trades.sort(key=lambda t: (t.creationTimestamp, t.id))
        replay = Translator(self.account, self.account_id or 0)
        assert self.translator is not None
        for oid, st in self.translator.orders.items():
            if st.custom_tag:
                replay.learn(oid, st.custom_tag, st.symbol, st.side, st.order_type, st.size)
        events: list[AccountEvent] = []
        new_cursor = cursor
        for t in trades:
            evs = replay.on_trade(t)
            if (t.creationTimestamp, t.id) > (after_ts, after_id):
                events.extend(evs)
                new_cursor = f"{_iso(t.creationTimestamp)}|{t.id}"
        if new_cursor is None:
            new_cursor = f"{_iso(after_ts)}|{after_id}"
        return events, new_cursor

    # ------------------------------------------------------------- orders
    async def contract_id(self, symbol: str) -> str:
        """The active contract for a copytui symbol: from options.contracts, else Contract/search."""
        cid = self.contract_ids.get(symbol)
        if cid:
            return cid
        data = await self.rest.read(
            "/api/Contract/search", {"searchText": symbol, "live": False}, what="contract search"
        )
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
            self.contract_ids[symbol] = str(c["id"])
            return self.contract_ids[symbol]
        raise BrokerError(
            f"ProjectX has no active {symbol} contract; set options.contracts, e.g. {symbol}="
            f"{contracts.contract_for(symbol, 'H25')}"
        )

    def _ack(
        self, order: FollowerOrder, status: OrderStatus, wire: Wire, broker_id: str | None, reason: str | None = None
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

    async def _write(self, path: str, body: dict[str, Any], *, what: str, wire: Wire) -> dict[str, Any]:
        """An order request; a plain refusal (HTTP 4xx) comes back as success false, not as an error."""
        try:
            return await self.rest.call(path, body, what=what, write=True, wire=wire)
        except (AmbiguousOutcome, Disconnected, AuthFailed, RateLimited):
            raise
        except BrokerError as exc:
            return {"success": False, "errorCode": None, "errorMessage": str(exc)}

    @staticmethod
    def _refusal(data: dict[str, Any]) -> str:
        return f"ProjectX errorCode {data.get('errorCode')}: {data.get('errorMessage') or 'no message'}"

    async def place(self, order: FollowerOrder) -> OrderAck:
        wire = Wire()
        try:
            contract = await self.contract_id(order.symbol)
        except (RateLimited, Disconnected, AuthFailed):
            raise  # nothing was sent: the engine knows these
        except BrokerError as exc:
            return self._ack(order, OrderStatus.REJECTED, wire, None, f"not sent: {exc}")
        inst = instrument(order.symbol)
        body = self._body(
            contractId=contract,
            type=int(TYPE_OUT[order.order_type]),
            side=side_out(order.side),
            size=order.qty,
            limitPrice=inst.round_price(order.price) if order.price is not None else None,
            stopPrice=inst.round_price(order.stop_price) if order.stop_price is not None else None,
            trailPrice=None,
            customTag=order.client_order_id,
            linkedOrderId=None,
        )
        data = await self._write("/api/Order/place", body, what=f"Order/place {order.client_order_id}", wire=wire)
        if not data.get("success"):
            return self._ack(order, OrderStatus.REJECTED, wire, None, self._refusal(data))
        oid = data.get("orderId")
        if not isinstance(oid, int) or isinstance(oid, bool):
            raise AmbiguousOutcome(f"ProjectX Order/place answered success without an integer 'orderId' (got {oid!r})")
        assert self.translator is not None
        self.translator.learn(oid, order.client_order_id, order.symbol, order.side, order.order_type, order.qty)
        return self._ack(order, OrderStatus.WORKING, wire, str(oid))

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
            return self._ack(
                order, OrderStatus.REJECTED, wire, None, f"no order with client id {order.target_client_order_id}"
            )
        inst = instrument(order.symbol)
        body = self._body(
            orderId=oid,
            size=order.qty or None,
            limitPrice=inst.round_price(order.price) if order.price is not None else None,
            stopPrice=inst.round_price(order.stop_price) if order.stop_price is not None else None,
            trailPrice=None,
        )
        data = await self._write("/api/Order/modify", body, what=f"Order/modify {oid}", wire=wire)
        if not data.get("success"):
            return self._ack(order, OrderStatus.REJECTED, wire, str(oid), self._refusal(data))
        return self._ack(order, OrderStatus.WORKING, wire, str(oid))

    async def cancel(self, order: FollowerOrder) -> OrderAck:
        wire = Wire()
        oid = await self._target_id(order)
        if oid is None:
            return self._ack(
                order, OrderStatus.REJECTED, wire, None, f"no order with client id {order.target_client_order_id}"
            )
        data = await self._write("/api/Order/cancel", self._body(orderId=oid), what=f"Order/cancel {oid}", wire=wire)
        if not data.get("success"):
            return self._ack(order, OrderStatus.REJECTED, wire, str(oid), self._refusal(data))
        return self._ack(order, OrderStatus.CANCELLED, wire, str(oid))

    async def _position_call(self, path: str, body: dict[str, Any], what: str) -> None:
        data = await self.rest.call(path, body, what=what, write=True)
        if not data.get("success"):
            raise BrokerError(f"ProjectX {what} failed: {self._refusal(data)}")

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
        for info in await self.open_orders():
            if symbol is None or info.symbol == symbol:
                oid = int(info.broker_order_id)
                data = await self.rest.call(
                    "/api/Order/cancel", self._body(orderId=oid), what=f"Order/cancel {oid}", write=True
                )
                if not data.get("success"):
                    log.warning("ProjectX %s: cancel %s during flatten: %s", self.account, oid, self._refusal(data))
        for raw in await self._search_positions():
            p = self._valid(GwPosition, raw, "Position/searchOpen")
            if p is not None and p.size and (symbol is None or p.symbol == symbol):
                await self._position_call(
                    "/api/Position/closeContract", self._body(contractId=p.contractId), f"closeContract {p.symbol}"
                )
