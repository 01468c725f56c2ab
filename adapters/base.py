"""The BrokerAdapter contract every broker implements, its capability flags and error tree.

Required methods (an adapter is incomplete without them):

=====================  ===========================================================
connect / disconnect   open and close the session; renew tokens; reconnect inside
subscribe()            async iterator of AccountEvent for the adapter's account
place                  send a new order; never retried blindly (invariant 4)
cancel                 cancel a working order by client order id / broker id
positions              broker-reported net positions, for reconciliation
open_orders            broker-reported working orders
find_order             look an order up by client order id (crash recovery)
fills_since            fills after a cursor, for gap recovery
flatten                cancel working orders and close positions
health                 connection state for the desk
=====================  ===========================================================

Optional (flagged in :class:`Capabilities`): ``modify`` (without it the engine cancels and
re-places), brackets.
"""

from __future__ import annotations

import abc
import enum
import functools
import hashlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from copytui.models import AccountEvent, FollowerOrder, OrderAck, OrderInfo, Position


class BrokerError(Exception):
    """Anything a broker answered that is not success. Messages never carry secrets."""

    retryable: ClassVar[bool] = False


class AuthFailed(BrokerError):
    pass


class RateLimited(BrokerError):
    retryable = True

    def __init__(self, message: str, retry_after_s: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class OrderRejected(BrokerError):
    def __init__(self, message: str, client_order_id: str | None = None) -> None:
        super().__init__(message)
        self.client_order_id = client_order_id


class Disconnected(BrokerError):
    retryable = True


class AmbiguousOutcome(BrokerError):
    """The request may or may not have reached the broker: ask by client order id."""


@dataclass(frozen=True, slots=True)
class Capabilities:
    modify: bool = True
    brackets: bool = False
    oco_orders: bool = False
    """The broker takes an OCO pair in one request (``BrokerAdapter.place_oco``) and cancels the
    other leg itself when one fills: a mirrored bracket's two legs that the leader's broker announces
    together are sent to it so, and copytui does not keep that pair itself (it still keeps a pair
    whose legs came apart, or whose request was refused)."""
    trailing_stops: bool = False
    """The broker keeps a trailing stop itself (``OrderType.TRAILING_STOP`` with its ``trail``); a
    leader's trailing stop is copied to one that does not as a stop that follows the leader's moves."""
    client_ids: bool = True
    client_id_max_len: int = 32
    client_id_charset: str = "0123456789abcdefghijklmnopqrstuvwxyz"
    order_ids_restart: bool = False
    """The broker's order ids are unique only within a session or a counterparty's process (FIX's
    OrderID): a leader's orders are then known by client order id and order id together
    (DESIGN.md invariant 12), so a restarted counterparty's order 1 is not the previous one's."""


class HealthState(enum.StrEnum):
    """Where an adapter's session stands. A ``StrEnum``: the desk shows the value as is."""

    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    AUTH_FAILED = "auth failed"
    STOPPED = "stopped"
    """The broker said not to come back (a forced logout, a refused session): no retry."""


@dataclass(slots=True)
class Health:
    """An adapter's connection state, read by the engine and the desk. Changed only through the
    methods below, so every adapter reports the same states the same way."""

    state: HealthState = HealthState.DISCONNECTED
    detail: str = ""
    last_event_wall_ns: int = 0
    reconnects: int = 0
    dropped: int = 0
    """Frames or events refused at the adapter's edge (unreadable, impossible, unknown): the
    engine journals and alerts each increase, so nothing vanishes with only a log line."""
    last_dropped: str = ""
    """Why the latest one was refused (no secret in it)."""

    @property
    def connected(self) -> bool:
        return self.state is HealthState.CONNECTED

    def connecting(self, detail: str = "") -> None:
        self.state, self.detail = HealthState.CONNECTING, detail

    def up(self, detail: str = "") -> None:
        """The session is open (again): orders and events flow."""
        self.state, self.detail = HealthState.CONNECTED, detail

    def reconnected(self) -> None:
        """A lost session is back: counted, then up."""
        self.reconnects += 1
        self.up()

    def lost(self, reason: str) -> None:
        """The session dropped and the adapter is coming back by itself."""
        self.state, self.detail = HealthState.RECONNECTING, reason

    def down(self, state: HealthState = HealthState.DISCONNECTED, detail: str = "") -> None:
        """Closed, refused or stopped: nothing flows until ``connect`` is called again."""
        self.state, self.detail = state, detail

    def note(self, detail: str) -> None:
        """What the desk shows beside the state (a refused frame, a failed renewal), state unchanged."""
        self.detail = detail

    def seen(self) -> None:
        """An event arrived now (the desk shows how long ago the last one did)."""
        self.last_event_wall_ns = time.time_ns()

    def drop(self, why: str) -> None:
        self.dropped += 1
        self.last_dropped = why


def fit_client_id(key: str, caps: Capabilities, prefix: str = "ct") -> str:
    """A deterministic client order id for ``key``, fitted to the broker's length and charset."""
    return client_id_fitter(caps.client_id_max_len, caps.client_id_charset, prefix)(key)


@functools.lru_cache(maxsize=64)
def client_id_fitter(max_len: int, charset: str, prefix: str = "ct") -> Callable[[str], str]:
    """``fit_client_id`` for one broker's limits, with all that does not depend on the key worked
    out once: the engine holds one per follower and calls it for every order on the hot path."""
    size = min(64, max(len(prefix) + 8, max_len))
    table = _byte_table(charset)
    blake2b = hashlib.blake2b

    def fit(key: str) -> str:
        # 8+ characters from a 32+ symbol alphabet: collisions are out of reach within a journal
        return (prefix + blake2b(key.encode(), digest_size=size).digest().translate(table).decode("ascii"))[:max_len]

    return fit


@functools.lru_cache(maxsize=16)
def _byte_table(charset: str) -> bytes:
    """Byte b -> ``charset[b % len(charset)]``, for ``bytes.translate`` (the hot path's client ids)."""
    n = len(charset)
    return bytes(ord(charset[b % n]) for b in range(256))


class BrokerAdapter(abc.ABC):
    """One connection to one broker account."""

    broker: ClassVar[str] = "abstract"
    capabilities: ClassVar[Capabilities] = Capabilities()

    def __init__(self, account: str) -> None:
        self.account = account
        self.health = Health()

    @property
    def account_key(self) -> str:
        """Names this broker account for the one-controller lease (invariant 6) and for refusing
        two followers on one account: the same account gives the same key however it is aliased."""
        return f"{self.broker}-{self.account}"

    def keeps_oco(self, group: str) -> bool:
        """Whether the broker itself keeps follower OCO group ``group`` now (a filled leg cancels the
        other there), so copytui need not. Default: what ``capabilities.brackets`` says; an adapter
        that links a group only after its legs are placed says False until the link is confirmed,
        and for a group whose link failed: copytui then keeps that group itself."""
        return self.capabilities.brackets

    @property
    def process_local(self) -> bool:
        """True when the account lives inside this process (the paper exchange, an embedded
        simulator): no other process can reach it, so it needs no lease across processes."""
        return False

    @abc.abstractmethod
    async def connect(self) -> None: ...

    @abc.abstractmethod
    async def disconnect(self) -> None: ...

    @abc.abstractmethod
    def subscribe(self) -> AsyncIterator[AccountEvent]:
        """Events of this account, forever; ends only on disconnect."""

    @abc.abstractmethod
    async def place(self, order: FollowerOrder) -> OrderAck: ...

    async def place_oco(self, first: FollowerOrder, second: FollowerOrder) -> tuple[OrderAck, OrderAck]:
        """Place two working orders of one OCO group (``first.oco_group``) as one OCO pair, in one
        request (``Capabilities.oco_orders``). Answers one ack per leg, in order; a pair the broker
        refused is two REJECTED acks. Raises as ``place`` does, for both legs: Disconnected,
        RateLimited, AuthFailed or OrderRejected (neither leg was sent), AmbiguousOutcome or a
        timeout (either leg may be at the broker: copytui asks by client id)."""
        raise BrokerError(f"{self.broker} cannot place OCO pairs")

    async def modify(self, order: FollowerOrder) -> OrderAck:
        raise BrokerError(f"{self.broker} cannot modify orders")

    @abc.abstractmethod
    async def cancel(self, order: FollowerOrder) -> OrderAck: ...

    @abc.abstractmethod
    async def positions(self) -> list[Position]: ...

    @abc.abstractmethod
    async def open_orders(self) -> list[OrderInfo]: ...

    @abc.abstractmethod
    async def find_order(self, client_order_id: str) -> OrderInfo | None: ...

    @abc.abstractmethod
    async def fills_since(self, cursor: str | None) -> tuple[list[AccountEvent], str | None]:
        """Fills after ``cursor`` (None: the session's start) and the cursor to use next."""

    @abc.abstractmethod
    async def flatten(self, symbol: str | None = None) -> None: ...


@dataclass
class AdapterContext:
    """What a factory may need beyond the account's config: shared in-process services.

    ``secret("ACCOUNT:FIELD")`` reads one secret of a configured account from the OS keyring
    (e.g. ``"lead:password"``, ``"topstep1:api_key"``); None when it is not stored. It blocks on
    D-Bus for a few milliseconds: call it while connecting, never on the order path."""

    paper_exchange: Any = None
    secret: Callable[[str], str | None] = field(default=lambda _key: None)
    data_dir: str = ""


AdapterFactory = Callable[[Any, AdapterContext], BrokerAdapter]


@dataclass(frozen=True)
class SecretField:
    """One secret an account of a broker needs, kept in the OS keyring."""

    field: str
    """Key suffix in the keyring and the name adapters ask for (``NAME:FIELD``)."""
    label: str
    """What the prompt asks for."""
    required: bool = True


UNDECLARED_SECRETS = (SecretField("password", "password (optional, Enter to skip)", required=False),)
"""What a broker that declares nothing (a bare factory entry point) is asked for."""


@dataclass(frozen=True)
class AdapterSpec:
    """Everything copytui needs to know about a broker, declared by the broker's own package and
    registered under the ``copytui.adapters`` entry point: copytui keeps no list of brokers.

    The targets are ``module:function`` strings, imported only when used, so that reading the
    declaration never needs a broker's optional packages (``requires`` says which, and how to
    install them)."""

    name: str
    factory: str
    """``module:function(account_config, AdapterContext) -> BrokerAdapter``."""
    options: str | None = None
    """``module:Model``: the pydantic model of an account's ``options:`` mapping (snake_case keys,
    unknown keys refused), so ``copytui config check`` and the docs read one declaration."""
    secrets: tuple[SecretField, ...] = ()
    """What ``copytui accounts add`` asks for, in this order; the first is stored under the
    account's own name, the others under ``NAME:FIELD``."""
    simulator: str | None = None
    """``module:function(port, accounts, seed, *, faults, audit)`` for ``copytui sim NAME``:
    serves the broker's wire protocol on 127.0.0.1 until Ctrl-C."""
    bench: str | None = None
    """``module:function(names)``: an async context manager yielding (configs, secret lookup) for
    ``copytui bench`` (see copytui/bench/brokers.py)."""
    requires: tuple[tuple[str, str], ...] = ()
    """(module to import, how to install it): what ``copytui doctor`` checks."""
    summary: str = ""
    """One line for help texts."""

    @staticmethod
    def load(target: str) -> Any:
        """The object a ``module:function`` target names."""
        import importlib

        module, _, attr = target.partition(":")
        return getattr(importlib.import_module(module), attr)
