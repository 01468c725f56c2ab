"""The account grid: one row per follower, updated cell by cell from the engine's snapshot."""

from __future__ import annotations

from rich.text import Text

from copytui.engine import FollowerView
from copytui.tui.format import (
    Palette,
    connection_text,
    copy_state_text,
    drift_text,
    money,
    ms,
    signed_positions,
)
from copytui.tui.table import DeskTable

# most important first; the rule column takes the room that is left
GRID_COLUMNS = (
    ("name", "Follower", 8),
    ("state", "Copy", 11),
    ("conn", "Conn", 7),
    ("pos", "Position", 15),
    ("expected", "Expected", 15),
    ("drift", "Drift", 17),
    ("unreal", "Unrealised", 11),
    ("real", "Realised", 11),
    ("latency", "Lat ms", 6),
    ("orders", "Ord", 4),
    ("rejects", "Rej", 4),
    ("broker", "Broker", 9),
    ("rule", "Rule", 12),
)

# 110-159 columns: what a trader watches, without broker and rule (in the details, enter); the drift
# column takes the room left, so several symbols' drift shows
MEDIUM_COLUMNS = (
    ("name", "Follower", 8),
    ("state", "Copy", 11),
    ("conn", "Conn", 7),
    ("pos", "Position", 13),
    ("expected", "Expected", 13),
    ("drift", "Drift", 12),
    ("pnl", "P&L", 11),
    ("latency", "Lat ms", 6),
    ("rejects", "Rej", 4),
)

# 80 columns (and up to about 105, the borders dropped by the stylesheet): what a trader must see per
# follower; the rest is in its details (enter)
NARROW_COLUMNS = (
    ("name", "Name", 7),
    ("state", "Copy", 11),
    ("conn", "Conn", 6),
    ("pos", "Position", 11),
    ("expected", "Expected", 10),
    ("drift", "Drift", 9),
    ("pnl", "P&L", 11),
)


def grid_cells(
    v: FollowerView, pal: Palette, reconciled: bool = True, columns: tuple[str, ...] | None = None
) -> tuple[object, ...]:
    """One follower's row (``columns``: the keys shown, every column by default). Expected and drift
    come from the reconciler: "-" until its first pass. P&L is ``—`` where it is unknown."""
    known = v.pnl_known
    cells: dict[str, object] = {
        "name": Text(v.name, style="bold"),
        "state": copy_state_text(v.copy_state, pal, v.connection),
        "conn": connection_text(v.connection, pal),
        "pos": signed_positions(v.positions),
        "expected": signed_positions(v.expected) if reconciled else "-",
        "drift": drift_text(v.drift, pal) if reconciled else "-",
        "unreal": money(v.unrealized_pnl if known else None, pal),
        "real": money(v.realized_pnl if known else None, pal),
        "pnl": money(v.realized_pnl + v.unrealized_pnl if known else None, pal),
        "latency": Text(ms(v.last_latency_ms), justify="right"),
        "orders": Text(str(v.orders), justify="right"),
        "rejects": Text(str(v.rejects), style=f"bold {pal.bad}" if v.rejects else pal.dim, justify="right"),
        "broker": v.broker,
        "rule": v.rule,
    }
    keys = columns if columns is not None else tuple(key for key, _, _ in GRID_COLUMNS)
    return tuple(cells[key] for key in keys)


class AccountGrid(DeskTable):
    """Rows hold the followers' views; a row's cells are made again only when its view changed."""

    def __init__(self, **kwargs: object) -> None:
        sets = (MEDIUM_COLUMNS, NARROW_COLUMNS)
        super().__init__(GRID_COLUMNS, flex=("rule", "drift"), smaller=sets, **kwargs)  # type: ignore[arg-type]
        self.reconciled = True

    def row_cells(self, data: FollowerView) -> tuple[object, ...]:
        return grid_cells(data, self.palette or Palette(), self.reconciled, self.column_keys)

    def show(self, followers: tuple[FollowerView, ...], pal: Palette, reconciled: bool = True) -> None:
        self.set_palette(pal)
        if reconciled != self.reconciled:
            self.reconciled = reconciled
            self.forget_cells()
        for v in followers:
            self.sync_row(v.name, v)
        self.commit()
