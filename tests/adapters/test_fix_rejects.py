"""How a FIX reject reads (issue 14): the refused tag by name and number, and the option that
fixes it where copytui knows one. The same messages from QuickFIX's executor: test_fix_executor."""

from __future__ import annotations

from adapters.fix import parse_options
from adapters.fix import wire as w
from adapters.fix.rejects import describe
from copytui.config import AccountConfig
from copytui.models import OrderType

OPTS = parse_options(
    AccountConfig(name="gw", broker="fix", host="h", port=1, options={"sender_comp_id": "A", "target_comp_id": "B"})
)


def _fields(raw: str) -> w.Fields:
    return w.Fields.parse(raw.replace("|", w.SOH))


def test_a_session_reject_names_the_tag_and_the_option() -> None:
    # what QuickFIX's executor answers to a market order
    f = _fields("35=3|45=5|58=Value is incorrect (out of range) for this tag|371=40|372=D|373=5|")
    text = describe(f, w.NEW_ORDER, OrderType.MARKET, OPTS)
    assert text.startswith("session reject of NewOrderSingle (D): OrdType (40) refused: Value is incorrect")
    assert "marketable_limit_ticks" in text and "fix account gw" in text
    # a limit order refused on its OrdType: no market-order advice
    assert "marketable_limit_ticks" not in describe(f, w.NEW_ORDER, OrderType.LIMIT, OPTS)


def test_a_session_reject_without_text_or_known_tag_still_says_what() -> None:
    f = _fields("35=3|45=9|371=9001|373=5|")
    assert describe(f, "", None, OPTS) == (
        "session reject: tag 9001 refused: Value is incorrect (out of range) for this tag"
    )
    assert describe(_fields("35=3|45=9|372=AN|373=11|"), "", None, OPTS) == (
        "session reject of RequestForPositions (AN): Invalid MsgType"
    )


def test_a_business_reject_names_the_request() -> None:
    f = _fields("35=j|45=2|58=Conditionally Required Field Missing (40)|372=AN|380=5|")
    assert describe(f, w.POSITIONS_REQUEST, None, OPTS) == (
        "business reject of RequestForPositions (AN): Conditionally Required Field Missing (40)"
    )
    assert describe(_fields("35=j|45=2|380=3|"), w.MASS_STATUS, None, OPTS) == (
        "business reject of OrderMassStatusRequest (AF): reason 3"
    )
