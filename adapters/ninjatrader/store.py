"""What copytui asked NinjaTrader for, kept on disk: an order state file says only state, filled
amount and average price, so after a copytui restart ``find_order`` needs the rest (symbol, side,
type, quantity, prices, OCO ID) from here. One JSON line per order, written before its file goes to
``incoming/``; kept to the newest ``KEEP`` orders."""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import Any

from adapters.ninjatrader.book import OwnOrder
from copytui.models import OrderType, Side

log = logging.getLogger("copytui.adapters.ninjatrader")
KEEP = 5000


def store_path(data_dir: str, account_key: str) -> str | None:
    if not data_dir:
        return None
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", account_key)[-120:]
    return os.path.join(data_dir, "ninjatrader", f"{safe}.orders.jsonl")


def _record(o: OwnOrder) -> dict[str, Any]:
    return {
        "coid": o.coid, "symbol": o.symbol, "instrument": o.instrument, "side": o.side.value,
        "type": o.order_type.value, "qty": o.qty, "price": o.price, "stop": o.stop_price, "oco": o.oco,
    }  # fmt: skip


class OrderStore:
    def __init__(self, path: str | None) -> None:
        self.path = path
        self._fd = -1

    def load(self) -> dict[str, OwnOrder]:
        """The orders recorded, newest last; unreadable lines are skipped (and logged)."""
        if self.path is None or not os.path.exists(self.path):
            return {}
        found: dict[str, OwnOrder] = {}
        lines = Path(self.path).read_text(encoding="utf-8").splitlines()
        for n, line in enumerate(lines, 1):
            try:
                rec = json.loads(line)
                if rec.get("withdrawn"):
                    found.pop(rec["coid"], None)
                    continue
                o = OwnOrder(
                    coid=rec["coid"], symbol=rec["symbol"], instrument=rec["instrument"], side=Side(rec["side"]),
                    order_type=OrderType(rec["type"]), qty=int(rec["qty"]), price=rec["price"], stop_price=rec["stop"],
                    oco=str(rec.get("oco") or ""),  # lines written before OCO IDs were kept have none
                )  # fmt: skip
                found.pop(o.coid, None)
                found[o.coid] = o
            except (ValueError, KeyError, TypeError) as exc:
                log.warning("%s line %d skipped: %s", self.path, n, exc)
        if len(found) > KEEP or len(lines) > 2 * KEEP:
            found = dict(list(found.items())[-KEEP:])
            self._rewrite(found)
        return found

    def _rewrite(self, orders: dict[str, OwnOrder]) -> None:
        assert self.path is not None
        tmp = self.path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.writelines(json.dumps(_record(o)) + "\n" for o in orders.values())
        os.replace(tmp, self.path)

    def _append(self, rec: dict[str, Any]) -> None:
        if self.path is None:
            return
        if self._fd < 0:  # held open: an order's line costs one write, not an open and a close
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.write(self._fd, (json.dumps(rec) + "\n").encode())

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def record(self, o: OwnOrder) -> None:
        self._append(_record(o))

    def withdraw(self, coid: str) -> None:
        """The order's file was taken back before NinjaTrader read it: it was never placed."""
        self._append({"coid": coid, "withdrawn": True})
