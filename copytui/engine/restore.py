"""After a restart: the engine's state rebuilt from the journal (what was copied, what each
follower holds or has on its way), before any new event is read."""

from __future__ import annotations

from collections.abc import Iterable

from copytui.engine.follower import Follower
from copytui.engine.router import IntentState
from copytui.engine.signals import SignalBuilder
from copytui.journal import LIVE_STATUSES, Journal
from copytui.models import FollowerOrder, OrderAction, OrderStatus, OrderType, Side


def restore(journal: Journal, builder: SignalBuilder, followers: Iterable[Follower]) -> set[str]:
    """Rebuild the leader's orders and positions and every follower's intents and basis; returns
    the signal ids already journaled (a replayed event maps to one of them and is dropped)."""
    builder.restore(journal.signals_for_leader(builder.leader))
    for f in followers:
        st = f.state
        for row in journal.follower_intents(f.name):
            order = FollowerOrder(
                follower=row["follower"],
                signal_id=row["signal_id"],
                client_order_id=row["client_order_id"],
                action=OrderAction(row["action"]),
                symbol=row["symbol"],
                side=Side(row["side"]),
                qty=row["qty"],
                order_type=OrderType(row["order_type"]),
                price=row["price"],
                stop_price=row["stop_price"],
                leader_symbol=row["leader_symbol"] or row["symbol"],
                leader_order_id=row["leader_order_id"],
                target_client_order_id=row["target_client_order_id"],
                broker_order_id=row["broker_order_id"],
                reference_price=row["reference_price"],
                status=OrderStatus(row["status"]),
            )
            status = OrderStatus(row["status"])
            st.intents[order.client_order_id] = IntentState(
                order, status, row["filled_qty"] or 0, row["avg_fill_price"], row["broker_order_id"]
            )
            if order.action is not OrderAction.PLACE or status is OrderStatus.SKIPPED:
                continue
            counted = order.qty if status in LIVE_STATUSES else (row["filled_qty"] or 0)
            ls = order.leader_symbol
            st.basis[ls] = st.basis.get(ls, 0) + order.side.sign * counted
            if order.leader_order_id:
                st.held_by_order[order.leader_order_id] = st.held_by_order.get(order.leader_order_id, 0) + counted
                if order.order_type is not OrderType.MARKET and not status.final:
                    st.mirrored[order.leader_order_id] = order.client_order_id
    return journal.seen_signal_ids()
