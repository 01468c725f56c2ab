"""The Rithmic reads an adapter asks of its session: show orders (320), replay executions (3506)
and the PnL position snapshot (402); and the front months the session asks the ticker plant (113).

Their rows come as notifications marked ``is_snapshot`` (no request id), claimed by the one read
of that kind in flight for the account. A read's body that does not carry what copytui needs (a
replayed execution without its fill id, say) fails loudly with :class:`BrokerError`: the bodies of
these answers are documented by async-rithmic only, not by Rithmic.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from adapters.base import BrokerError
from adapters.rithmic.book import SIDES, TYPES, Note, looks_done, prices
from adapters.rithmic.contracts import PRODUCTS, Contract, symbol_of
from adapters.rithmic.enums import ExchangeNotify, InfraType, OrderNotify
from adapters.rithmic.messages import (
    InstrumentPnLPositionUpdate,
    RequestFrontMonthContract,
    RequestPnLPositionSnapshot,
    ResponseFrontMonthContract,
)
from adapters.rithmic.order_messages import (
    ExchangeOrderNotification,
    RequestReplayExecutions,
    RequestShowOrders,
    RithmicOrderNotification,
)
from adapters.rithmic.plant import Answer, PlantLink
from adapters.rithmic.trailing import read_type
from copytui.models import OrderInfo, OrderStatus, Position

if TYPE_CHECKING:
    from adapters.rithmic.session import RithmicSession


def _checked(answer: Answer, what: str) -> Answer:
    if answer.ok or answer.code == "7":  # "7": no data
        return answer
    raise BrokerError(f"Rithmic refused {what}: {answer.text}")


async def show_orders(session: RithmicSession, account_id: str, timeout_s: float) -> list[Note]:
    """The account's working orders, one row each (the latest row per basket id)."""
    async with session.snapshot_of(InfraType.ORDER_PLANT, account_id) as link:
        answer = await link.call(
            RequestShowOrders(fcm_id=session.fcm_id, ib_id=session.ib_id, account_id=account_id),
            what=f"show orders of {account_id}",
            snapshot_account=account_id,
            timeout_s=timeout_s,
        )
    rows: dict[str, Note] = {}
    for row in _checked(answer, "show orders").rows:
        if isinstance(row, RithmicOrderNotification | ExchangeOrderNotification) and row.basket_id:
            if isinstance(row, RithmicOrderNotification) and row.notify_type == OrderNotify.COMPLETE:
                rows.pop(row.basket_id, None)
            elif not looks_done(row.status):
                rows[row.basket_id] = row
            else:
                rows.pop(row.basket_id, None)
    return list(rows.values())


async def replay_fills(
    session: RithmicSession, account_id: str, start_s: int, finish_s: int, timeout_s: float
) -> list[ExchangeOrderNotification]:
    """The account's executions between two times (seconds since the epoch), oldest first."""
    async with session.snapshot_of(InfraType.ORDER_PLANT, account_id) as link:
        answer = await link.call(
            RequestReplayExecutions(
                fcm_id=session.fcm_id,
                ib_id=session.ib_id,
                account_id=account_id,
                start_index=start_s,
                finish_index=finish_s,
            ),
            what=f"replay executions of {account_id}",
            snapshot_account=account_id,
            timeout_s=timeout_s,
        )
    fills: list[ExchangeOrderNotification] = []
    for row in _checked(answer, "the execution replay").rows:
        if isinstance(row, ExchangeOrderNotification) and row.notify_type == ExchangeNotify.FILL:
            if not row.basket_id or not row.fill_id or row.fill_size <= 0:
                raise BrokerError(
                    f"a replayed Rithmic execution of {account_id} lacks basket_id, fill_id or fill_size: "
                    "the replay's body is not what copytui reads (unverified against Rithmic); not guessing"
                )
            fills.append(row)
    fills.sort(key=lambda f: (f.ssboe, f.usecs))
    return fills


async def pnl_positions(
    session: RithmicSession, account_id: str, timeout_s: float
) -> list[InstrumentPnLPositionUpdate]:
    async with session.snapshot_of(InfraType.PNL_PLANT, account_id) as link:
        answer = await link.call(
            RequestPnLPositionSnapshot(fcm_id=session.fcm_id, ib_id=session.ib_id, account_id=account_id),
            what=f"position snapshot of {account_id}",
            snapshot_account=account_id,
            timeout_s=timeout_s,
        )
    return [r for r in _checked(answer, "the position snapshot").rows if isinstance(r, InstrumentPnLPositionUpdate)]


def position_of(row: InstrumentPnLPositionUpdate, account: str) -> Position | None:
    symbol = symbol_of(row.symbol, row.exchange)
    if symbol is None or not row.net_quantity:
        return None
    return Position(
        account=account,
        symbol=symbol,
        qty=row.net_quantity,
        avg_price=row.avg_open_fill_price,
        realized_pnl=row.day_closed_pnl,
        unrealized_pnl=row.day_open_pnl,
    )


def order_info(
    row: Note, account: str, status: OrderStatus | None = None, oco_group: str | None = None
) -> OrderInfo | None:
    """A show-orders row as copytui reports an order; None for a contract copytui does not trade."""
    symbol = symbol_of(row.symbol, row.exchange)
    side = SIDES.get(row.transaction_type)
    order_type = TYPES.get(row.price_type)
    if symbol is None or side is None or order_type is None:
        return None
    ticks = row.trail_by_ticks if isinstance(row, ExchangeOrderNotification) else 0
    order_type, trail = read_type(symbol, order_type, ticks)
    limit, stop = prices(order_type, row.price, row.trigger_price)
    filled = row.total_fill_size
    if status is None:
        status = OrderStatus.PARTIALLY_FILLED if filled else OrderStatus.WORKING
    return OrderInfo(
        account=account,
        broker_order_id=row.basket_id,
        client_order_id=row.user_tag or None,
        symbol=symbol,
        side=side,
        order_type=order_type,
        qty=row.quantity or filled,
        filled_qty=filled,
        price=limit,
        stop_price=stop,
        trail=trail,
        avg_fill_price=row.avg_fill_price or None,
        status=status,
        oco_group=oco_group,
    )


async def front_months(ticker: PlantLink) -> tuple[dict[str, Contract], dict[str, str]]:
    """Each product's front-month contract (RequestFrontMonthContract), and why for those without."""
    found: dict[str, Contract] = {}
    errors: dict[str, str] = {}

    async def one(symbol: str, product: str, exchange: str) -> None:
        try:
            answer = await ticker.call(
                RequestFrontMonthContract(symbol=product, exchange=exchange), what=f"front month of {product}"
            )
        except BrokerError as exc:
            errors[symbol] = str(exc)
            return
        final = answer.final
        if not answer.ok or not isinstance(final, ResponseFrontMonthContract) or not final.trading_symbol:
            errors[symbol] = f"the ticker plant answered {answer.text}"
            return
        contract = Contract(final.trading_symbol, final.trading_exchange or exchange)
        if symbol_of(contract.symbol, contract.exchange) != symbol:
            errors[symbol] = f"the ticker plant named {contract}, not a {symbol} contract"
            return
        found[symbol] = contract

    await asyncio.gather(*(one(s, p, e) for s, (p, e) in PRODUCTS.items()))
    return found, errors
