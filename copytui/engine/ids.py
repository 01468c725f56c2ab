"""Every id the engine makes, in one place (invariant 2).

A signal id comes from (leader account, leader order id or a synthetic key, event kind, a marker:
cumulative quantity, version, or a time for one-off operator signals); a follower's client order
id from (signal id, follower, index), fitted to the follower broker's length and charset. A
replayed leader event therefore maps to the same ids and is dropped by the journal."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

from adapters.base import Capabilities, client_id_fitter, fit_client_id


def signal_id(leader: str, order_id: str, kind: str, marker: int | str) -> str:
    key = f"{leader}|{order_id}|{kind}|{marker}"
    return "s" + hashlib.blake2b(key.encode(), digest_size=10).hexdigest()


def client_order_id(signal: str, follower: str, caps: Capabilities, index: int = 0) -> str:
    return fit_client_id(f"{signal}|{follower}|{index}", caps)


def client_order_ids(follower: str, caps: Capabilities) -> Callable[[str, int], str]:
    """``client_order_id`` for one follower, (signal id, index) -> the same id, with the broker's
    limits looked up once: the router makes one id per follower on every leader fill."""
    fit = client_id_fitter(caps.client_id_max_len, caps.client_id_charset)

    def make(signal: str, index: int) -> str:
        return fit(f"{signal}|{follower}|{index}")

    return make


def sync_signal_id(leader: str, follower: str) -> str:
    """An operator's resume-and-sync: one of its own each time."""
    return signal_id(leader, f"sync-{follower}", "operator", time.time_ns())


def correction_signal_id(leader: str, follower: str, symbol: str) -> str:
    """The reconciler's auto-correction: one of its own each time (each is budgeted and journaled)."""
    return signal_id(leader, f"correct-{follower}-{symbol}", "correction", time.time_ns())


def mirror_cancel_signal_id(leader: str, leader_order_id: str, follower: str) -> str:
    """Cancelling a mirrored copy whose leader order filled: once per copy."""
    return signal_id(leader, leader_order_id, f"mirror-cancel-{follower}", 0)


def mirror_market_signal_id(leader: str, leader_order_id: str, follower: str, cum_qty: int) -> str:
    """The unfilled rest of a cancelled mirrored copy, sent at market: once per leader quantity."""
    return signal_id(leader, leader_order_id, f"mirror-market-{follower}", cum_qty)
