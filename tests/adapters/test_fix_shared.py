"""FIX accounts of one gateway share one quickfix initiator (issue 22): each account still gets its
own orders and answers, keeps its own sequence numbers across a restart, and can leave and come
back while the others go on. Also: a value that would smuggle a field into a message is refused
before anything reaches the gateway. All over real sockets against the quickfix simulator."""

from __future__ import annotations

import asyncio
from pathlib import Path

from adapters.fix import FixAdapter
from adapters.fix.hub import running_sessions
from copytui.models import OrderStatus, Side
from tests.adapters.fix_support import account, adapter, comp_id, order, simulator, until

_TAKEN = (OrderStatus.WORKING, OrderStatus.FILLED)
"""The first answer to a market order at the venue: taken (and maybe filled already)."""


async def _net_is(a: FixAdapter, qty: int) -> bool:
    return sum(p.qty for p in await a.positions()) == qty


def _pair(port: int, senders: tuple[str, str], data: Path) -> tuple[FixAdapter, FixAdapter]:
    a = adapter(account("fa", port, senders[0], account_id="ACCA"), data / "a")
    b = adapter(account("fb", port, senders[1], account_id="ACCB"), data / "b")
    return a, b


def _all_placed(sim_audit: list[dict[str, object]]) -> list[object]:
    return [e["client_order_id"] for e in sim_audit if e["action"] == "place"]


def _placed(sim_audit: list[dict[str, object]], acct: str) -> list[object]:
    return [e["client_order_id"] for e in sim_audit if e["account"] == acct and e["action"] == "place"]


async def test_accounts_connecting_together_share_one_initiator_and_keep_their_orders_apart(tmp_path: Path) -> None:
    senders = (comp_id("SH"), comp_id("SH"))
    with simulator(tmp_path, senders) as sim:
        sim.account("ACCA")
        sim.account("ACCB")
        a, b = _pair(sim.port, senders, tmp_path)
        await asyncio.gather(a.connect(), b.connect())
        try:
            held = running_sessions()
            assert held[a.session.key] is held[b.session.key]  # one initiator, one reader thread
            # a burst on both sessions at once: every order answered, each on its own account
            acks = await asyncio.gather(
                *(a.place(order(f"sha-{i}", Side.BUY)) for i in range(5)),
                *(b.place(order(f"shb-{i}", Side.SELL)) for i in range(5)),
            )
            assert all(k.status in _TAKEN and k.broker_order_id for k in acks), acks
            # the venue answers an order before it writes its audit line: wait for the tenth line
            audit = await until("the audit", lambda: _all_placed(sim.audit.as_json())[9:] and sim.audit.as_json())
            assert _placed(audit, "ACCA") == [f"sha-{i}" for i in range(5)]
            assert _placed(audit, "ACCB") == [f"shb-{i}" for i in range(5)]
            await until("A's fills", lambda: _net_is(a, 5))
            await until("B's fills", lambda: _net_is(b, -5))
        finally:
            await asyncio.gather(a.disconnect(), b.disconnect())
        assert a.session.key not in running_sessions() and b.session.key not in running_sessions()


async def test_shared_sessions_keep_their_own_sequence_numbers_across_a_restart(tmp_path: Path) -> None:
    senders = (comp_id("SR"), comp_id("SR"))
    with simulator(tmp_path, senders) as sim:
        sim.account("ACCA")
        sim.account("ACCB")
        last: dict[str, int] = {}
        for life in range(2):
            a, b = _pair(sim.port, senders, tmp_path)  # same data directories: same session stores
            await asyncio.gather(a.connect(), b.connect())
            try:
                ack_a = await a.place(order(f"sra-{life}"))
                ack_b = await b.place(order(f"srb-{life}"))
                assert ack_a.status in _TAKEN and ack_b.status in _TAKEN
                for x in (a, b):
                    if life == 1:  # no reset: each store carried on from its own last sequence number
                        assert min(x.session.sent_by_seq) > last[x.session.key]
                    last[x.session.key] = max(x.session.sent_by_seq)
            finally:
                await asyncio.gather(a.disconnect(), b.disconnect())
        audit = sim.audit.as_json()
        assert _placed(audit, "ACCA") == ["sra-0", "sra-1"]  # never sent twice, never lost
        assert _placed(audit, "ACCB") == ["srb-0", "srb-1"]


async def test_one_account_leaves_the_shared_initiator_and_comes_back_while_the_other_trades(tmp_path: Path) -> None:
    senders = (comp_id("SL"), comp_id("SL"))
    with simulator(tmp_path, senders) as sim:
        sim.account("ACCA")
        sim.account("ACCB")
        a, b = _pair(sim.port, senders, tmp_path)
        await asyncio.gather(a.connect(), b.connect())
        try:
            gateway = running_sessions()[b.session.key]
            await a.disconnect()
            await until("the venue to see the logout", lambda: not sim.logged_on(senders[0]))
            assert (await b.place(order("slb-1"))).status in _TAKEN  # the other goes on
            a = adapter(account("fa", sim.port, senders[0], account_id="ACCA"), tmp_path / "a")
            await a.connect()  # its session is still in the running initiator: enabled again there
            assert running_sessions()[a.session.key] is gateway
            assert (await a.place(order("sla-1"))).status in _TAKEN
        finally:
            await asyncio.gather(a.disconnect(), b.disconnect())
        audit = sim.audit.as_json()
        assert _placed(audit, "ACCA") == ["sla-1"] and _placed(audit, "ACCB") == ["slb-1"]


async def test_a_value_holding_soh_is_refused_and_nothing_reaches_the_gateway(tmp_path: Path) -> None:
    sender = comp_id("SO")
    with simulator(tmp_path, (sender,)) as sim:
        sim.account("ACCS")
        a = adapter(account("fs", sim.port, sender, account_id="ACCS"), tmp_path / "s")
        await a.connect()
        try:
            ack = await a.place(order("so-1\x0155=NQ"))  # would smuggle a second Symbol into the order
            assert ack.status is OrderStatus.REJECTED and "SOH" in (ack.reason or "")
            assert (await a.place(order("so-2"))).status in _TAKEN
        finally:
            await a.disconnect()
        assert _placed(sim.audit.as_json(), "ACCS") == ["so-2"]
        assert sim.received["D"] == 1
