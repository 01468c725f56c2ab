"""Realised P&L in the reports and `journal summary`, from the journal's fills (apply_fill times point value)."""

from __future__ import annotations

import asyncio
import csv
import json
import sqlite3
from pathlib import Path

from copytui.journal import Journal, dumps, report_rows, summary, summary_text
from copytui.tui.reports import write_csv

DAY1_NS = 1_767_268_800 * 10**9  # 2026-01-01 12:00 UTC
DAY2_NS = DAY1_NS + 86_400 * 10**9

FILLS = (  # follower, symbol, side, qty, price, wall_ns
    ("alpha", "ES", "buy", 2, 5000.00, DAY1_NS),
    ("alpha", "ES", "sell", 3, 5002.00, DAY1_NS + 1),  # closes 2 (+2 points x 2 x 50 = +200), opens -1 at 5002
    ("alpha", "ES", "buy", 1, 5001.00, DAY2_NS),  # closes the short: +1 point x 50 = +50, on day 2
    ("bravo", "NQ", "buy", 1, 17500.00, DAY1_NS),
    ("bravo", "NQ", "sell", 1, 17499.75, DAY1_NS + 1),  # -0.25 x 20 = -5
    ("charlie", "ZZ", "buy", 1, 10.0, DAY1_NS),  # a symbol copytui does not know: P&L unknown
)


def journal_with_fills(tmp_path: Path) -> Path:
    path = tmp_path / "j.sqlite3"
    j = Journal(path)
    for i, (follower, symbol, side, qty, price, _) in enumerate(FILLS):
        j.record_fill(follower, f"x{i}", f"c{i}", symbol, side, qty, price, qty, price, True, 0.0, 0.0, i)
    j.close()
    with sqlite3.connect(path) as db:
        for i, (*_, wall_ns) in enumerate(FILLS):
            db.execute("UPDATE executions SET wall_ns = ? WHERE fill_id = ?", (wall_ns, f"x{i}"))
    return path


def test_report_rows_carry_realised_pnl_per_day_follower_symbol(tmp_path: Path) -> None:
    path = journal_with_fills(tmp_path)
    rows = asyncio.run(report_rows(path))
    got = {(r["follower"], r["symbol"]): [] for r in rows}
    for r in sorted(rows, key=lambda r: r["day"]):
        got[(r["follower"], r["symbol"])].append(r["realised_pnl"])
    assert got == {("alpha", "ES"): [200.0, 50.0], ("bravo", "NQ"): [-5.0], ("charlie", "ZZ"): [None]}
    by_follower = {r["follower"]: r["realised_pnl"] for r in asyncio.run(report_rows(path, ("follower",)))}
    assert by_follower == {"alpha": 250.0, "bravo": -5.0, "charlie": None}
    by_day = asyncio.run(report_rows(path, ("day",)))
    assert [r["realised_pnl"] for r in by_day] == [50.0, None]  # newest day first; day 1 holds an unknown
    out = write_csv(asyncio.run(report_rows(path, ("follower",))), tmp_path / "r.csv")
    with out.open() as fh:
        csv_rows = {r["follower"]: r["realised_pnl"] for r in csv.DictReader(fh)}
    assert csv_rows == {"alpha": "250.0", "bravo": "-5.0", "charlie": ""}


def test_journal_summary_text_and_json_show_realised_pnl(tmp_path: Path) -> None:
    s = asyncio.run(summary(journal_with_fills(tmp_path)))
    assert s["realised_pnl"] == {"alpha": 250.0, "bravo": -5.0, "charlie": None}
    assert json.loads(dumps(s))["realised_pnl"]["alpha"] == 250.0
    assert "realised P&L (from the journal's fills): alpha +250.00  bravo -5.00  charlie —" in summary_text(s)
