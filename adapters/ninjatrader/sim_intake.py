"""The stand-in carrying out instruction lines on the paper exchange, as NinjaTrader 8 would.

A line it cannot carry out is :class:`Refused`; a refused PLACE with an ORDER ID gets
``REJECTED;0;0`` in its state file, as NinjaTrader writes for an order it rejects. The ORDER IDs
of this NinjaTrader session are known here (a restart forgets them, as NinjaTrader does); orders
placed without one (by hand, in the stand-in's terms) get no state file, only position changes.

OCO ID links orders as NinjaTrader's OCO does, through the paper exchange's OCO groups (one group
per account and OCO ID): a leg that fills shrinks, then cancels, the others; and, as NinjaTrader's
pages say of an OCO group, a leg that is cancelled cancels the others too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from adapters.base import OrderRejected
from adapters.ninjatrader.contracts import Contracts
from adapters.ninjatrader.sim_outgoing import Outgoing, state_of
from adapters.ninjatrader.wire import TIFS, Instruction, NtState, normalise_instrument
from adapters.paper.exchange import PaperExchange, PaperOrder
from copytui.models import OrderType, Side, TimeInForce

TYPES = {
    "MARKET": OrderType.MARKET,
    "LIMIT": OrderType.LIMIT,
    "STOPMARKET": OrderType.STOP,
    "STOP": OrderType.STOP,
    "STOPLIMIT": OrderType.STOP_LIMIT,
}


class Refused(Exception):
    """An instruction NinjaTrader would not carry out; the message says why."""


@dataclass
class Session:
    """What one run of NinjaTrader knows: its ATI order ids and the instrument each symbol trades as."""

    order_ids: dict[str, tuple[str, str]] = field(default_factory=dict)
    """ATI ORDER ID -> (account, paper order id)."""
    instruments: dict[tuple[str, str], str] = field(default_factory=dict)
    """(account, symbol) -> the instrument name its position file carries."""


class Intake:
    def __init__(self, exchange: PaperExchange, accounts: list[str], outgoing: Outgoing, contracts: Contracts) -> None:
        self.exchange = exchange
        self.accounts = accounts
        self.outgoing = outgoing
        self.contracts = contracts
        self.session = Session()
        self.refused_types: set[str] = set()
        """ORDER TYPE words to reject, as an NT8 that does not take them would (a test's switch)."""

    def instrument_of(self, account: str, symbol: str) -> str:
        return self.session.instruments.get((account, symbol)) or self.contracts.instrument(symbol)

    def _account(self, ins: Instruction) -> str:
        if ins.account not in self.accounts:
            raise Refused(f"account {ins.account!r} is not one of {', '.join(self.accounts)}")
        return ins.account

    def _symbol(self, ins: Instruction) -> tuple[str, str]:
        found = normalise_instrument(ins.instrument)
        if found is None or self.contracts.symbol_of_root(found[1]) is None:
            raise Refused(f"instrument {ins.instrument!r} is not one NinjaTrader knows here")
        return found[0], found[1]

    def _order(self, order_id: str) -> PaperOrder:
        where = self.session.order_ids.get(order_id)
        if where is None:
            raise Refused(f"ORDER ID {order_id!r} is no order of this NinjaTrader session")
        order = self.exchange.accounts[where[0]].orders[where[1]]
        if order.status.final:
            raise Refused(f"order {order_id} is already {state_of(order).value}")
        return order

    def carry_out(self, ins: Instruction) -> None:
        handler = {
            "PLACE": self.place,
            "CHANGE": self.change,
            "CANCEL": self.cancel,
            "CLOSEPOSITION": self.close_position,
            "FLATTENEVERYTHING": self.flatten_everything,
            "CANCELALLORDERS": self.cancel_all,
        }.get(ins.command)
        if handler is None:
            raise Refused(f"{ins.command} is not simulated by the stand-in")
        handler(ins)

    # ------------------------------------------------------------------ commands
    def place(self, ins: Instruction) -> None:
        oid = ins.order_id
        if oid and oid in self.session.order_ids:
            raise Refused(f"ORDER ID {oid!r} is already used in this session (must be unique)")
        try:
            order_type, account, name, symbol, side, tif = self._checked(ins)
        except Refused:
            if oid:
                self.outgoing.order(oid, NtState.REJECTED)
            raise
        self.session.instruments[(account, symbol)] = name
        if oid:
            self.outgoing.order(oid, NtState.SUBMITTED)
            self.session.order_ids[oid] = (account, "")
        try:
            order = self.exchange.submit(
                account, symbol=symbol, side=side, qty=ins.qty, order_type=order_type,
                price=ins.limit or None, stop_price=ins.stop or None, tif=tif, client_order_id=oid or None,
                oco_group=ins.oco or None,
            )  # fmt: skip
        except OrderRejected as exc:
            if oid:
                self.session.order_ids.pop(oid, None)
                self.outgoing.order(oid, NtState.REJECTED)
            raise Refused(str(exc)) from None
        if oid:
            self.session.order_ids[oid] = (account, order.id)

    def _checked(self, ins: Instruction) -> tuple[OrderType, str, str, str, Side, TimeInForce]:
        account = self._account(ins)
        name, symbol = self._symbol(ins)
        if ins.action not in ("BUY", "SELL"):
            raise Refused(f"ACTION {ins.action!r} is not BUY or SELL")
        if ins.qty <= 0:
            raise Refused("QTY must be a positive whole number")
        order_type = TYPES.get(ins.order_type)
        if order_type is None or ins.order_type in self.refused_types:
            raise Refused(f"ORDER TYPE {ins.order_type!r} is not one NinjaTrader takes")
        if ins.tif not in TIFS:
            raise Refused(f"TIF {ins.tif!r} is not DAY or GTC")
        if order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT) and not ins.limit:
            raise Refused(f"{ins.order_type} needs a LIMIT PRICE")
        if order_type in (OrderType.STOP, OrderType.STOP_LIMIT) and not ins.stop:
            raise Refused(f"{ins.order_type} needs a STOP PRICE")
        side = Side.BUY if ins.action == "BUY" else Side.SELL
        return order_type, account, name, symbol, side, TimeInForce(ins.tif.lower())

    def change(self, ins: Instruction) -> None:
        order = self._order(ins.order_id)
        try:
            self.exchange.modify(
                order.account, order.id, qty=ins.qty or None, price=ins.limit or None, stop_price=ins.stop or None
            )
        except OrderRejected as exc:
            raise Refused(str(exc)) from None

    def cancel(self, ins: Instruction) -> None:
        order = self._order(ins.order_id)
        self.exchange.cancel(order.account, order.id)
        self._cancel_group(order)

    def _cancel_group(self, order: PaperOrder) -> None:
        """A cancelled order's OCO group goes with it: its other working orders are cancelled."""
        if order.oco_group is None:
            return
        for leg in list(self.exchange.accounts[order.account].oco_groups.get(order.oco_group, ())):
            if leg is not order and not leg.status.final:
                self.exchange.cancel(order.account, leg.id)

    def close_position(self, ins: Instruction) -> None:
        account = self._account(ins)
        _, symbol = self._symbol(ins)
        self.exchange.flatten(account, symbol)

    def flatten_everything(self, _ins: Instruction) -> None:
        for account in self.accounts:
            self.exchange.flatten(account)

    def cancel_all(self, _ins: Instruction) -> None:
        for account in self.accounts:
            for order in list(self.exchange.accounts[account].orders.values()):
                if not order.status.final:
                    self.exchange.cancel(account, order.id)
