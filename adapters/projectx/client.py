"""The ProjectX Gateway adapter (TopstepX and the other prop firms on ProjectX).

REST for orders, positions and trades (see :mod:`adapters.projectx.rest`, the order path in
:mod:`adapters.projectx.orders`), the SignalR user hub for account events (a
:class:`~adapters.projectx.link.HubLink` per connect), payloads validated at the edge and turned
into AccountEvents (:mod:`adapters.projectx.intake`). The hub reconnects by itself and, once
subscribed again, resyncs over REST (:mod:`adapters.projectx.resync`): missed trades, open orders,
orders that ended meanwhile, positions.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from adapters.base import BrokerError, Capabilities, Disconnected
from adapters.kit.session import Backoff, renew_forever
from adapters.kit.stream import EventStream
from adapters.kit.tasks import TaskGroup
from adapters.projectx import resync, searches
from adapters.projectx.events import Translator
from adapters.projectx.intake import Intake
from adapters.projectx.link import HubLink
from adapters.projectx.options import ProjectXOptions
from adapters.projectx.orders import GatewayOrders
from adapters.projectx.payloads import GwOrder, GwPosition, GwTrade, copy_status
from adapters.projectx.ratelimit import TokenBucket
from adapters.projectx.rest import GatewayRest
from copytui.models import AccountEvent, OrderInfo, OrderType, Position

MAX_RECONNECT_DELAY_S = 5.0


def _type_from_prices(o: GwOrder) -> OrderType:
    """What an order of a type unknown here is, as far as its prices tell."""
    if o.limitPrice is not None:
        return OrderType.STOP_LIMIT if o.stopPrice is not None else OrderType.LIMIT
    return OrderType.STOP if o.stopPrice is not None else OrderType.MARKET


class ProjectXAdapter(GatewayOrders):
    broker = "projectx"
    # customTag's length limit is not documented: 32 lowercase alphanumerics is a safe fit;
    # trailing_stops: type 5 with trailPrice, the gateway moves the stop (see orders.py)
    capabilities = Capabilities(modify=True, brackets=False, client_ids=True, client_id_max_len=32, trailing_stops=True)

    def __init__(
        self,
        account: str,
        *,
        api_url: str,
        hub_url: str,
        username: str,
        api_key: Callable[[], str | None],
        account_id: int | None = None,
        account_name: str | None = None,
        options: ProjectXOptions | None = None,
        budget: TokenBucket | None = None,
    ) -> None:
        """``account_id`` when the config gives the number, else ``account_name`` (looked up at connect);
        ``budget``: the request budget shared with the user's other accounts (see ``create_adapter``)."""
        super().__init__(account)
        opts = options or ProjectXOptions()
        self.options = opts
        self.rest = GatewayRest(
            api_url,
            username,
            api_key,
            bucket=budget or TokenBucket(opts.requests_per_minute, 60.0),
            timeout_s=opts.timeout_s,
            order_timeout_s=opts.order_timeout_s,
            order_max_wait_s=opts.order_max_wait_s,
            token_lifetime_s=opts.session_hours * 3600.0,
            lean_orders=opts.order_http == "lean",
        )
        self.hub_url = hub_url
        self.account_id = account_id
        self.account_name = account_name
        self.lookback = timedelta(hours=opts.lookback_h)
        self.contract_ids = opts.contract_overrides()
        self.translator = None
        self.intake = None
        self.link: HubLink | None = None
        self.stream = EventStream()
        self.tasks = TaskGroup()
        self._session_start: datetime | None = None
        self.resyncs = 0

    # ------------------------------------------------------------ session
    @property
    def account_key(self) -> str:
        """After connect: the gateway's own account id at this gateway, however the config named it."""
        if self.account_id is None:
            return super().account_key
        return f"projectx-{urlsplit(self.rest.api_url).netloc}-{self.account_id}"

    @property
    def malformed(self) -> list[str]:
        """Payloads skipped at the edge, each said in one line (no secret in it)."""
        return self.intake.malformed if self.intake is not None else []

    @property
    def unknown_values(self) -> Counter[str]:
        return self.intake.unknown_values if self.intake is not None else Counter()

    async def connect(self) -> None:
        self.health.connecting()
        try:
            await self.rest.open()
            await self.rest.login()
            if self.account_id is None:
                self.account_id = await searches.account_id_of(self.rest, self.account_name)
            self._session_start = datetime.now(UTC)
            if self.intake is None:  # the first connect; later ones keep what the account's orders told
                translator = Translator(self.account, self.account_id)
                intake = Intake(self.account, translator, self.stream, self.health)
                await resync.baseline(self.rest, intake, self._session_start - self.lookback)
                self.translator, self.intake = translator, intake
        except BaseException:
            await self.rest.close()
            self.health.down(detail=self.health.detail)
            raise
        opts = self.options
        self.link = link = HubLink(
            self.account,
            self.account_id,
            self.rest,
            self.hub_url,
            self.intake,
            self.health,
            self._resync,
            backoff=Backoff(opts.reconnect_delay_s, MAX_RECONNECT_DELAY_S),
            negotiate=opts.negotiate,
            ping_interval_s=opts.ping_interval_s,
            server_timeout_s=opts.server_timeout_s,
        )
        self.tasks.spawn(link.run(), f"projectx-hub-{self.account}")
        self.tasks.spawn(
            renew_forever(self.rest.refresh_due_in, self.rest.revalidate, self.health, "ProjectX token renewal"),
            f"projectx-token-{self.account}",
        )
        try:
            await asyncio.wait_for(link.subscribed.wait(), self.rest.timeout_s * 2)
        except TimeoutError:
            detail = self.health.detail or "no answer"
            await self.tasks.cancel_all()
            await self.rest.close()
            raise Disconnected(f"ProjectX user hub for {self.account} did not subscribe: {detail}") from None

    async def _resync(self) -> None:
        """After a reconnect: what happened while the hub was away, through the same translator."""
        assert self.intake is not None and self._session_start is not None
        await resync.resync(self.rest, self.intake, self._session_start, self.lookback)
        self.resyncs += 1

    async def disconnect(self) -> None:
        if self.link is not None:
            await self.link.close()
        await self.tasks.cancel_all()
        await self.rest.close()
        self.health.down()
        self.stream.close()

    def subscribe(self) -> AsyncIterator[AccountEvent]:
        return self.stream.events()

    # ------------------------------------------------------------- REST reads
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
            trail=o.trail,
        )

    async def positions(self) -> list[Position]:
        assert self.intake is not None
        out = []
        for raw in await searches.open_positions(self.rest, self.account_id):
            p = self.intake.valid(GwPosition, raw, "Position/searchOpen")
            if p is not None and p.size:
                out.append(
                    Position(account=self.account, symbol=p.symbol, qty=p.signed_size, avg_price=p.averagePrice or 0.0)
                )
        return out

    def _valid_orders(self, raws: list[object], what: str) -> Iterator[GwOrder]:
        assert self.intake is not None
        return (o for raw in raws if (o := self.intake.valid(GwOrder, raw, what)) is not None)

    async def open_orders(self) -> list[OrderInfo]:
        raws = await searches.open_orders(self.rest, self.account_id)
        return [self._info(o) for o in self._valid_orders(raws, "Order/searchOpen")]

    async def find_order(self, client_order_id: str) -> OrderInfo | None:
        """By customTag: the open orders first, then every order of the look-back window."""
        assert self.translator is not None
        known = self.translator.id_of_tag(client_order_id)

        def found(raws: list[object], what: str) -> OrderInfo | None:
            for o in self._valid_orders(raws, what):
                if o.customTag == client_order_id or (known is not None and o.id == known):
                    return self._info(o).model_copy(update={"client_order_id": client_order_id})
            return None

        info = found(await searches.open_orders(self.rest, self.account_id), "Order/searchOpen")
        if info is None:
            since = datetime.now(UTC) - self.lookback
            info = found(await searches.orders_since(self.rest, self.account_id, since), "Order/search")
        return info

    async def fills_since(self, cursor: str | None) -> tuple[list[AccountEvent], str | None]:
        """Trades after ``cursor`` ("<ISO time>|<trade id>"), each with its order's cumulative quantity."""
        assert self._session_start is not None and self.translator is not None and self.intake is not None
        if cursor:
            stamp, _, last = cursor.partition("|")
            try:
                after_ts, after_id = datetime.fromisoformat(stamp), int(last)
            except ValueError:
                raise BrokerError(
                    f"ProjectX fill cursor must look like '2025-01-21T16:13:52Z|8604', got {cursor!r}"
                ) from None
        else:
            after_ts, after_id = self._session_start, -1
        raws = await searches.trades_since(self.rest, self.account_id, after_ts - self.lookback)
        trades = [t for raw in raws if (t := self.intake.valid(GwTrade, raw, "Trade/search"))]
        trades = [t for t in trades if not t.voided and t.creationTimestamp is not None]
        trades.sort(key=lambda t: (t.creationTimestamp, t.id))
        replay = Translator(self.account, self.account_id or 0)
        for oid, st in self.translator.orders.items():
            if st.custom_tag:
                replay.learn(oid, st.custom_tag, st.symbol, st.side, st.order_type, st.size)
        events: list[AccountEvent] = []
        new_cursor = cursor
        for t in trades:
            evs = replay.on_trade(t)
            if (t.creationTimestamp, t.id) > (after_ts, after_id):
                events.extend(evs)
                new_cursor = f"{searches.iso(t.creationTimestamp)}|{t.id}"
        if new_cursor is None:
            new_cursor = f"{searches.iso(after_ts)}|{after_id}"
        return events, new_cursor
