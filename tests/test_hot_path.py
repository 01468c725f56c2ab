"""The copy path's shortcuts give exactly what the plain code gave: the same client ids (a journal
written before them is replayed to the same ids), the same orders, the same guard decisions."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from adapters.base import Capabilities, client_id_fitter, fit_client_id
from copytui.config import FollowerConfig, RiskConfig
from copytui.engine.feedback import FeedbackGuard
from copytui.engine.ids import client_order_id, client_order_ids
from copytui.models import FollowerOrder, OrderAction, OrderStatus, OrderType, Side, trusted_follower_order

DIGITS = Capabilities(client_id_max_len=20, client_id_charset="0123456789")
WIDE = Capabilities(
    client_id_max_len=64, client_id_charset="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-"
)


def test_client_ids_are_those_copytui_always_made() -> None:
    # made by the code before the hot path's fitter: a journal of that time maps to these ids
    assert fit_client_id("s0123|f001|0", Capabilities()) == "ctytclsw2wgoweg531cmau6tnk40zple"
    assert fit_client_id("s0123|f001|0", DIGITS) == "ct894962501026236184"
    assert fit_client_id("s0123|f001|0", WIDE, prefix="xy") == (
        "xyzV7OunESTS3StW8iyzwK3bfR0ZQlSdWiwDN6piwwa5uWG6uWXaBgBbXTc5l7SE"
    )
    assert client_order_id("sabc", "f002", Capabilities(client_id_max_len=12), 3) == "ctebzmtubr72"


@pytest.mark.parametrize("caps", [Capabilities(), DIGITS, WIDE, Capabilities(client_id_max_len=8)])
def test_a_followers_id_maker_gives_client_order_id(caps: Capabilities) -> None:
    make = client_order_ids("f007", caps)
    for n in range(20):
        sid = f"s{n:020x}"
        for index in (0, 1, 2):
            assert make(sid, index) == client_order_id(sid, "f007", caps, index)
    fit = client_id_fitter(caps.client_id_max_len, caps.client_id_charset)
    assert fit("k|f|0") == fit_client_id("k|f|0", caps)
    assert len(make("s1", 0)) <= caps.client_id_max_len


def _fields() -> dict[str, object]:
    return {
        "follower": "f001",
        "signal_id": "s0123",
        "client_order_id": "ct0123",
        "action": OrderAction.PLACE,
        "symbol": "MES",
        "side": Side.SELL,
        "qty": 3,
        "order_type": OrderType.LIMIT,
        "price": 5000.25,
        "leader_symbol": "ES",
        "leader_order_id": "P7",
        "reference_price": 5000.5,
        "recv_ns": 123,
    }


def test_a_trusted_order_is_the_validated_order() -> None:
    checked, trusted = FollowerOrder(**_fields()), trusted_follower_order(**_fields())  # type: ignore[arg-type]
    assert trusted == checked and hash(trusted) == hash(checked)
    assert list(trusted.__dict__) == list(checked.__dict__)  # same field order: same JSON, same repr
    assert trusted.model_dump_json() == checked.model_dump_json() and repr(trusted) == repr(checked)
    assert trusted.model_fields_set == checked.model_fields_set
    assert trusted.status is OrderStatus.PENDING and trusted.signed_qty == -3
    moved = trusted.model_copy(update={"qty": 5})
    assert moved == checked.model_copy(update={"qty": 5}) and trusted.qty == 3
    with pytest.raises(ValidationError):
        trusted.qty = 4  # type: ignore[misc]  # frozen like any FollowerOrder
    assert json.loads(trusted.model_dump_json())["side"] == "sell"


@pytest.mark.parametrize(
    "change",
    [{"qty": -1}, {"bogus": 1}, {"follower": None}],
    ids=["negative quantity", "unknown field", "missing follower"],
)
def test_a_bad_trusted_order_is_refused_by_validation(change: dict[str, object]) -> None:
    fields = {k: v for k, v in {**_fields(), **change}.items() if v is not None}
    with pytest.raises(ValidationError):
        trusted_follower_order(**fields)


def _order(qty: int) -> FollowerOrder:
    return FollowerOrder(
        follower="f", signal_id="s", client_order_id=f"c{qty}", action=OrderAction.PLACE, symbol="ES",
        side=Side.BUY, qty=qty,
    )  # fmt: skip


@pytest.mark.parametrize("per_minute", [None, 3])
def test_admit_decides_and_counts_as_refuse_then_sent(per_minute: int | None) -> None:
    cfg = FollowerConfig(name="f", broker="paper", risk=RiskConfig(max_orders_per_minute=per_minute))
    one, other = FeedbackGuard(cfg), FeedbackGuard(cfg)
    for guard in (one, other):
        guard.leader_contracts, guard.leader_signals = 2, 1
    asks = [[_order(4)], [_order(2), _order(3)], [_order(9)], [_order(1)], [_order(1)]]
    for live in asks:
        why = one.refuse(live, now=100.0)
        if not why:
            one.sent(live, now=100.0)
        assert other.admit(live) == why
        assert other.sent_contracts == one.sent_contracts
    assert one.sent_contracts > 0 and any(one.refuse(live, now=100.0) for live in asks)
