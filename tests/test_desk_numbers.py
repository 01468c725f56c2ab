"""The numbers' formatting rules, without a screen: tick-grid prices, one slippage sign, alerts counted."""

from __future__ import annotations

from copytui.cli import price_text
from copytui.engine import Alert
from copytui.instruments import INSTRUMENTS, format_price, instrument
from copytui.journal import summary_text
from copytui.tui.format import Palette, copy_state_text, money, slip_money
from copytui.tui.panels import alert_count


def test_every_price_has_its_contracts_tick_decimals() -> None:
    assert format_price("NQ", 17501.25) == "17501.25"
    assert format_price("NQ", 17494.75) == "17494.75"
    assert format_price("ES", 5000.0) == "5000.00"
    assert format_price("YM", 39001.0) == "39001"
    assert format_price("CL", 75.42) == "75.42"
    assert format_price("RTY", 2050.1) == "2050.1"
    assert format_price("ZZ", 1.125) == "1.125"  # unknown symbol: every digit kept
    for spec in INSTRUMENTS.values():
        assert float(format_price(spec.symbol, spec.start_price + spec.tick_size)) == spec.round_price(
            spec.start_price + spec.tick_size
        )
    assert instrument("MNQ").format_price(17500.5) == "17500.50"
    assert price_text("NQ", 17501.25) == format_price("NQ", 17501.25)  # headless uses the same one


def test_slippage_cash_keeps_the_engines_sign() -> None:
    pal = Palette()
    assert str(slip_money(12.5, pal)) == "+12.50" and str(slip_money(-3.0, pal)) == "-3.00"
    assert str(slip_money(-0.001, pal)) == "0.00"
    assert slip_money(12.5, pal).style == pal.down  # a cost, also told by its sign


def test_unknown_pnl_and_offline_copying() -> None:
    pal = Palette()
    assert str(money(None, pal)) == "—" and str(money(0.0, pal)) == "0.00"
    assert str(copy_state_text("copying", pal, "disconnected")) == "✖ offline"
    assert str(copy_state_text("copying", pal, "connected")) == "● copying"
    assert str(copy_state_text("paused", pal, "disconnected")) == "‖ PAUSED"


def test_info_lines_are_not_counted_as_alerts() -> None:
    alerts = [
        Alert(1, 0, "warning", "alpha", "drift", "NQ expected +2, broker +1"),
        Alert(2, 0, "info", "alpha", "drift cleared", "NQ back in line"),
        Alert(3, 0, "error", "bravo", "reject", "x"),
    ]
    assert alert_count(alerts) == 2


def test_journal_summary_shows_slippage_with_its_sign_and_legend() -> None:
    s = {
        "signals": 1,
        "follower_orders": 2,
        "fills": 2,
        "rejects": 0,
        "duplicates_dropped": 0,
        "duplicate_orders": 0,
        "unresolved": 0,
        "alerts": 0,
        "open_drift": {},
        "latency_ms": {"alpha": {"p50": 1.0, "p99": 2.0, "n": 2}, "bravo": {"p50": 1.0, "p99": 2.0, "n": 1}},
        "slippage_ticks": {"alpha": {"avg": 0.5, "p95": 1.0}},
    }
    text = summary_text(s)
    assert "alpha" in text and "slip avg +0.50t p95 +1.0t" in text
    assert "+ worse for the follower" in text
    bravo = next(line for line in text.splitlines() if "bravo" in line)
    assert "slip" not in bravo
