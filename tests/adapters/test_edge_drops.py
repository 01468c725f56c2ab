"""Anything an adapter refuses at its edge is counted in the journal and alerted, never only
logged (issue 13: fills that vanish): bad frames sent over a real Tradovate socket reach the desk
as an alert and the journal as a counter."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from adapters.base import AdapterContext
from adapters.tradovate import create_adapter
from copytui.engine import Engine
from copytui.journal import Journal
from tests.adapters.tv_support import account_config, follower_config, running_sim, secrets_for


async def test_bad_frames_on_a_follower_are_counted_and_alerted(tmp_path: Path) -> None:
    async with running_sim("DEMO0001", "DEMO0002") as sim:
        lead_cfg = account_config(sim, "lead", "DEMO0001")
        cfg = follower_config(sim, "alpha", "DEMO0002")
        secret = secrets_for("lead", "alpha")
        journal = Journal(tmp_path / "journal.sqlite3")
        engine = Engine(
            leader_cfg=lead_cfg,
            leader=create_adapter(lead_cfg, AdapterContext(secret=secret)),
            followers=[(cfg, create_adapter(cfg, AdapterContext(secret=secret)))],
            journal=journal,
            reconcile_interval_s=3600,
        )
        await engine.start()
        try:
            bad_fill = {"id": 1, "orderId": 2, "contractId": 3, "action": "Buy", "qty": -1, "price": 1.0}
            frame = [{"e": "props", "d": {"entityType": "fill", "eventType": "Created", "entity": bad_fill}}]
            sim.inject("DEMO0002", "a" + json.dumps(frame))
            sim.inject("DEMO0002", "x-garbage")
            for _ in range(100):
                alerts = [a for a in engine.alerts if a.follower == "alpha" and a.kind == "dropped at the edge"]
                if alerts and engine.followers["alpha"].adapter.health.dropped >= 2:
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.6)  # one more housekeeping pass
            assert alerts, [a.kind for a in engine.alerts]
            assert "field 'qty'" in alerts[0].message or "unknown frame" in alerts[0].message
            journal.flush()
            [(count,)] = journal.db.execute("SELECT value FROM counters WHERE name = 'dropped:alpha'")
            assert count == 2
            errors = [m for (m,) in journal.db.execute("SELECT message FROM errors WHERE source = 'adapter:alpha'")]
            assert errors
        finally:
            await engine.stop(settle=False)
            journal.close()
