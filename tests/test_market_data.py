"""A market-data source in the engine: the dxLink simulator on loopback quoting the paper exchange
the accounts trade on. Every signal is journaled with the market of its moment; follower fills get
slippage against it; a stale or missing feed is journaled as such and never priced; unrealised P&L
follows the live quote; copying never waits on the feed."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from adapters.dxfeed.simulator import DxLinkSimulator
from copytui.config import parse_config
from copytui.journal import summary, summary_text
from copytui.models import OrderType, Side
from copytui.runtime import Runtime, build_runtime

TOKEN = "md-engine-test-token-31f7"


async def until(check: Any, what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


@asynccontextmanager
async def desk_less(tmp_path: Path, url: str, *, stale_after_ms: int = 2000) -> AsyncIterator[Runtime]:
    cfg = parse_config(
        f"""
leader: {{name: leader, broker: paper}}
followers:
  - {{name: alpha, broker: paper, faults: {{latency_ms: 300}}}}
  - {{name: bravo, broker: paper}}
reconcile: {{interval_s: 3600, after_fanout: false}}
market_data:
  name: dx
  source: dxfeed
  symbols: [ES, NQ]
  options: {{url: "{url}", stale_after_ms: {stale_after_ms}, reconnect_delay_s: 0.2}}
""",
        "<test config>",
    )
    secrets = {"dx:token": TOKEN}
    rt = build_runtime(cfg, seed=3, journal_path=tmp_path / "journal.sqlite3", secret_lookup=secrets.get)
    rt.walk = False
    await rt.start()
    try:
        yield rt
    finally:
        await rt.stop(flatten_leader=False)


def rows(journal: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(f"file:{journal}?mode=ro", uri=True) as db:
        return db.execute(sql).fetchall()


async def live_quote(rt: Runtime, symbol: str) -> None:
    source = rt.engine.market.source
    assert source is not None
    bid, ask = rt.exchange.quote(symbol)

    def current() -> bool:
        q = source.quote(symbol)
        return q is not None and (q.bid, q.ask) == (bid, ask) and not source.stale(symbol, time.monotonic_ns())

    await until(current, f"the feed to quote {symbol} {bid}/{ask}")


async def test_signals_carry_the_market_and_fills_their_slippage_against_it(tmp_path: Path) -> None:
    async with DxLinkSimulator(token=TOKEN) as sim, desk_less(tmp_path, sim.url) as rt:
        sim.exchange = rt.exchange  # the feed quotes the exchange the accounts trade on
        await live_quote(rt, "ES")
        bid, ask = rt.exchange.quote("ES")
        rt.exchange.submit("leader", symbol="ES", side=Side.BUY, qty=2, order_type=OrderType.MARKET)
        await asyncio.sleep(0.05)
        rt.exchange.set_price("ES", bid + 1.0)  # the market moves while alpha's order is on its way
        await until(lambda: rt.engine.followers["alpha"].stats.fills >= 1, "alpha's fill")
        assert await rt.engine.drain()
        journal = tmp_path / "journal.sqlite3"
        rt.journal.flush()
        (sig,) = rows(journal, "SELECT mkt_bid, mkt_ask, mkt_age_ms, mkt_note FROM signals WHERE kind = 'fill'")
        assert sig[:2] == (bid, ask) and sig[2] is not None and sig[2] >= 0 and sig[3] is None
        fills = dict(
            (r[0], r[1:])
            for r in rows(journal, "SELECT follower, price, slippage_ticks, mkt_slippage_ticks FROM executions")
        )
        alpha_price, _, alpha_mkt = fills["alpha"]
        assert alpha_price > ask
        assert alpha_mkt == (alpha_price - ask) / 0.25  # against the ask of the leader's moment, in ticks
        assert fills["bravo"][2] == 0.0  # bravo filled at the ask it was quoted
        view = {v.name: v for v in rt.engine.snapshot().followers}
        assert view["alpha"].market_slippage_avg_ticks == alpha_mkt and view["alpha"].market_fills == 1
        market = rt.engine.snapshot().market
        assert market is not None and [q.symbol for q in market.quotes] == ["ES"]
        text = summary_text(await summary(journal))
        assert "1 of 1 leader events had a live quote" in text
        assert f"alpha          slip vs market avg {alpha_mkt:+.2f}t" in text


async def test_a_stale_feed_is_journaled_as_such_and_never_priced(tmp_path: Path) -> None:
    async with DxLinkSimulator(token=TOKEN) as sim, desk_less(tmp_path, sim.url, stale_after_ms=300) as rt:
        sim.exchange = rt.exchange
        await live_quote(rt, "NQ")
        sim.stale = True  # the socket stays up, the quotes stop
        await asyncio.sleep(0.5)
        rt.exchange.submit("leader", symbol="NQ", side=Side.SELL, qty=1, order_type=OrderType.MARKET)
        await until(lambda: rt.engine.followers["bravo"].stats.fills >= 1, "bravo's fill")
        assert await rt.engine.drain()
        rt.journal.flush()
        journal = tmp_path / "journal.sqlite3"
        ((bid, note),) = rows(journal, "SELECT mkt_bid, mkt_note FROM signals WHERE kind = 'fill'")
        assert bid is not None and "old" in note  # the old quote is kept, and said to be stale
        assert rows(journal, "SELECT count(*) FROM executions WHERE mkt_slippage_ticks IS NOT NULL") == [(0,)]
        market = rt.engine.snapshot().market
        assert market is not None and market.quotes[0].note


async def test_copying_never_waits_on_a_feed_that_is_not_there(tmp_path: Path) -> None:
    url = "ws://127.0.0.1:9/dxlink-ws"  # nothing listens on the discard port
    started = time.monotonic()
    async with desk_less(tmp_path, url) as rt:
        rt.exchange.submit("leader", symbol="ES", side=Side.BUY, qty=1, order_type=OrderType.MARKET)
        await until(lambda: rt.engine.followers["bravo"].stats.fills >= 1, "bravo's fill")
        assert time.monotonic() - started < 10  # a hang guard: the feed's connect_timeout_s is 10 s
        rt.journal.flush()
        ((note,),) = rows(tmp_path / "journal.sqlite3", "SELECT mkt_note FROM signals WHERE kind = 'fill'")
        assert note  # "no quote of ES yet" or the feed's state: never a price


async def test_unrealised_pnl_follows_the_live_quote(tmp_path: Path) -> None:
    async with DxLinkSimulator(token=TOKEN) as sim, desk_less(tmp_path, sim.url) as rt:
        sim.exchange = rt.exchange
        await live_quote(rt, "ES")
        rt.exchange.submit("leader", symbol="ES", side=Side.BUY, qty=1, order_type=OrderType.MARKET)
        await until(lambda: rt.engine.followers["bravo"].stats.fills >= 1, "bravo's fill")
        bravo = next(v for v in rt.engine.snapshot().followers if v.name == "bravo")
        entry = rt.exchange.accounts["bravo"].positions["ES"].avg_price
        rt.exchange.set_price("ES", entry + 5.0)  # no fill anywhere: only the feed can tell the desk
        bid, ask = rt.exchange.quote("ES")

        def marked() -> bool:
            view = next(v for v in rt.engine.snapshot().followers if v.name == "bravo")
            return abs(view.unrealized_pnl - ((bid + ask) / 2 - entry) * 50) < 1e-6

        await until(marked, "bravo's unrealised P&L at the quote's mid")
        now = next(v for v in rt.engine.snapshot().followers if v.name == "bravo")
        assert now.unrealized_pnl != bravo.unrealized_pnl
