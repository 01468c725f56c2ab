"""After a restart: the engine's state rebuilt from the journal (what was copied, what each
follower holds or has on its way), before any new event is read."""

from __future__ import annotations

from collections.abc import Iterable

from copytui.engine.follower import Follower
from copytui.engine.intents import IntentState
from copytui.engine.market import Market
from copytui.engine.signals import SignalBuilder
from copytui.journal import LIVE_STATUSES, Journal
from copytui.models import OrderAction, OrderStatus, OrderType


def restore(journal: Journal, builders: list[SignalBuilder], followers: Iterable[Follower], market: Market) -> set[str]:
    """Rebuild each leader's orders and positions (one builder per leader) and every follower's
    intents and basis, and the market journaled with the signals whose follower orders are still
    open (their fills measure against it); returns the signal ids already journaled (a replayed
    event maps to one of them and is dropped)."""
    followers = list(followers)
    open_signals: set[str] = set()
    state = journal.restart_state(builders[0].leader, [f.name for f in followers])
    builders[0].restore(state.leader_signals)
    for builder in builders[1:]:
        builder.restore(journal.restart_state(builder.leader, []).leader_signals)
    for f in followers:
        st = f.state
        for row in state.intents[f.name]:
            order, status = row.order, row.status
            it = st.intents[order.client_order_id] = IntentState(
                order, status, row.filled_qty, row.avg_fill_price, row.broker_order_id
            )
            if not status.final:
                st.live[order.client_order_id] = it
            if order.action is not OrderAction.PLACE or status is OrderStatus.SKIPPED:
                continue
            if not status.final:
                open_signals.add(order.signal_id)
            counted = order.qty if status in LIVE_STATUSES else row.filled_qty
            ls = order.leader_symbol
            st.basis[ls] = st.basis.get(ls, 0) + order.side.sign * counted
            if order.leader_order_id:
                st.held_by_order[order.leader_order_id] = st.held_by_order.get(order.leader_order_id, 0) + counted
                if order.order_type is not OrderType.MARKET and not status.final:
                    st.mirrored[order.leader_order_id] = order.client_order_id
    if market.source is not None and open_signals:
        for sid, mark in journal.market_marks(open_signals).items():
            market.restore(sid, mark)
    return state.seen_signal_ids
