"""What the Tradovate simulator accepts as a request: bodies of the order endpoints, the request text
itself (``undefined`` included), and the token of a WebSocket ``authorize``.

The rule is "accept what the real server accepts from Tradovate's own sample clients"
(tradovate/example-api-js, example-api-trading-strategy; PROTOCOLS.md), and refuse everything else
with an answer that names the field: our own adapter must never lean on a leniency.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from adapters.tradovate.entities import WireOrderType

NO_BODY = ("", "undefined")
"""Request texts that mean "no body": example-api-js writes ``JSON.stringify(undefined)`` into the
request of every body-less call, the trading-strategy example does the same for an absent query."""


class BodyNotJSON(ValueError):
    """A request body that is neither JSON nor one of :data:`NO_BODY`."""


def parse_body(text: str) -> Any:
    """The JSON value of a request body; None when there is none."""
    if text.strip() in NO_BODY:
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:  # RecursionError: nesting too deep
        raise BodyNotJSON(f"body is not JSON ({exc})") from None


def parse_query(text: str) -> dict[str, str]:
    if text.strip() in NO_BODY:
        return {}
    return dict(p.split("=", 1) for p in text.split("&") if "=" in p)


def token_of(text: str) -> str:
    """The token of ``authorize\\n0\\n\\n<token>``: bare (Tradovate's docs, the trading-strategy example)
    or JSON-quoted (example-api-js sends ``JSON.stringify(token)``)."""
    text = text.strip()
    if text.startswith('"'):
        try:
            value = json.loads(text)
        except ValueError:
            return ""
        return value if isinstance(value, str) else ""
    return text


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    p_ticket: str | None = Field(default=None, alias="p-ticket")
    isAutomated: bool = False
    customTag50: str | None = None
    activationTime: str | None = None
    text: str | None = None


class PlaceOrderBody(_Body):
    accountSpec: str | None = None
    accountName: str | None = None
    """example-api-js (EX-12a) names the account this way, with no accountSpec."""
    accountId: int | None = None
    clOrdId: str | None = Field(default=None, max_length=64)
    action: Literal["Buy", "Sell"]
    symbol: str
    orderQty: int
    orderType: WireOrderType
    price: float | None = None
    stopPrice: float | None = None
    timeInForce: Literal["Day", "FOK", "GTC", "GTD", "IOC"] | None = None
    maxShow: int | None = None
    pegDifference: float | None = None
    expireTime: str | None = None

    @property
    def spec(self) -> str | None:
        """The account as named in the body (accountSpec, else accountName)."""
        return self.accountSpec or self.accountName


class OtherOrderBody(BaseModel):
    """``other`` of ``/order/placeOCO``: the second leg (the reference's RestrainedOrderVersion). It
    has no quantity: both legs are ``orderQty`` of the request."""

    model_config = ConfigDict(extra="forbid")
    action: Literal["Buy", "Sell"]
    clOrdId: str | None = Field(default=None, max_length=64)
    orderType: WireOrderType
    price: float | None = None
    stopPrice: float | None = None
    maxShow: int | None = None
    pegDifference: float | None = None
    timeInForce: Literal["Day", "FOK", "GTC", "GTD", "IOC"] | None = None
    expireTime: str | None = None
    text: str | None = None


class PlaceOcoBody(PlaceOrderBody):
    """``/order/placeOCO``: a placeorder body (the first leg) and ``other``, answered ``{orderId, ocoId}``."""

    other: OtherOrderBody

    def second(self) -> PlaceOrderBody:
        """The other leg as the placeorder body it amounts to (account, symbol and quantity shared)."""
        o = self.other
        return PlaceOrderBody(
            accountSpec=self.accountSpec, accountName=self.accountName, accountId=self.accountId, clOrdId=o.clOrdId,
            action=o.action, symbol=self.symbol, orderQty=self.orderQty, orderType=o.orderType, price=o.price,
            stopPrice=o.stopPrice, timeInForce=o.timeInForce, isAutomated=self.isAutomated, text=o.text,
            pegDifference=o.pegDifference,
        )  # fmt: skip


class ModifyOrderBody(_Body):
    orderId: int
    clOrdId: str | None = Field(default=None, max_length=64)
    orderQty: int
    orderType: WireOrderType
    price: float | None = None
    stopPrice: float | None = None
    timeInForce: str | None = None
    maxShow: int | None = None
    pegDifference: float | None = None
    expireTime: str | None = None


class CancelOrderBody(_Body):
    orderId: int
    clOrdId: str | None = Field(default=None, max_length=64)


class LiquidateBody(_Body):
    accountId: int
    contractId: int
    admin: bool = False


ORDER_BODIES: dict[str, type[_Body]] = {
    "order/placeorder": PlaceOrderBody,
    "order/placeoco": PlaceOcoBody,
    "order/modifyorder": ModifyOrderBody,
    "order/cancelorder": CancelOrderBody,
    "order/liquidateposition": LiquidateBody,
}


def bad_body(endpoint: str, exc: ValidationError) -> tuple[int, Any]:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "(body)"
    return 400, {"errorText": f"{endpoint}: field {where!r}: {err['msg']}"}


def failure(reason: str, text: str, **extra: Any) -> dict[str, Any]:
    return {"failureReason": reason, "failureText": text, **extra}
