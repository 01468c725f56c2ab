"""A leader's broker that states an OCO link on the second leg only: the first leg was copied as a
plain order before anyone knew. Once an event of the first leg carries the group, copytui pairs the
follower's copies live, so the follower's own filled leg cancels the other at once (issue 23).
The Rithmic adapter reads notifications injected by its simulator over real loopback sockets; the
follower is a paper mirror account."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from adapters.paper import PaperAdapter
from adapters.paper.exchange import PaperExchange
from adapters.rithmic import proto
from adapters.rithmic.enums import OrderNotify
from adapters.rithmic.simulator import RithmicSimulator, SimUser
from copytui.config import FollowerConfig
from copytui.engine import Engine
from copytui.journal import Journal
from copytui.models import OrderStatus
from tests.adapters.rithmic_support import PASSWORD, USER, account_config, make_adapter, until
from tests.adapters.test_rithmic_leader_oco import ACCOUNT, _open


def _working(x: PaperExchange) -> dict[float, Any]:
    return {o.price: o for o in x.accounts["m"].orders.values() if not o.status.final}


async def test_a_link_stated_late_pairs_the_copies_live(tmp_path: Path) -> None:
    x = PaperExchange(seed=4)
    x.account("m")
    x.set_price("ES", 6000.0)
    async with RithmicSimulator(x, users={USER: SimUser(PASSWORD, [ACCOUNT])}) as sim:
        journal = Journal(tmp_path / "journal.sqlite3")
        engine = Engine(
            leader_cfg=account_config(sim, "lead", ACCOUNT),
            leader=make_adapter(sim, "lead", ACCOUNT),
            followers=[(FollowerConfig(name="m", broker="paper", mode="mirror"), PaperAdapter(x, "m"))],
            journal=journal,
            reconcile_interval_s=3600,
        )
        await engine.start()
        try:
            # two sell limits above the market; only the second names the first
            sim.inject(ACCOUNT, proto.frame(_open(sim, "9001", 6010.0)))
            sim.inject(ACCOUNT, proto.frame(_open(sim, "9002", 6020.0, linked_basket_ids="9001")))
            await until(lambda: set(_working(x)) == {6010.0, 6020.0}, what="both copies working")
            intents = engine.followers["m"].state.intents
            first, second = _working(x)[6010.0], _working(x)[6020.0]
            assert intents[first.client_order_id].order.oco_group is None  # not known when it was copied
            # the first leg's next event (its price moved) carries the group the link made
            moved = replace(_open(sim, "9001", 6011.0), notify_type=OrderNotify.MODIFIED)
            sim.inject(ACCOUNT, proto.frame(moved))
            await until(lambda: first.price == 6011.0, what="the first copy moved with its leader order")
            assert await engine.drain(timeout_s=5)
            group = intents[second.client_order_id].order.oco_group
            assert group is not None and intents[first.client_order_id].order.oco_group == group

            x.fill("m", second.id, 1)  # the follower's own second leg fills first
            await until(lambda: first.status is OrderStatus.CANCELLED, what="copytui cancelling the other leg")
            assert await engine.drain(timeout_s=5)
            journal.flush()
            reasons = [r for (r,) in journal.db.execute("SELECT reason FROM intents WHERE action = 'cancel'")]
            assert len(reasons) == 1 and reasons[0].startswith("oco:")
        finally:
            await engine.stop(settle=False)
            journal.close()
