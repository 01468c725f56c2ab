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

# most important first: at 80 columns the rest scrolls sideways
GRID_COLUMNS = (
    ("name", "Follower", 8),
    ("state", "Copy", 11),
    ("pos", "Position", 13),
    ("expected", "Expected", 13),
    ("drift", "Drift", 8),
    ("unreal", "Unrealised", 11),
    ("real", "Realised", 11),
    ("latency", "Lat ms", 6),
    ("orders", "Ord", 4),
    ("rejects", "Rej", 4),
    ("conn", "Conn", 7),
    ("broker", "Broker", 9),
    ("rule", "Rule", 26),
)


def grid_cells(v: FollowerView, pal: Palette, reconciled: bool = True) -> tuple[object, ...]:
    """One follower's row. Expected and drift come from the reconciler: "-" until its first pass."""
    rejects = Text(str(v.rejects), style=f"bold {pal.bad}" if v.rejects else pal.dim, justify="right")
    return (
        Text(v.name, style="bold"),
        copy_state_text(v.copy_state, pal),
        signed_positions(v.positions),
        signed_positions(v.expected) if reconciled else "-",
        drift_text(v.drift, pal) if reconciled else "-",
        money(v.unrealized_pnl, pal),
        money(v.realized_pnl, pal),
        Text(ms(v.last_latency_ms), justify="right"),
        Text(str(v.orders), justify="right"),
        rejects,
        connection_text(v.connection, pal),
        v.broker,
        v.rule,
    )


class AccountGrid(DeskTable):
    """Rows hold the followers' views; a row's cells are made again only when its view changed."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(GRID_COLUMNS, **kwargs)  # type: ignore[arg-type]
        self.reconciled = True

    def row_cells(self, data: FollowerView) -> tuple[object, ...]:
        return grid_cells(data, self.palette or Palette(), self.reconciled)

    def show(self, followers: tuple[FollowerView, ...], pal: Palette, reconciled: bool = True) -> None:
        self.set_palette(pal)
        if reconciled != self.reconciled:
            self.reconciled = reconciled
            self.forget_cells()
        for v in followers:
            self.sync_row(v.name, v)
        self.commit()
