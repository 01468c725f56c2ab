"""How the desk writes numbers: never by colour alone."""

from __future__ import annotations

from copytui.engine import CopyState, LogRow
from copytui.tui.format import Palette, copy_state_text, money, side_text, signed, signed_positions, ticks
from copytui.tui.orderlog import matches

PAL = Palette(up="blue", down="orange")


def test_gain_loss_and_sides_carry_arrow_and_sign() -> None:
    assert str(money(1250.0, PAL)) == "▲ +1,250.00"
    assert str(money(-87.5, PAL)) == "▼ -87.50"
    assert str(money(0.001, PAL)) == "0.00"
    assert str(side_text("buy", PAL)) == "▲ BUY" and str(side_text("sell", PAL)) == "▼ SELL"
    assert str(money(5, PAL).style) == "blue" and str(money(-5, PAL).style) == "orange"
    assert str(copy_state_text(CopyState.PAUSED, PAL)) == "‖ PAUSED"


def test_numbers_never_show_minus_zero() -> None:
    assert signed(-0.01) == "0.0" and ticks(-0.04) == "0.0t" and ticks(1.0) == "+1.0t" and ticks(None) == "-"
    assert signed_positions({"NQ": -1, "ES": 2, "CL": 0}) == "ES +2 NQ -1"
    assert signed_positions({}) == "flat"


def test_log_filter_words_match_follower_symbol_or_status() -> None:
    row = LogRow(seq=1, wall_ns=0, signal_id="s1", follower="alpha", symbol="ES", side="buy", qty=1, status="rejected")
    assert matches(row, "alpha") and matches(row, "ES rej") and matches(row, "ALP")
    assert not matches(row, "bravo") and not matches(row, "alpha NQ")
