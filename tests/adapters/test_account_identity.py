"""Never trade against itself, one copier per account (DESIGN.md invariants 6 and 10), over real
sockets: each adapter reports the broker's own account id after connecting, so a follower written
as the leader's account in another spelling, or two followers on one account, are refused before
anything is sent, and two copytui processes with different configs, journals and data folders
cannot drive one account."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.base import AdapterContext
from adapters.tradovate import create_adapter
from copytui.engine import Engine
from copytui.engine.lease import LeaseHeld, host_lease_dir
from copytui.journal import Journal
from tests.adapters.tv_support import account_config, follower_config, running_sim, secrets_for


def _spelled(cfg, sim, account: str):  # type: ignore[no-untyped-def]
    """``cfg`` with its account written as ``account``: a name like DEMO0002 or Tradovate's number."""
    by_number = {str(a.id): a.name for a in sim.account_by_name.values()}
    return cfg.model_copy(update={"account_id": account}) if account in by_number else cfg


def _login_of(sim, account: str) -> str:  # type: ignore[no-untyped-def]
    """The account's name, for a number: the test helpers find the login by name."""
    return {str(a.id): a.name for a in sim.account_by_name.values()}.get(account, account)


def _engine(sim, tmp_path: Path, journal: str, leader: str, followers: dict[str, str]) -> Engine:  # type: ignore[no-untyped-def]
    names = ["lead", *followers]
    lead_cfg = account_config(sim, "lead", leader)
    pairs = []
    for name, account in followers.items():
        cfg = _spelled(follower_config(sim, name, _login_of(sim, account)), sim, account)
        pairs.append((cfg, create_adapter(cfg, AdapterContext(secret=secrets_for(*names)))))
    return Engine(
        leader_cfg=lead_cfg,
        leader=create_adapter(lead_cfg, AdapterContext(secret=secrets_for(*names))),
        followers=pairs,
        journal=Journal(tmp_path / journal),
        reconcile_interval_s=3600,
    )


async def _refused(engine: Engine) -> str:
    with pytest.raises(LeaseHeld) as refused:
        await engine.start()
    engine.journal.close()
    return str(refused.value)


async def test_a_follower_on_the_leaders_account_by_its_number_is_refused(tmp_path: Path) -> None:
    async with running_sim("DEMO0001", "DEMO0002") as sim:
        number = str(sim.account_by_name["DEMO0001"].id)
        engine = _engine(sim, tmp_path, "j.sqlite3", "DEMO0001", {"mirror": number, "other": "DEMO0002"})
        text = await _refused(engine)
        assert f"follower mirror is the leader's own account (tradovate-127.0.0.1:{sim.port}-{number}" in text
        assert "leader lead" in text
        assert sim.exchange.accounts["DEMO0001"].submissions == []
        assert sim.exchange.accounts["DEMO0002"].submissions == []


async def test_two_followers_on_one_account_spelled_two_ways_are_refused(tmp_path: Path) -> None:
    async with running_sim("DEMO0001", "DEMO0002") as sim:
        number = str(sim.account_by_name["DEMO0002"].id)
        engine = _engine(sim, tmp_path, "j.sqlite3", "DEMO0001", {"byname": "DEMO0002", "bynumber": number})
        text = await _refused(engine)
        assert "followers byname and bynumber are the same broker account" in text
        assert sim.exchange.accounts["DEMO0002"].submissions == []


async def test_a_second_copier_on_another_journal_and_data_folder_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running_sim("DEMO0001", "DEMO0002") as sim:
        number = str(sim.account_by_name["DEMO0002"].id)
        first = _engine(sim, tmp_path, "one.sqlite3", "DEMO0001", {"alpha": "DEMO0002"})
        await first.start()
        try:
            monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "elsewhere"))
            second = _engine(sim, tmp_path, "two.sqlite3", "DEMO0001", {"zulu": number})
            text = await _refused(second)
            assert "follower zulu" in text and "is already driven by copytui pid" in text
        finally:
            await first.stop(settle=False)
            first.journal.close()
        # once the first is gone, the account is free
        third = _engine(sim, tmp_path, "two.sqlite3", "DEMO0001", {"zulu": number})
        await third.start()
        await third.stop(settle=False)
        third.journal.close()


def test_the_lease_folder_is_the_hosts_whatever_the_data_folder(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.delenv("COPYTUI_LEASE_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "a"))
    one = host_lease_dir()
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "b"))
    monkeypatch.setenv("HOME", str(tmp_path / "h"))
    assert host_lease_dir() == one
    assert not str(one).startswith(str(tmp_path))


def test_two_fix_followers_on_one_session_and_account_share_one_key(tmp_path: Path) -> None:
    """FIX: the gateway knows an account by its session and Account (1), not by our alias."""
    from tests.adapters.fix_support import account, adapter

    one = adapter(account("alpha", 9876, "CLIENT1", account_id="ACC-7"), tmp_path / "a")
    two = adapter(account("bravo", 9876, "CLIENT1", account_id="acc-7"), tmp_path / "b")
    other = adapter(account("charlie", 9876, "CLIENT2", account_id="ACC-7"), tmp_path / "c")
    assert one.account_key == two.account_key == "fix-127.0.0.1:9876-client1-sim-acc-7"
    assert other.account_key != one.account_key
