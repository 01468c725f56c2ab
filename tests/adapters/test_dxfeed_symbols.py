"""copytui's symbols as dxFeed's futures symbols on fixed days, and the dxFeed source's options
refused in a trader's words (adapters/dxfeed/symbols.py, options.py)."""

from __future__ import annotations

from datetime import date

import pytest

from adapters.dxfeed import create_source
from adapters.dxfeed.options import DxFeedOptions
from adapters.dxfeed.symbols import SymbolMap, dx_symbol, roll_date
from copytui.instruments import INSTRUMENTS


@pytest.mark.parametrize(
    ("root", "day", "symbol"),
    [
        # equity index: quarterly, left 8 days before the third Friday (Dec 18 2026 -> Dec 10)
        ("ES", date(2026, 12, 9), "/ESZ26:XCME"),
        ("ES", date(2026, 12, 10), "/ESH27:XCME"),
        ("MNQ", date(2026, 1, 5), "/MNQH26:XCME"),
        ("M2K", date(2026, 3, 11), "/M2KH26:XCME"),  # third Friday Mar 20 2026: rolls on the 12th
        ("YM", date(2026, 3, 12), "/YMM26:XCBT"),
        ("MYM", date(2026, 9, 30), "/MYMZ26:XCBT"),
        ("RTY", date(2026, 7, 1), "/RTYU26:XCME"),
        # crude: monthly; June 2026 last trades May 20 (3 business days before Mon May 25), left May 13
        ("CL", date(2026, 5, 12), "/CLM26:XNYM"),
        ("CL", date(2026, 5, 13), "/CLN26:XNYM"),
        ("MCL", date(2026, 12, 20), "/MCLG27:XNYM"),  # Jan 2027 left Dec 15 (the 25th is a Friday)
        # gold: G J M Q V Z; Dec 2026 first notice Nov 30, left Nov 23
        ("GC", date(2026, 11, 22), "/GCZ26:XCEC"),
        ("GC", date(2026, 11, 23), "/GCG27:XCEC"),
        ("MGC", date(2026, 1, 15), "/MGCG26:XCEC"),  # Jan 31 2026 is a Saturday: first notice Jan 30
        ("GC", date(2026, 12, 31), "/GCG27:XCEC"),
    ],
)
def test_front_month_symbol_on_a_fixed_day(root, day, symbol):
    assert dx_symbol(root, day) == symbol


def test_every_symbol_copytui_knows_has_a_dxfeed_symbol_on_its_exchange():
    exchanges = {dx_symbol(root, date(2026, 2, 2)).rsplit(":", 1)[1] for root in INSTRUMENTS}
    assert exchanges == {"XCME", "XCBT", "XNYM", "XCEC"}
    assert roll_date("ES", 2026, 12) == date(2026, 12, 10)
    assert roll_date("CL", 2027, 1) == date(2026, 12, 15)


def test_the_override_map_wins_and_an_unknown_symbol_is_a_clear_error():
    symbols = SymbolMap({"ES": "/ESH27:XCME", "MES": "/ESH27:XCME"}, date(2026, 11, 2))
    assert symbols.to_dx("ES") == symbols.to_dx("MES") == "/ESH27:XCME"
    assert symbols.to_dx("NQ") == "/NQZ26:XCME"
    assert symbols.roots("/ESH27:XCME") == ("ES", "MES")
    assert symbols.roots("/NQH27:XCME") == ()
    with pytest.raises(ValueError, match=r"^no dxFeed symbol for 'ZB': copytui maps CL, ES, GC"):
        symbols.to_dx("ZB")


def _refusal(options: dict) -> str:
    with pytest.raises(ValueError) as refused:
        create_source("dx", options, lambda _field: None)
    return str(refused.value)


URL = "wss://demo.dxfeed.com/dxlink-ws"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {},
            "market data dx: options.url is required: the dxLink WebSocket URL, e.g. url: wss://demo.dxfeed.com/dxlink-ws",
        ),
        (
            {"url": "https://x.example/feed"},
            "market data dx: options.url: 'https://x.example/feed' is not a WebSocket URL",
        ),
        (
            {"url": URL, "stale_after": 5},
            "market data dx: unknown dxFeed option(s) stale_after; known: aggregation_period_s",
        ),
        ({"url": URL, "stale_after_ms": 0}, "market data dx: options.stale_after_ms: must be a positive number, got 0"),
        ({"url": URL, "keepalive_timeout_s": "60"}, "options.keepalive_timeout_s: must be a positive number, got '60'"),
        (
            {"url": URL, "symbols": {"ES": "ESZ26"}},
            "options.symbols: ES: 'ESZ26' is not a dxFeed futures symbol (/ROOT",
        ),
        (
            {"url": URL, "symbols": {"ES": "/NQZ26:XCME"}},
            "ES: '/NQZ26:XCME' is a NQ contract; ES may be quoted by ES only",
        ),
        ({"url": URL, "symbols": {"ZB": "/ZBZ26:XCBT"}}, "options.symbols: 'ZB' is not a symbol copytui knows (CL, ES"),
        ({"url": URL, "symbols": ["ES"]}, "options.symbols: must map copytui symbols to dxFeed symbols"),
    ],
)
def test_bad_options_are_refused_saying_what_to_fix(options, message):
    assert message in _refusal(options)


def test_good_options_and_their_defaults():
    opts = DxFeedOptions.model_validate({"url": URL, "symbols": {"MES": "/ESZ26:XCME"}})
    assert (opts.stale_after_ms, opts.keepalive_timeout_s, opts.aggregation_period_s) == (5000.0, 60.0, 0.1)
    assert opts.symbols == {"MES": "/ESZ26:XCME"}
    source = create_source("dx", {"url": "ws://127.0.0.1:9/x", "stale_after_ms": 250}, lambda _field: None)
    assert source.stale_after_ms == 250.0 and source.name == "dx"


def test_the_declaration_names_what_exists():
    from adapters.dxfeed.simulator import serve
    from adapters.dxfeed.spec import SPEC
    from adapters.marketdata import MarketDataSpec

    assert MarketDataSpec.load(SPEC.factory) is create_source
    assert MarketDataSpec.load(SPEC.options) is DxFeedOptions
    assert MarketDataSpec.load(SPEC.simulator) is serve
    assert [s.field for s in SPEC.secrets] == ["token"] and SPEC.secrets[0].required
