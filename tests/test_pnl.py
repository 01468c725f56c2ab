"""P&L computed once, from fills and marks: the arithmetic, the book, and the engine on paper."""

from __future__ import annotations

import random
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from adapters.paper import Faults, PaperAdapter, PaperExchange
from adapters.paper.exchange import PaperAccount, PaperPosition
from copytui.config import AccountConfig, FollowerConfig, RiskConfig, SymbolMapping
from copytui.engine import Engine
from copytui.engine.pnl import PnlBook
from copytui.journal import Journal
from copytui.models import AccountEvent, EventKind, Position, Side, apply_fill
from tests.engine_harness import LEADER, Harness, follower, running


# ------------------------------------------------------------------------------- the arithmetic
@pytest.mark.parametrize(
    ("before", "delta", "price", "after"),
    [
        ((0, 0.0), 2, 100.0, (2, 100.0, 0.0)),  # open
        ((2, 100.0), 2, 102.0, (4, 101.0, 0.0)),  # add: volume-weighted average
        ((4, 101.0), -1, 103.0, (3, 101.0, 2.0)),  # reduce: the average stays
        ((3, 101.0), -3, 100.0, (0, 0.0, -3.0)),  # close: flat has no average
        ((2, 100.0), -5, 98.0, (-3, 98.0, -4.0)),  # long through zero: the rest opens at the price
        ((-3, 98.0), 1, 97.0, (-2, 98.0, 1.0)),  # reduce a short
        ((-2, 98.0), 3, 99.0, (1, 99.0, -2.0)),  # short through zero
        ((-2, 98.0), -1, 95.0, (-3, 97.0, 0.0)),  # add to a short
    ],
)
def test_apply_fill(before: tuple[int, float], delta: int, price: float, after: tuple[int, float, float]) -> None:
    assert apply_fill(*before, delta, price) == pytest.approx(after)


@pytest.mark.parametrize(
    ("symbol", "side", "qty", "entry", "exit", "money"),
    [
        ("ES", Side.BUY, 2, 5000.00, 5001.25, 2 * 1.25 * 50),
        ("NQ", Side.BUY, 1, 17500.00, 17490.50, -9.5 * 20),
        ("MNQ", Side.SELL, 10, 17500.00, 17480.00, 20 * 10 * 2),
        ("CL", Side.BUY, 3, 78.00, 78.37, 0.37 * 3 * 1000),
    ],
)
def test_realised_in_currency_with_point_values(
    symbol: str, side: Side, qty: int, entry: float, exit: float, money: float
) -> None:
    book = PnlBook()
    book.seed("f", [])
    book.fill("f", symbol, side, qty, entry)
    book.fill("f", symbol, side.opposite, qty, exit)
    got = book.figures("f")
    assert got.realized == pytest.approx(money)
    assert got.unrealized == 0.0 and got.known
    assert book.session_pnl("f") == pytest.approx(money)


def test_apply_fill_is_a_drop_in_for_the_paper_exchange_arithmetic() -> None:
    rng = random.Random(11)
    paper, acct = PaperPosition(), PaperAccount("a", 0.0)
    qty, avg, realised = 0, 0.0, 0.0
    for _ in range(2000):
        delta = rng.choice((-1, 1)) * rng.randint(1, 5)
        price = 5000 + rng.randint(-40, 40) * 0.25
        PaperExchange._apply_to_position(acct, paper, "ES", delta, price)
        qty, avg, points = apply_fill(qty, avg, delta, price)
        realised += points * 50.0
        assert (qty, avg, realised) == (paper.qty, paper.avg_price, paper.realized)


def test_marks_come_from_any_fill_on_the_contract_or_its_price_source() -> None:
    book = PnlBook()
    book.seed("micro", [])
    book.fill("micro", "MNQ", Side.BUY, 10, 17500.0)
    leader_fill = AccountEvent(account="lead", kind=EventKind.FILL, symbol="NQ", side=Side.SELL, fill_qty=1,
                               cum_qty=1, fill_price=17510.0)  # fmt: skip
    book.mark_from(leader_fill)
    assert book.figures("micro").unrealized == pytest.approx(10 * 10 * 2)
    book.note_mark("MNQ", 17495.0)  # another follower's MNQ fill marks NQ too
    assert book.mark("NQ") == 17495.0


def test_a_position_held_at_start_counts_only_what_it_moves_after_start() -> None:
    book = PnlBook()
    held = Position(account="f", symbol="ES", qty=2, avg_price=4990.0)
    assert book.seed("f", [held]) == []
    assert book.session_pnl("f") == 0.0
    assert not book.figures("f").known  # no mark yet: unrealised unknown
    book.note_mark("ES", 5000.0)  # the first mark values what was there at start
    assert book.figures("f").unrealized == pytest.approx(2 * 10 * 50)
    assert book.session_pnl("f") == 0.0
    book.note_mark("ES", 4998.0)
    assert book.session_pnl("f") == pytest.approx(-2 * 2 * 50)
    book.fill("f", "ES", Side.SELL, 2, 4997.0)
    assert book.figures("f").realized == pytest.approx(2 * 7 * 50)
    assert book.session_pnl("f") == pytest.approx(-2 * 3 * 50)


def test_unknown_average_price_makes_the_pnl_unknown() -> None:
    book = PnlBook()
    reasons = book.seed("f", [Position(account="f", symbol="NQ", qty=-3, avg_price=0.0)])
    assert reasons == ["it holds -3 NQ and its broker reports no average price for it"]
    assert book.session_pnl("f") is None
    assert not book.figures("f").known


def test_broker_figure_difference_alerted_once_per_symbol() -> None:
    book = PnlBook()
    book.seed("f", [Position(account="f", symbol="ES", qty=0, realized_pnl=1000.0, unrealized_pnl=0.0)])
    book.fill("f", "ES", Side.BUY, 1, 5000.0)
    book.fill("f", "ES", Side.SELL, 1, 5001.0)  # ours: +50
    same = {"ES": Position(account="f", symbol="ES", qty=0, realized_pnl=1050.0, unrealized_pnl=0.0)}
    assert book.check("f", "paper", same, settled=True) == []
    assert book.figures("f").broker == pytest.approx(50.0)
    off = {"ES": Position(account="f", symbol="ES", qty=0, realized_pnl=1100.0, unrealized_pnl=0.0)}
    [notice] = book.check("f", "paper", off, settled=True)
    assert notice.kind == "P&L differs" and "+50.00" in notice.message and "+100.00" in notice.message
    assert book.check("f", "paper", off, settled=True) == []  # once, not per pass


def test_fills_not_seen_are_taken_from_the_broker_after_two_checks() -> None:
    book = PnlBook()
    book.seed("f", [])
    book.fill("f", "ES", Side.BUY, 2, 5000.0)
    book.note_mark("ES", 4996.0)
    flat: dict[str, Position] = {}  # flattened at the broker by an order that is not ours
    assert book.check("f", "tradovate", flat, settled=True) == []  # could be a fill on its way
    [notice] = book.check("f", "tradovate", flat, settled=True)
    assert notice.kind == "P&L resynced"
    got = book.figures("f")
    assert got.realized == pytest.approx(-2 * 4 * 50) and got.unrealized == 0.0 and got.known


# ---------------------------------------------------------------------------- the engine, on paper
async def test_engine_pnl_equals_the_paper_exchanges_own_after_random_trading(tmp_path: Path) -> None:
    x = PaperExchange(seed=21)
    fs = [
        follower("one"),
        follower("two", multiplier=2),
        follower("rev", reverse=True),
        follower("micro", symbol_map={"NQ": SymbolMapping(symbol="MNQ", factor=10)}),
    ]
    for name in ("one", "rev"):  # a history before start: a position held and realised P&L
        x.account(name)
        x.submit(name, symbol="ES", side=Side.BUY, qty=3)
        x.step(3)
        x.submit(name, symbol="ES", side=Side.SELL, qty=1)
    faults = {"two": Faults(partial_fill_prob=0.4, duplicate_prob=0.3), "micro": Faults(duplicate_prob=0.5)}
    rng = random.Random(5)
    async with running(tmp_path, fs, exchange=x, faults=faults) as h:
        start = {f.name: {s: p.realized for s, p in x.accounts[f.name].positions.items()} for f in fs}
        for _ in range(60):
            symbol = rng.choice(("ES", "NQ", "CL"))
            (h.buy if rng.random() < 0.5 else h.sell)(symbol, rng.randint(1, 3))
            x.step(rng.randint(0, 4))  # also fills what partial fills left working
            await h.settle()
        x.step(2)
        await h.settle()
        await h.engine.reconcile_now()
        views = {v.name: v for v in h.engine.snapshot().followers}
        kinds = {a.kind for a in h.engine.snapshot().alerts}
        for f in fs:
            papers = x.position_list(f.name)
            realised = sum(p.realized_pnl or 0.0 for p in papers) - sum(start[f.name].values())
            unrealised = sum(p.unrealized_pnl or 0.0 for p in papers)
            v = views[f.name]
            assert v.fills > 0 and v.pnl_known
            assert v.realized_pnl == pytest.approx(realised, abs=1e-6), f.name
            assert v.unrealized_pnl == pytest.approx(unrealised, abs=1e-6), f.name
            assert v.broker_pnl == pytest.approx(realised + unrealised, abs=1e-6)
        assert sum(abs(v.realized_pnl) for v in views.values()) > 0
        assert not kinds & {"P&L differs", "P&L resynced", "loss limit unknown"}


class NoAveragePaper(PaperAdapter):
    """A broker that reports a position's size but no average price and no P&L (a FIX gateway whose
    PositionReport carries no SettlPrice does this)."""

    async def positions(self) -> list[Position]:
        return [Position(account=p.account, symbol=p.symbol, qty=p.qty) for p in await super().positions()]


@asynccontextmanager
async def engine_with(tmp_path: Path, x: PaperExchange, followers: list[tuple[FollowerConfig, PaperAdapter]]):  # type: ignore[no-untyped-def]
    x.account(LEADER)
    journal = Journal(tmp_path / "journal.sqlite3")
    engine = Engine(leader_cfg=AccountConfig(name=LEADER), leader=PaperAdapter(x, LEADER), followers=followers,
                    journal=journal, reconcile_interval_s=3600)  # fmt: skip
    await engine.start()
    try:
        yield Harness(engine, x, journal)
    finally:
        await engine.stop(settle=False)
        journal.close()


async def test_unknown_average_price_with_a_loss_limit_refuses_that_follower_only(tmp_path: Path) -> None:
    x = PaperExchange(seed=4)
    for name, qty in (("blind", 2), ("steady", 1), ("nolimit", 1)):
        x.account(name)
        x.submit(name, symbol="ES", side=Side.BUY, qty=qty)
    limit = RiskConfig(daily_loss_limit=500)
    blind, steady = follower("blind", risk=limit), follower("steady", risk=limit)
    nolimit = follower("nolimit")
    pairs = [(blind, NoAveragePaper(x, "blind")), (steady, PaperAdapter(x, "steady")),
             (nolimit, NoAveragePaper(x, "nolimit"))]  # fmt: skip
    async with engine_with(tmp_path, x, pairs) as h:
        h.buy("ES", 1)
        await h.settle()
        assert (h.pos("blind", "ES"), h.pos("steady", "ES"), h.pos("nolimit", "ES")) == (2, 2, 2)
        views = {v.name: v for v in h.engine.snapshot().followers}
        assert views["blind"].copy_state == "disabled"
        assert views["steady"].copy_state == "copying" and views["steady"].pnl_known
        assert views["nolimit"].copy_state == "copying" and not views["nolimit"].pnl_known
        [alert] = [a for a in h.engine.snapshot().alerts if a.kind == "loss limit unknown"]
        assert alert.follower == "blind" and alert.level == "error"
        assert alert.message.startswith("follower blind refused at start: its daily loss limit 500.00 cannot be")
        assert "it holds +2 ES and its broker reports no average price for it" in alert.message
        [(detail,)] = h.rows("SELECT detail FROM operator_actions WHERE action='risk_refused'")
        assert "no average price" in detail
        await h.engine.reconcile_now()
        assert h.pos("blind", "ES") == 2  # refused, not flattened: its position is the trader's
