"""What this adapter sent to Sierra Chart and what the server named each order, kept on disk, so
that copytui restarted after a kill still finds an order that completed while it was down.

DTC tells an order's ClientOrderID only in ORDER_UPDATE: HISTORICAL_ORDER_FILL_RESPONSE names the
ServerOrderID alone, and OPEN_ORDERS_REQUEST leaves filled and cancelled orders out ("The Server
will not return canceled or filled orders", DTC Trading Related Messages). An order whose answer,
or whose fills, died with the process is known after the restart only by its ServerOrderID, and
sending it again is refused (a ClientOrderID is used once per trading session). So each order is
written here before it goes to the socket (ClientOrderID, symbol, side, quantity, when) and each
ServerOrderID the server names with a ClientOrderID is written once, when its first ORDER_UPDATE is
read. ``find_order`` reads an order's ServerOrderID here, or, for an order whose answer was never
read, takes the one server order of its shape filled after it was sent that no ClientOrderID names
(:meth:`OrderStore.claim`); with two that could be it, it guesses nothing.
"""

from __future__ import annotations

import fcntl
import json
import logging
import math
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapters.sierrachart.messages import HistoricalFill
from adapters.sierrachart.options import SymbolMap
from adapters.sierrachart.wire import BuySell
from copytui.models import OrderType, Side

log = logging.getLogger("copytui.adapters.sierrachart")

CLOCK_SLACK_S = 1
"""DTC's DateTime is whole seconds, and the server's clock is not this process's: a fill this much
before an order was sent may still be the order's."""
_SIDES = {int(BuySell.BUY): Side.BUY, int(BuySell.SELL): Side.SELL}


def _lock(fd: int) -> bool:
    """Whether this process now holds the file (the lock goes with the process, killed or not)."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def store_path(data_dir: str, account_key: str) -> str | None:
    if not data_dir:
        return None
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", account_key)[-120:]
    return os.path.join(data_dir, "sierrachart", f"{safe}.orders.jsonl")


@dataclass(frozen=True, slots=True)
class Sent:
    symbol: str
    side: Side
    order_type: OrderType
    qty: int
    at: float
    """time.time() just before the order was written to the socket."""


@dataclass(slots=True)
class Filled:
    """One server order as the historical fills tell it."""

    symbol: str
    side: Side
    qty: int = 0
    notional: float = 0.0
    first: float = math.inf
    """DateTime of its first fill."""

    @property
    def avg(self) -> float | None:
        return self.notional / self.qty if self.qty else None


def tally(fills: list[HistoricalFill], symbols: SymbolMap) -> dict[str, Filled]:
    """The historical fills by ServerOrderID, each execution counted once."""
    out: dict[str, Filled] = {}
    seen: set[str] = set()
    for f in fills:
        root, side = symbols.to_copytui(f.symbol), _SIDES.get(f.buy_sell)
        if f.exec_id in seen or root is None or side is None or f.price is None:
            continue
        seen.add(f.exec_id)
        order = out.setdefault(f.server_id, Filled(root, side))
        order.qty += f.qty
        order.notional += f.price * f.qty
        order.first = min(order.first, f.date_time)
    return out


class OrderStore:
    """One JSON line per order sent and one per ServerOrderID learnt; entries older than
    ``horizon_s`` (the historical fills asked for reach no further) are dropped when loading.
    Without a path (no data folder) it keeps the same in memory for this process only."""

    def __init__(self, horizon_s: float) -> None:
        self.horizon_s = horizon_s
        self.path: str | None = None
        self.sent: dict[str, Sent] = {}
        self.server_ids: dict[str, str] = {}
        """ClientOrderID -> the ServerOrderID the server gave it."""
        self.clients: dict[str, str] = {}
        """ServerOrderID -> ClientOrderID, for every order the server named with one (ours or not)."""
        self._named_at: dict[str, float] = {}
        self._fd = -1

    def open(self, path: str | None) -> None:
        """Read what earlier runs kept at ``path`` and append there from now on. A file another
        process holds (a second copytui on the account, ``copytui accounts test`` while it runs) is
        read and left alone: this one keeps its own sends in memory only."""
        self.close()
        self.path = None
        if path is None:
            return
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except (OSError, ValueError) as exc:
            log.warning("Sierra Chart: %s cannot be used (%s): orders are kept in memory only", path, exc)
            return
        mine = _lock(fd)
        if mine:
            self._fd, self.path = fd, path
        else:
            os.close(fd)
            log.warning("Sierra Chart: %s is held by another process: read, not written", path)
        oldest, kept = time.time() - self.horizon_s, 0
        for n, line in enumerate(lines, 1):
            try:
                kept += self._load(json.loads(line), oldest)
            except (ValueError, KeyError, TypeError) as exc:
                log.warning("%s line %d skipped: %s", path, n, exc)
        if mine and kept < len(lines):  # old or unreadable entries go: the file stays the size of the window
            self._rewrite(path)

    def _load(self, rec: dict[str, Any], oldest: float) -> int:
        if float(rec["t"]) < oldest:
            return 0
        coid = str(rec["c"])
        if "o" in rec:
            self._name(str(rec["o"]), coid, float(rec["t"]))
        else:
            self.sent[coid] = Sent(str(rec["s"]), Side(rec["b"]), OrderType(rec["k"]), int(rec["q"]), float(rec["t"]))
        return 1

    def _lines(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = [
            {"c": c, "s": s.symbol, "b": s.side.value, "k": s.order_type.value, "q": s.qty, "t": s.at}
            for c, s in self.sent.items()
        ]
        out.extend({"c": c, "o": sid, "t": self._named_at[sid]} for sid, c in self.clients.items())
        return out

    def _rewrite(self, path: str) -> None:
        """The entries kept, in a new file put in place of the old one and locked in its turn."""
        tmp = path + ".tmp"
        try:
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.writelines(json.dumps(rec) + "\n" for rec in self._lines())
            os.replace(tmp, path)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        except OSError as exc:
            log.warning("Sierra Chart: %s cannot be rewritten (%s)", path, exc)
            return
        self.close()
        if _lock(fd):
            self._fd = fd
        else:
            os.close(fd)
            self.path = None

    def _append(self, line: str) -> None:
        if self._fd < 0:
            return
        try:
            os.write(self._fd, line.encode())
        except OSError as exc:  # trading goes on; only a restart's recovery loses this aid
            log.warning("Sierra Chart: %s cannot be written (%s): orders are kept in memory only", self.path, exc)
            self.close()
            self.path = None

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    # ------------------------------------------------------------ writes
    def sending(self, coid: str, symbol: str, side: Side, order_type: OrderType, qty: int) -> None:
        """Before the order goes to the socket: a kill after the write still leaves this line. A
        second send of one ClientOrderID keeps the first time: the first may have arrived."""
        if coid in self.sent:
            return
        at = time.time()
        self.sent[coid] = Sent(symbol, side, order_type, qty, at)
        # written by hand on the order path: the id is checked plain text (valid_client_id), the symbol
        # one of copytui's, the rest enum values and numbers
        self._append(
            f'{{"c":"{coid}","s":"{symbol}","b":"{side.value}","k":"{order_type.value}","q":{qty},"t":{at!r}}}\n'
        )

    def _name(self, sid: str, coid: str, at: float) -> bool:
        if self.clients.get(sid) == coid:
            return False
        self.clients[sid] = coid
        self.server_ids[coid] = sid
        self._named_at[sid] = at
        return True

    def named(self, sid: str, coid: str) -> None:
        """The server calls ``coid`` ``sid`` (an ORDER_UPDATE said both, or a claim decided it)."""
        now = time.time()
        if sid and coid and self._name(sid, coid, now):
            self._append(json.dumps({"c": coid, "o": sid, "t": now}) + "\n")

    # ------------------------------------------------------------ reads
    def claim(self, coid: str, orders: dict[str, Filled]) -> str | None:
        """The ServerOrderID of ``coid``, sent and never answered, from the account's fills: the one
        server order that no ClientOrderID names, of its symbol and side, filled whole, first filled
        after it was sent; and no later order of ours of the same shape, still unnamed, could be it.
        Otherwise None: an order of ours is never guessed."""
        mine = self.sent.get(coid)
        if mine is None or coid in self.server_ids:
            return self.server_ids.get(coid)
        shape = (mine.symbol, mine.side, mine.qty)
        found = [
            sid
            for sid, f in orders.items()
            if sid not in self.clients
            and (f.symbol, f.side, f.qty) == shape
            and f.first >= math.floor(mine.at) - CLOCK_SLACK_S
        ]
        if len(found) != 1:
            return None
        first = orders[found[0]].first
        rivals = [
            c
            for c, s in self.sent.items()
            if c != coid
            and c not in self.server_ids
            and (s.symbol, s.side, s.qty) == shape
            and s.at > mine.at
            and math.floor(s.at) - CLOCK_SLACK_S <= first
        ]
        if rivals:
            return None
        self.named(found[0], coid)
        return found[0]
