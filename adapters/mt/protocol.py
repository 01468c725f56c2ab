"""The copytui bridge protocol, version 1, between copytui's bridge server and the Expert Advisor
in a MetaTrader terminal (``adapters/mt/mql/``), which dials it: MQL sockets can only connect out.

Newline-delimited JSON over TCP, UTF-8, one object per line, at most :data:`MAX_LINE` bytes. Every
message carries ``seq``: the sender's own count, 1 on the first message of each connection, one
more on each next one, so either side sees a lost or garbled line as a gap. The session:

1. copytui sends ``challenge`` (its protocol version and a fresh nonce);
2. the terminal answers ``hello``: version, account (login, server, company, currency, hedging or
   netting), its Market Watch symbols with their volume limits, and ``proof``: the hex HMAC-SHA256
   of ``"<nonce>:<login>"`` keyed with the account's shared token (the token itself never crosses
   the wire, and a recorded hello is useless on the next connection);
3. copytui answers ``welcome`` (session id, heartbeat interval) or ``refused`` (why) and closes.

Then copytui sends requests (``type: req`` with ``op``), the terminal answers each with ``reply``
(``re``: the request's seq, ``ok``, MetaTrader's ``retcode``); the terminal sends ``order`` and
``deal`` events, which copytui acknowledges with ``ack`` (``upto``: the highest event seq read). The
terminal keeps unacknowledged events and sends them again after its next welcome (``replay``).
Either side sends ``hb`` when it has sent nothing for a heartbeat interval, and closes the
connection after three intervals of silence from the other.

Messages from copytui are flat objects of scalars, so the EA's JSON reader stays small; the
terminal's messages nest (symbol lists, rows). Volumes are lots, prices the terminal's own.
Every message is validated (:mod:`adapters.mt.wire` reads and writes the lines): unknown fields
and impossible values are refused.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

VERSION = 1
MAX_LINE = 1 << 20
"""The longest line either side accepts (a hello with a large Market Watch fits)."""
COMMENT_MAX = 31
"""MetaTrader's order comment limit."""
MAX_TICKET = 2**63 - 1

Ticket = Annotated[int, Field(ge=0, le=MAX_TICKET)]
Price = Annotated[float, Field(ge=0, allow_inf_nan=False)]
"""0 means none (MetaTrader's own convention for an unset price, SL or TP)."""
Lots = Annotated[float, Field(gt=0, le=1e9, allow_inf_nan=False)]
SideName = Literal["buy", "sell"]
Kind = Literal["market", "limit", "stop", "stop_limit"]
OrderState = Literal["placed", "partial", "filled", "cancelled", "rejected", "expired"]
Entry = Literal["in", "out", "inout", "out_by"]
Platform = Literal["mt5", "mt4"]

_WIRE = ConfigDict(frozen=True, extra="forbid")


class Message(BaseModel):
    model_config = _WIRE

    seq: int = Field(default=0, ge=0, le=MAX_TICKET)
    """Set by the sending link; 0 only on a message not yet sent."""


# ------------------------------------------------------------------ terminal -> copytui
class SymbolInfo(BaseModel):
    """One Market Watch symbol as the terminal trades it."""

    model_config = _WIRE

    name: str = Field(min_length=1, max_length=64)
    # 0 where a symbol is not tradable: refused when copytui maps it, never the whole hello
    volume_min: float = Field(ge=0, le=1e9, allow_inf_nan=False)
    volume_max: float = Field(ge=0, le=1e9, allow_inf_nan=False)
    volume_step: float = Field(ge=0, le=1e9, allow_inf_nan=False)
    tick_size: float = Field(ge=0, allow_inf_nan=False)
    digits: int = Field(ge=0, le=12)
    contract_size: float = Field(ge=0, allow_inf_nan=False)


class Hello(Message):
    type: Literal["hello"] = "hello"
    v: int = Field(ge=1)
    platform: Platform
    build: int = Field(ge=0)
    ea: str = Field(max_length=64)
    login: int = Field(gt=0, le=MAX_TICKET)
    server: str = Field(max_length=128)
    company: str = Field(max_length=128)
    currency: str = Field(max_length=16)
    mode: Literal["hedging", "netting"]
    trade_allowed: bool
    """Algo trading allowed in the terminal, for this EA and for the account."""
    time_ms: int = Field(ge=0, le=MAX_TICKET)
    """The trade server's time now (its own time zone): the clock of every ``time_ms`` after."""
    last_deal: Ticket = 0
    """The newest deal in the terminal's history now (0: none): what happened before this session."""
    last_deal_ms: int = Field(default=0, ge=0, le=MAX_TICKET)
    proof: str = Field(pattern=r"^[0-9a-f]{64}$")
    symbols: list[SymbolInfo] = Field(max_length=5000)


class OrderRow(BaseModel):
    """An order as the terminal reports it: working, or from its history."""

    model_config = _WIRE

    ticket: Ticket = Field(gt=0)
    symbol: str = Field(min_length=1, max_length=64)
    side: SideName
    kind: Kind
    volume: Lots
    """The order's initial volume."""
    filled: float = Field(ge=0, allow_inf_nan=False)
    price: Price = 0.0
    """Limit price (limit, stop_limit)."""
    stop: Price = 0.0
    """Trigger price (stop, stop_limit)."""
    sl: Price = 0.0
    tp: Price = 0.0
    avg_price: Price = 0.0
    """Average price of what filled (0: nothing)."""
    magic: int = Field(default=0, ge=0, le=MAX_TICKET)
    comment: str = Field(default="", max_length=64)
    position: Ticket = 0
    """The position this order closes (hedging), 0 when it opens one."""
    state: OrderState
    time_ms: int = Field(default=0, ge=0, le=MAX_TICKET)
    reason: str = Field(default="", max_length=256)


class DealRow(BaseModel):
    """One execution (MetaTrader's deal), with what copytui needs to place it in its order."""

    model_config = _WIRE

    ticket: Ticket = Field(gt=0)
    order: Ticket = Field(gt=0)
    position: Ticket = 0
    symbol: str = Field(min_length=1, max_length=64)
    side: SideName
    entry: Entry
    volume: Lots
    price: float = Field(gt=0, allow_inf_nan=False)
    time_ms: int = Field(ge=0, le=MAX_TICKET)
    magic: int = Field(default=0, ge=0, le=MAX_TICKET)
    comment: str = Field(default="", max_length=64)
    order_volume: Lots
    """The deal's order's initial volume."""
    order_filled: Lots
    """The order's volume filled up to and including this deal."""
    net: float | None = Field(default=None, allow_inf_nan=False)
    """Signed lots held in the symbol right after this deal (live events only)."""
    net_price: Price | None = None


class PositionRow(BaseModel):
    model_config = _WIRE

    ticket: Ticket = Field(gt=0)
    symbol: str = Field(min_length=1, max_length=64)
    side: SideName
    volume: Lots
    price: float = Field(gt=0, allow_inf_nan=False)
    sl: Price = 0.0
    tp: Price = 0.0
    profit: float = Field(default=0.0, allow_inf_nan=False)
    magic: int = Field(default=0, ge=0, le=MAX_TICKET)
    comment: str = Field(default="", max_length=64)
    time_ms: int = Field(default=0, ge=0, le=MAX_TICKET)


class Reply(Message):
    type: Literal["reply"] = "reply"
    re: int = Field(ge=1, le=MAX_TICKET)
    ok: bool
    retcode: int
    message: str = Field(default="", max_length=512)
    order: Ticket = 0
    """The first order the request made (place, close)."""
    orders: list[Ticket] = Field(default_factory=list, max_length=1000)
    """Every order the request made, in the order sent (a hedging place closes before it opens)."""
    deal: Ticket = 0
    positions: list[PositionRow] | None = Field(default=None, max_length=100_000)
    pending: list[OrderRow] | None = Field(default=None, max_length=100_000)
    deals: list[DealRow] | None = Field(default=None, max_length=100_000)
    found: list[OrderRow] | None = Field(default=None, max_length=100_000)
    more: bool = False
    """``deals``: the answer stopped at the request's limit; ask again after its last deal."""


class OrderEvent(Message):
    type: Literal["order"] = "order"
    replay: bool = False
    order: OrderRow


class DealEvent(Message):
    type: Literal["deal"] = "deal"
    replay: bool = False
    deal: DealRow


class Heartbeat(Message):
    type: Literal["hb"] = "hb"


TerminalMessage = Annotated[Hello | Reply | OrderEvent | DealEvent | Heartbeat, Field(discriminator="type")]


# ------------------------------------------------------------------ copytui -> terminal
class Challenge(Message):
    type: Literal["challenge"] = "challenge"
    v: int = VERSION
    nonce: str = Field(pattern=r"^[0-9a-f]{32}$")


class Welcome(Message):
    type: Literal["welcome"] = "welcome"
    session: str = Field(pattern=r"^[0-9a-f]{16}$")
    heartbeat_s: float = Field(gt=0, le=300)


class Refused(Message):
    type: Literal["refused"] = "refused"
    reason: str = Field(max_length=512)


class Ack(Message):
    type: Literal["ack"] = "ack"
    upto: int = Field(ge=1, le=MAX_TICKET)


class Request(Message):
    type: Literal["req"] = "req"


class Place(Request):
    op: Literal["place"] = "place"
    symbol: str = Field(min_length=1, max_length=64)
    side: SideName
    kind: Kind
    volume: Lots
    price: Price = 0.0
    stop: Price = 0.0
    sl: Price = 0.0
    tp: Price = 0.0
    comment: str = Field(max_length=COMMENT_MAX)
    magic: int = Field(ge=0, le=2**31 - 1)
    deviation: int = Field(ge=0, le=100_000)
    """Market orders: the worst price, in points from the quote, the terminal may accept."""
    reduce_first: bool = False
    """Hedging accounts: close opposite positions of the symbol first (oldest first), then open
    what is left, all under this comment and magic."""


class Modify(Request):
    op: Literal["modify"] = "modify"
    ticket: Ticket = Field(gt=0)
    price: Price = 0.0
    stop: Price = 0.0
    sl: Price = 0.0
    tp: Price = 0.0


class Cancel(Request):
    op: Literal["cancel"] = "cancel"
    ticket: Ticket = Field(gt=0)


class Close(Request):
    op: Literal["close"] = "close"
    position: Ticket = Field(gt=0)
    volume: float = Field(ge=0, allow_inf_nan=False)
    """0 closes the whole position; less closes part of it."""
    comment: str = Field(default="", max_length=COMMENT_MAX)
    magic: int = Field(default=0, ge=0, le=2**31 - 1)
    deviation: int = Field(default=0, ge=0, le=100_000)


class SlTp(Request):
    op: Literal["sltp"] = "sltp"
    position: Ticket = Field(gt=0)
    sl: Price = 0.0
    tp: Price = 0.0


class Positions(Request):
    op: Literal["positions"] = "positions"
    symbol: str = Field(default="", max_length=64)


class Orders(Request):
    op: Literal["orders"] = "orders"
    symbol: str = Field(default="", max_length=64)


class Deals(Request):
    op: Literal["deals"] = "deals"
    after_ms: int = Field(ge=0, le=MAX_TICKET)
    after_ticket: Ticket = 0
    limit: int = Field(default=500, ge=1, le=5000)


class Find(Request):
    op: Literal["find"] = "find"
    comment: str = Field(max_length=COMMENT_MAX)
    magic: int = Field(ge=0, le=2**31 - 1)
    since_ms: int = Field(ge=0, le=MAX_TICKET)


class Flatten(Request):
    op: Literal["flatten"] = "flatten"
    symbol: str = Field(default="", max_length=64)
    deviation: int = Field(default=0, ge=0, le=100_000)


def _copytui_tag(value: Any) -> str | None:
    if isinstance(value, dict):
        kind = value.get("type")
        return str(value.get("op")) if kind == "req" else (str(kind) if kind is not None else None)
    return getattr(value, "op", None) or getattr(value, "type", None)


CopytuiMessage = Annotated[
    Annotated[Challenge, Tag("challenge")]
    | Annotated[Welcome, Tag("welcome")]
    | Annotated[Refused, Tag("refused")]
    | Annotated[Ack, Tag("ack")]
    | Annotated[Heartbeat, Tag("hb")]
    | Annotated[Place, Tag("place")]
    | Annotated[Modify, Tag("modify")]
    | Annotated[Cancel, Tag("cancel")]
    | Annotated[Close, Tag("close")]
    | Annotated[SlTp, Tag("sltp")]
    | Annotated[Positions, Tag("positions")]
    | Annotated[Orders, Tag("orders")]
    | Annotated[Deals, Tag("deals")]
    | Annotated[Find, Tag("find")]
    | Annotated[Flatten, Tag("flatten")],
    Discriminator(_copytui_tag),
]
