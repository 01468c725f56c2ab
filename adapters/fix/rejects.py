"""A FIX reject in a trader's words: what was refused, which tag (371, by name where known), and,
where copytui knows one, the account option that fixes it."""

from __future__ import annotations

from adapters.fix import trailing
from adapters.fix import wire as w
from adapters.fix.session_config import FixAccount
from copytui.models import OrderType


def describe(f: w.Fields, msg_type: str, sent_type: OrderType | None, opts: FixAccount) -> str:
    """The text of a session (35=3) or business (35=j) reject ``f`` of a message of ``msg_type``
    ("" when unknown); ``sent_type``: the order type of the refused NewOrderSingle, if it was one."""
    refused = msg_type or f.get(w.REF_MSG_TYPE)
    of = f" of {w.msg_type_label(refused)}" if refused else ""
    if f.msg_type == w.BUSINESS_REJECT:
        text = f.text() or f"reason {f.get(w.BUSINESS_REJECT_REASON) or '?'}"
        return f"business reject{of}: {text}"
    code = f.get(w.SESSION_REJECT_REASON) or ""
    text = f.text() or w.SESSION_REJECT_REASONS.get(code) or f"reason {code or '?'}"
    tag = f.get(w.REF_TAG_ID)
    if not tag:
        return f"session reject{of}: {text}"
    reason = f"session reject{of}: {trailing.tag_label(tag)} refused: {text}"
    fix_hint = hint(tag, sent_type, opts)
    return f"{reason}; {fix_hint}" if fix_hint else reason


def hint(tag: str, sent_type: OrderType | None, opts: FixAccount) -> str:
    """The option that may fix a refused tag, in one clause; "" when copytui knows none."""
    if tag == str(w.ORD_TYPE) and sent_type is OrderType.MARKET:
        return (
            f"this gateway takes no market orders: set marketable_limit_ticks (options of fix account {opts.name}, "
            "e.g. marketable_limit_ticks: 2) to send them as limit orders that many ticks through the reference price"
        )
    if tag == str(w.SYMBOL):
        return f"check the follower's symbol_map and the option symbol_suffix (now {opts.symbol_suffix!r})"
    if tag == str(w.ACCOUNT):
        return f"check account_id of fix account {opts.name} (sent as Account 1)"
    if tag in {str(t) for t in trailing.TRAIL_TAGS}:
        return (
            f"this gateway may not take trailing stops as copytui sends them: set trailing_stops: false (options "
            f"of fix account {opts.name}) to copy a leader's trailing stop as a stop copytui moves"
        )
    if tag in (str(w.CL_ORD_ID), str(w.ORIG_CL_ORD_ID)):
        return f"if the gateway takes shorter ClOrdIDs, lower clordid_max_len (now {opts.clordid_max_len})"
    return ""
