"""The FIX adapter against its quickfix simulator over 127.0.0.1: the conformance suite for FIX 4.2
and FIX 4.4, then what only FIX has (resend after a mid-burst drop, session and cancel rejects,
marketable limits, drop-copy leader, secrets in Logon), and a config file copying a paper leader
to a FIX follower end to end through the engine and the journal."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from adapters.base import AmbiguousOutcome, AuthFailed, BrokerAdapter, Disconnected
from adapters.fix import FixConfigError, FixOptions, parse_options
from adapters.fix.simulator import LockedExchange
from adapters.kit.conformance import AdapterConformance, Venue
from copytui.config import AccountConfig, load_config
from copytui.journal import summary
from copytui.models import EventKind, FollowerOrder, OrderAction, OrderStatus, OrderType, Side
from copytui.runtime import build_runtime
from tests.adapters.fix_examples import example, running, settings
from tests.adapters.fix_support import account, adapter, comp_id, free_port, order, simulator, until

VERSIONS = ["FIX.4.2", "FIX.4.4"]


class TestFixConformance(AdapterConformance):
    @pytest.fixture(params=VERSIONS)
    async def venue(self, request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Venue]:
        sender = comp_id()
        exchange = LockedExchange(seed=5)
        with simulator(tmp_path, (sender,), exchange=exchange, watch={sender: "FIXACC"}) as sim:
            sim.account("FIXACC")

            def make() -> BrokerAdapter:
                cfg = account("fixacc", sim.port, sender, request.param, account_id="FIXACC")
                return adapter(cfg, tmp_path / "data", password="conformance-pw")

            async def drop() -> None:
                await until("the venue to see the logon", lambda: sim.logged_on(sender))
                assert sim.drop(sender) == 1

            async with Venue.open(exchange, "FIXACC", make, drop) as v:
                yield v


# ------------------------------------------------------------------ configuration
@pytest.mark.parametrize(
    ("options", "host", "expect"),
    [
        ({"target_comp_id": "SIM"}, "127.0.0.1", "options.sender_comp_id: not set"),
        ({"sender_comp_id": "A", "target_comp_id": "SIM", "begin_string": "FIX.5.0"}, "h", "options.begin_string"),
        ({"sender_comp_id": "A", "target_comp_id": "SIM", "heartbeat": 5}, "h", "options.heartbeat: unknown"),
        ({"sender_comp_id": "A", "target_comp_id": "SIM", "marketable_limit_ticks": -1}, "h", "0 to 1000"),
        ({"sender_comp_id": "A", "target_comp_id": "SIM", "start_time": "08:00:00"}, "h", "only one is set"),
        ({"sender_comp_id": "A", "target_comp_id": "SIM"}, None, "host/port: not set"),
        ({"sender_comp_id": "A", "target_comp_id": "SIM", "ack_timeout_s": "5"}, "h", "not a number from 0.1 to 120"),
        ({"sender_comp_id": "A", "target_comp_id": "SIM", "heartbeat_interval": 2.5}, "h", "not a whole number"),
        ({"sender_comp_id": "A", "target_comp_id": "SIM", "message_log": "yes"}, "h", "is not true or false"),
        ({"sender_comp_id": "A b", "target_comp_id": "SIM"}, "h", "options.sender_comp_id: 'A b' is not valid"),
    ],
)
def test_bad_options_are_one_line_errors(options: dict[str, object], host: str | None, expect: str) -> None:
    cfg = AccountConfig(name="gw", broker="fix", host=host, port=9876 if host else None, options=options)
    with pytest.raises(FixConfigError) as err:
        parse_options(cfg)
    text = str(err.value)
    assert expect in text and text.startswith("fix account gw: ") and "\n" not in text


def test_the_spec_declares_the_options_model_and_reading_it_needs_no_quickfix() -> None:
    probe = (
        "import sys\n"
        "from adapters.base import AdapterSpec\n"
        "from adapters.fix.spec import SPEC\n"
        "model = AdapterSpec.load(SPEC.options)\n"
        "assert model.__name__ == 'FixOptions', model\n"
        "assert 'quickfix' not in sys.modules, 'reading the FIX options model imported quickfix'\n"
        "print(sorted(model.model_fields))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert "'sender_comp_id'" in out.stdout and "'marketable_limit_ticks'" in out.stdout
    with pytest.raises(ValidationError):
        FixOptions.model_validate({"sender_comp_id": "A", "target_comp_id": "B", "heartbeat": 5})
    assert FixOptions.model_validate({"sender_comp_id": "A", "target_comp_id": "B"}).begin_string == "FIX.4.4"


# ------------------------------------------------------------------ session and secrets
async def test_password_goes_in_logon_and_never_to_disk(tmp_path: Path) -> None:
    sender, secret = comp_id(), "Sup3r-Secret-Logon"
    with simulator(tmp_path, (sender,), password=secret, log_path=tmp_path / "sim.log") as sim:
        a = adapter(account("gw", sim.port, sender), tmp_path / "data", password=secret)
        await a.connect()
        ack = await a.place(order("pw1"))
        assert ack.status is OrderStatus.WORKING
        await a.disconnect()
    client_log = next((tmp_path / "data").rglob("messages.log")).read_text()
    assert "35=A" in client_log and "554=***" in client_log
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) > 4  # stores, seqnums, both message logs
    leaked = [p for p in files if secret.encode() in p.read_bytes()]
    assert leaked == []


async def test_wrong_password_fails_connect_with_the_gateways_reason(tmp_path: Path) -> None:
    sender = comp_id()
    with simulator(tmp_path, (sender,), password="right-password") as sim:
        a = adapter(account("gw", sim.port, sender), tmp_path / "data", password="wrong-password")
        with pytest.raises(AuthFailed) as err:
            await a.connect()
        assert "wrong or missing password" in str(err.value) and "wrong-password" not in str(err.value)
        assert a.health.state == "disconnected" or not a.health.connected
        await a.disconnect()


async def test_no_gateway_is_a_clear_disconnected_error(tmp_path: Path) -> None:
    a = adapter(account("gw", free_port(), comp_id(), logon_timeout_s=0.5), tmp_path / "data")
    with pytest.raises(Disconnected) as err:
        await a.connect()
    assert "no logon from FIX.4.4" in str(err.value) and "gateway is up" in str(err.value)


async def test_health_follows_logout_and_quickfix_reconnect(tmp_path: Path) -> None:
    sender = comp_id()
    with simulator(tmp_path, (sender,)) as sim:
        a = adapter(account("gw", sim.port, sender), tmp_path / "data")
        await a.connect()
        assert (a.health.state, a.health.connected, a.health.reconnects) == ("connected", True, 0)
        await until("the venue to see the logon", lambda: sim.logged_on(sender))
        assert sim.drop(sender) == 1
        await until("state reconnecting", lambda: a.health.state == "reconnecting")
        assert not a.health.connected
        with pytest.raises(Disconnected):
            await a.place(order("while-down"))
        await until("a new logon", lambda: a.health.state == "connected", timeout=6)
        assert a.health.reconnects == 1
        await a.disconnect()
        assert a.health.state == "disconnected"


# --------------------------------------------------------- resend after a mid-burst drop
@pytest.mark.parametrize("begin", VERSIONS)
async def test_disconnect_mid_burst_resends_reports_and_never_resends_orders(tmp_path: Path, begin: str) -> None:
    sender = comp_id()
    with simulator(tmp_path, (sender,)) as sim:
        a = adapter(account("burst", sim.port, sender, begin, ack_timeout_s=1.5), tmp_path / "data")
        await a.connect()
        events: list = []

        async def pump() -> None:
            async for ev in a.subscribe():
                events.append(ev)

        reader = asyncio.create_task(pump())
        sim.drop_after(3, sender)  # each market order makes 2 reports: drop right after order 2's "new"
        coids = [f"b{begin[-1]}{i}" for i in range(6)]
        results = await asyncio.gather(*(a.place(order(c)) for c in coids), return_exceptions=True)
        assert sim.drops == 1
        await until("quickfix to log on again", lambda: a.health.reconnects == 1 and a.health.connected, 6)
        truth = sim.exchange.accounts["BURST"]
        executed = {o.client_order_id for o in truth.orders.values()}
        assert {"b" + begin[-1] + "0", "b" + begin[-1] + "1"} <= executed
        # every order the venue executed reaches the client exactly once, the dropped reports by resend
        await until("all fills", lambda: {e.client_order_id for e in events if e.kind is EventKind.FILL} == executed)
        fills = [e for e in events if e.kind is EventKind.FILL]
        assert len(fills) == len(executed)
        held = truth.positions["ES"].qty
        assert held == len(executed)
        assert {p.symbol: p.qty for p in await a.positions()} == {"ES": held}
        for coid, result in zip(coids, results, strict=True):
            if coid in executed:
                assert not isinstance(result, Exception) or isinstance(result, AmbiguousOutcome)
            else:  # written before the drop, never read by the venue: ambiguous, never resent
                assert isinstance(result, AmbiguousOutcome | Disconnected), result
                assert await a.find_order(coid) is None
        assert sim.exchange.duplicate_submissions("BURST") == 0
        await a.disconnect()
        await reader


# -------------------------------------------------------------- orders on the wire
async def test_marketable_limit_prices_off_the_reference(tmp_path: Path) -> None:
    sender = comp_id()
    with simulator(tmp_path, (sender,)) as sim:
        a = adapter(account("ml", sim.port, sender, marketable_limit_ticks=3), tmp_path / "data")
        await a.connect()
        buy = await a.place(order("ml-buy", reference_price=5000.0))
        sell = await a.place(order("ml-sell", Side.SELL, reference_price=5000.0))
        orders = {o.client_order_id: o for o in sim.exchange.accounts["ML"].orders.values()}
        assert (orders["ml-buy"].order_type, orders["ml-buy"].price) == (OrderType.LIMIT, 5000.75)
        assert (orders["ml-sell"].order_type, orders["ml-sell"].price) == (OrderType.LIMIT, 4999.25)
        assert buy.status is not OrderStatus.REJECTED and sell.status is not OrderStatus.REJECTED
        none = await a.place(order("ml-none", symbol="NQ"))
        assert none.status is OrderStatus.REJECTED and "no reference price for NQ" in (none.reason or "")
        assert "ml-none" not in {o.client_order_id for o in sim.exchange.accounts["ML"].orders.values()}
        await a.disconnect()


async def test_rejects_and_cancel_rejects_carry_their_text(tmp_path: Path) -> None:
    sender = comp_id()
    with simulator(tmp_path, (sender,)) as sim:
        a = adapter(account("rj", sim.port, sender), tmp_path / "data")
        await a.connect()
        bad = await a.place(order("rj-sym", symbol="ZZ"))
        assert bad.status is OrderStatus.REJECTED and "unknown symbol 'ZZ'" in (bad.reason or "")
        ghost = FollowerOrder(
            follower="f", signal_id="s", client_order_id="rj-cx", action=OrderAction.CANCEL, symbol="ES",
            side=Side.BUY, qty=0, target_client_order_id="ghost", broker_order_id="P999",
        )  # fmt: skip
        cx = await a.cancel(ghost)
        assert cx.status is OrderStatus.REJECTED and "unknown order ghost" in (cx.reason or "")
        bid, _ = sim.exchange.quote("ES")
        rest = order("rj-lim", qty=3, order_type=OrderType.LIMIT, price=bid - 5)
        ack = await a.place(rest)
        with sim.locked() as x:
            x.fill("RJ", ack.broker_order_id or "", 2)
        await until("the partial fill", lambda: a._book.orders["rj-lim"].filled == 2)
        shrink = rest.model_copy(
            update={"action": OrderAction.MODIFY, "client_order_id": "rj-mod", "target_client_order_id": "rj-lim",
                    "qty": 1}
        )  # fmt: skip
        mod = await a.modify(shrink)
        assert mod.status is OrderStatus.REJECTED and "not above the filled 2" in (mod.reason or "")
        await a.disconnect()


async def test_gateway_without_af_an_falls_back_to_the_sessions_reports(tmp_path: Path) -> None:
    sender = comp_id()
    with simulator(tmp_path, (sender,), unsupported=("AN", "AF")) as sim:
        a = adapter(account("nb", sim.port, sender), tmp_path / "data")
        await a.connect()
        await a.place(order("nb1", qty=2))
        bid, _ = sim.exchange.quote("ES")
        await a.place(order("nb2", order_type=OrderType.LIMIT, price=bid - 10))
        await until("the fill", lambda: a._book.positions.get("ES") and a._book.positions["ES"].qty == 2)
        assert [(p.symbol, p.qty) for p in await a.positions()] == [("ES", 2)]
        assert [o.client_order_id for o in await a.open_orders()] == ["nb2"]
        assert a.supports == {"positions": False, "open_orders": False}
        await a.disconnect()


# --------------------------------------------------------------- FIX leader (drop copy)
async def test_drop_copy_session_streams_the_leaders_orders(tmp_path: Path) -> None:
    with simulator(tmp_path, ("DROP1",), watch={"DROP1": "LEAD"}) as sim:
        sim.account("LEAD")
        a = adapter(account("lead", sim.port, "DROP1", account_id="LEAD"), tmp_path / "data")
        await a.connect()
        events: list = []

        async def pump() -> None:
            async for ev in a.subscribe():
                events.append(ev)

        reader = asyncio.create_task(pump())
        with sim.locked() as x:  # the trader's platform places orders; copytui only watches
            x.submit("LEAD", symbol="ES", side=Side.BUY, qty=2, client_order_id="q-1")
            bid, _ = x.quote("ES")
            lim = x.submit("LEAD", symbol="ES", side=Side.SELL, qty=1, order_type=OrderType.LIMIT, price=bid + 5)
            x.modify("LEAD", lim.id, price=bid + 6)
            x.cancel("LEAD", lim.id)
        await until("four kinds of events", lambda: len({e.kind for e in events}) >= 5)
        fill = next(e for e in events if e.kind is EventKind.FILL)
        assert (fill.client_order_id, fill.cum_qty, fill.side) == ("q-1", 2, Side.BUY)
        new = next(e for e in events if e.kind is EventKind.ORDER_NEW and e.order_id == lim.id)
        assert new.order_type is OrderType.LIMIT and new.price == bid + 5
        moved = next(e for e in events if e.kind is EventKind.ORDER_MODIFIED)
        assert moved.price == bid + 6 and moved.version == 1
        assert any(e.kind is EventKind.ORDER_CANCELLED and e.order_id == lim.id for e in events)
        events_, cursor = await a.fills_since(None)
        assert [e.fill_id for e in events_] == [fill.fill_id]
        assert (await a.fills_since(cursor))[0] == []
        await a.disconnect()
        await reader


# ------------------------------------------------------------------------ end to end
CONFIG = """\
journal: {journal}
leader:
  name: lead
  broker: paper
followers:
  - name: fixf
    broker: fix
    account_id: FIXF
    host: 127.0.0.1
    port: {port}
    multiplier: 2
    options:
      begin_string: {begin}
      sender_comp_id: {sender}
      target_comp_id: SIM
      heartbeat_interval: 1
      marketable_limit_ticks: 2
reconcile:
  interval_s: 1
"""


@pytest.mark.parametrize("begin", VERSIONS)
async def test_config_copies_a_paper_leader_to_a_fix_follower(
    tmp_path: Path, begin: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))  # the session store lands under it
    sender = comp_id("E2E")
    with simulator(tmp_path, (sender,), log_path=tmp_path / "sim.log") as sim:
        path = tmp_path / "copytui.yaml"
        journal = tmp_path / "journal.sqlite3"
        path.write_text(CONFIG.format(journal=journal, port=sim.port, begin=begin, sender=sender))
        rt = build_runtime(load_config(path))
        await rt.start()
        try:
            rt.exchange.submit("lead", symbol="ES", side=Side.BUY, qty=1)
            rt.exchange.submit("lead", symbol="ES", side=Side.BUY, qty=2)
            await until("follower long 6 at the venue", lambda: _venue_pos(sim, "FIXF") == 6, 8)
            rt.exchange.submit("lead", symbol="ES", side=Side.SELL, qty=3)
            await until("follower flat at the venue", lambda: _venue_pos(sim, "FIXF") == 0, 8)
            await until("engine idle", lambda: rt.engine.drain(timeout_s=1))
            follower = rt.engine.followers["fixf"]
            await until("fills journaled", lambda: follower.stats.fills >= 3)
        finally:
            await rt.stop()
        venue_orders = list(sim.exchange.accounts["FIXF"].orders.values())
    assert {o.order_type for o in venue_orders} == {OrderType.LIMIT}  # marketable limits on the wire
    assert sim.exchange.duplicate_submissions("FIXF") == 0
    s = await summary(journal)
    assert (s["unresolved"], s["duplicate_orders"], s["rejects"], s["errors"]) == (0, 0, 0, 0)
    with sqlite3.connect(journal) as db:
        fills = dict(db.execute("SELECT side, SUM(qty) FROM executions WHERE follower = 'fixf' GROUP BY side"))
        statuses = {r[0] for r in db.execute("SELECT status FROM intents WHERE follower = 'fixf'")}
    assert fills == {"buy": 6, "sell": 6} and statuses == {"filled"}
    assert list((tmp_path / "xdg" / "copytui" / "fix").glob(f"fixf-{sender}-SIM/store/*.seqnums"))


def _venue_pos(sim, account: str) -> int:  # type: ignore[no-untyped-def]
    with sim.locked() as x:
        acct = x.accounts.get(account)
        pos = acct.positions.get("ES") if acct else None
        return pos.qty if pos else 0


# ------------------------------------------------------------------------ standalone sim
def test_copytui_sim_fix_runs_standalone(tmp_path: Path) -> None:
    port = free_port()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "copytui.cli", "sim", "fix", "--port", str(port), "--accounts", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert f"FIX simulator on 127.0.0.1:{port}" in first, first

        async def trade() -> OrderStatus:
            a = adapter(account("cli", port, "COPYTUI", account_id="FIX1"), tmp_path / "data")
            await a.connect()
            ack = await a.place(order("cli-1"))
            await until("a position", lambda: _has_pos(a))
            await a.disconnect()
            return ack.status

        assert asyncio.run(trade()) is OrderStatus.WORKING
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def _has_pos(a) -> bool:  # type: ignore[no-untyped-def]
    return any(p.qty == 1 for p in await a.positions())


def test_sessions_dir_holds_no_secret_after_a_real_logon(tmp_path: Path) -> None:
    """quickfix FileStore with PersistMessages=N: the store files hold sequence numbers only."""
    sender, secret = comp_id(), "Another-Secret-9"

    async def run() -> None:
        with simulator(tmp_path, (sender,), password=secret) as sim:
            a = adapter(account("st", sim.port, sender), tmp_path / "data", password=secret)
            await a.connect()
            await a.disconnect()

    asyncio.run(run())
    time.sleep(0.01)
    bodies = list((tmp_path / "data").rglob("*.body"))
    assert bodies and all(p.read_bytes() == b"" for p in bodies)


# ------------------------------------------------- QuickFIX's own example acceptors
def _peer(name: str, port: int, sender: str, target: str, begin: str, data: Path, **options: object):  # type: ignore[no-untyped-def]
    cfg = account(name, port, sender, begin, target_comp_id=target, account_id=None, **options)
    return adapter(cfg, data)


@pytest.mark.parametrize("begin", VERSIONS)
async def test_interop_with_quickfix_executor(tmp_path: Path, begin: str) -> None:
    """executor fills every limit order at its price and rejects other types (session Reject)."""
    example("executor")
    port = free_port()
    cfg = settings(port, tmp_path, "EXECUTOR", [(begin, "CLIENT1")])
    with running("executor", port, cfg, tmp_path):
        a = _peer("qfx", port, "CLIENT1", "EXECUTOR", begin, tmp_path / "data", marketable_limit_ticks=2)
        await a.connect()
        ack = await a.place(order("ex-1", qty=3, reference_price=5000.0))
        assert ack.status is OrderStatus.FILLED and ack.broker_order_id
        fill = a._book.fills[-1]
        assert (fill.fill_qty, fill.cum_qty, fill.fill_price) == (3, 3, 5000.5)  # the limit: 5000 + 2 ticks
        sell = await a.place(order("ex-2", Side.SELL, reference_price=5001.0))
        assert sell.status is OrderStatus.FILLED and a._book.fills[-1].fill_price == 5000.5
        # no AN / AF at executor: positions and open orders come from the session's own reports
        assert [(p.symbol, p.qty) for p in await a.positions()] == [("ES", 2)]
        assert await a.open_orders() == []
        assert a.supports == {"positions": False, "open_orders": False}
        info = await a.find_order("ex-1")
        assert info is not None and info.filled_qty == 3 and info.status is OrderStatus.FILLED
        await a.disconnect()
        plain = _peer("qfx", port, "CLIENT1", "EXECUTOR", begin, tmp_path / "data2", reset_on_logon=True)
        await plain.connect()
        rejected = await plain.place(order("ex-3"))  # a market order, no marketable-limit option
        assert rejected.status is OrderStatus.REJECTED and "session reject" in (rejected.reason or "")
        await plain.disconnect()


async def test_interop_with_quickfix_ordermatch(tmp_path: Path) -> None:
    """ordermatch keeps a real book (FIX 4.2): a resting sell from CLIENT2 is taken by CLIENT1's
    market order, sent as a marketable limit; a cancel is answered under the order's own ClOrdID."""
    example("ordermatch")
    port = free_port()
    begin = "FIX.4.2"
    cfg = settings(port, tmp_path, "ORDERMATCH", [(begin, "CLIENT1"), (begin, "CLIENT2")])
    with running("ordermatch", port, cfg, tmp_path):
        maker = _peer("maker", port, "CLIENT2", "ORDERMATCH", begin, tmp_path / "m")
        taker = _peer("taker", port, "CLIENT1", "ORDERMATCH", begin, tmp_path / "t", marketable_limit_ticks=2)
        await maker.connect()
        await taker.connect()
        rest = await maker.place(order("om-ask", Side.SELL, qty=2, order_type=OrderType.LIMIT, price=5000.0))
        assert rest.status is OrderStatus.WORKING
        took = await taker.place(order("om-take", qty=1, reference_price=5000.0))
        assert took.status in (OrderStatus.WORKING, OrderStatus.FILLED)
        await until("the taker's fill", lambda: taker._book.fills)
        await until("the maker's partial fill", lambda: maker._book.fills)
        t, m = taker._book.fills[-1], maker._book.fills[-1]
        assert (t.fill_qty, t.fill_price, t.side) == (1, 5000.0, Side.BUY)  # at the resting price
        assert (m.fill_qty, m.cum_qty, m.fill_price) == (1, 1, 5000.0)
        assert maker._book.orders["om-ask"].status is OrderStatus.PARTIALLY_FILLED
        cancel = order("om-cx", Side.SELL).model_copy(
            update={"action": OrderAction.CANCEL, "target_client_order_id": "om-ask", "qty": 0}
        )
        cx = await maker.cancel(cancel)
        assert cx.status is OrderStatus.CANCELLED
        assert [(p.symbol, p.qty) for p in await taker.positions()] == [("ES", 1)]
        assert [(p.symbol, p.qty) for p in await maker.positions()] == [("ES", -1)]
        await maker.disconnect()
        await taker.disconnect()
