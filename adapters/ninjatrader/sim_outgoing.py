"""The stand-in's ``outgoing/``: what NinjaTrader 8 writes there, as the ATI pages describe it.

- ``<orderId>.txt``, rewritten at each state change, only for orders placed with an ORDER ID in
  this NinjaTrader session: ``STATE;filled;average fill price``;
- ``<Instrument> <Exchange>_<Account>_Position.txt`` at each position change: ``LONG|SHORT|FLAT;qty;avg``;
- ``<Connection>.txt`` at each connection change: ``CONNECTED`` or ``DISCONNECTED``.

Files are rewritten in place (truncate, write), as a .NET ``File.WriteAllText`` does: a reader may
catch one empty for a moment, which is what copytui's side must live with.
"""

from __future__ import annotations

import contextlib
import os

from adapters.ninjatrader.wire import NtState, order_file_text, position_file_name, position_file_text
from adapters.paper.exchange import PaperOrder, PaperPosition
from copytui.models import OrderStatus


def state_of(order: PaperOrder) -> NtState:
    """NinjaTrader's state for a paper order as it stands."""
    if order.status is OrderStatus.REJECTED:
        return NtState.REJECTED
    if order.status is OrderStatus.CANCELLED:
        return NtState.CANCELLED
    if order.filled >= order.qty:
        return NtState.FILLED
    if order.filled:
        return NtState.PARTFILLED
    return NtState.WORKING


class Outgoing:
    def __init__(self, folder: str, exchange_name: str = "Globex") -> None:
        self.folder = folder
        self.exchange_name = exchange_name
        self.writes = 0
        self.muted = False
        """True: nothing is written (NinjaTrader read an instruction and then failed to say anything)."""

    def _write(self, name: str, text: str) -> None:
        if self.muted:
            return
        with open(os.path.join(self.folder, name), "w", encoding="utf-8", newline="") as fh:
            fh.write(text + "\r\n")
        self.writes += 1

    def order(self, order_id: str, state: NtState, order: PaperOrder | None = None) -> None:
        filled = order.filled if order is not None else 0
        avg = (order.avg_fill_price or 0.0) if order is not None else 0.0
        self._write(f"{order_id}.txt", order_file_text(state, filled, avg))

    def position(self, instrument: str, account: str, pos: PaperPosition | None) -> None:
        qty, avg = (pos.qty, pos.avg_price) if pos is not None else (0, 0.0)
        self._write(position_file_name(instrument, account, self.exchange_name), position_file_text(qty, avg))

    def connection(self, name: str, connected: bool) -> None:
        self._write(f"{name}.txt", "CONNECTED" if connected else "DISCONNECTED")

    def clear(self) -> int:
        """Empty the folder, as NinjaTrader does when it starts: how many files went."""
        gone = 0
        for name in os.listdir(self.folder):
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(self.folder, name))
                gone += 1
        return gone
