"""The market-data source contract, beside the broker contract of :mod:`adapters.base`.

A source gives the market's quote of a contract at the moment a leader's event is read (slippage
against the market) and marks for unrealised P&L. It carries quotes, never orders.

=====================  ===========================================================
connect / disconnect   open and close the feed; reconnect and resubscribe inside
subscribe(symbols)     copytui's symbols (ES, MNQ); safe to call again with more
quote(symbol)          the latest :class:`Quote`, or None: a dict lookup, never waits
stale(symbol, now_ns)  True when no quote, an old one, or the feed is down
health()               the feed's :class:`~adapters.base.Health`, as brokers report it
=====================  ===========================================================

``quote`` and ``stale`` are plain synchronous lookups because the copy path calls them at the
moment a leader event is read: copying never waits on market data. A quote older than
``stale_after_ms``, or any quote while the feed is down, is reported stale so that an old price is
never passed off as live.

A source declares itself with a :class:`MarketDataSpec` under the ``copytui.marketdata`` entry
point group, as a broker does with :class:`~adapters.base.AdapterSpec`.
"""

from __future__ import annotations

import abc
import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from adapters.base import AdapterSpec, AuthFailed, Health, HealthState, SecretField
from adapters.kit import Backoff, TaskGroup


@dataclass(frozen=True, slots=True, kw_only=True)
class Quote:
    """The market of one of copytui's symbols as a feed last told it."""

    symbol: str
    """copytui's symbol (ES), not the feed's (/ESZ26:XCME)."""
    bid: float | None = None
    ask: float | None = None
    last: float | None = None
    bid_size: float | None = None
    ask_size: float | None = None
    event_ms: int | None = None
    """The feed's own time of the event (Unix ms), None when the feed gave none."""
    received_ns: int
    """``time.monotonic_ns()`` when it was decoded: what its age is measured from."""

    def age_ms(self, now_ns: int) -> float:
        """How old the quote is at ``now_ns`` (``time.monotonic_ns()``), in milliseconds."""
        return (now_ns - self.received_ns) / 1e6


class MarketDataSource(abc.ABC):
    """One feed of quotes for copytui's symbols. Subclasses run the wire and hand each decoded
    quote to :meth:`_store`; the lookups below are the same for every source."""

    source: str = "abstract"
    """The kind of source (``dxfeed``): what its spec is registered as."""

    def __init__(self, name: str, stale_after_ms: float) -> None:
        self.name = name
        self.stale_after_ms = stale_after_ms
        self._health = Health()
        self._quotes: dict[str, Quote] = {}

    @abc.abstractmethod
    async def connect(self) -> None:
        """Start the feed. Copying must not wait on it: a source keeps retrying in the background
        and tells how it stands through :meth:`health`."""

    @abc.abstractmethod
    async def disconnect(self) -> None: ...

    @abc.abstractmethod
    async def subscribe(self, symbols: Iterable[str]) -> None:
        """Quotes for these copytui symbols from now on, added to those asked before. A symbol the
        source cannot map is a ValueError that says which one and how to fix it."""

    def quote(self, symbol: str) -> Quote | None:
        """The latest quote of ``symbol``; never blocks (see :meth:`stale` before trusting it)."""
        return self._quotes.get(symbol)

    def stale(self, symbol: str, now_ns: int) -> bool:
        """True unless a quote of ``symbol`` arrived within ``stale_after_ms`` of ``now_ns`` while
        the feed is up."""
        return bool(self.staleness(symbol, now_ns))

    def staleness(self, symbol: str, now_ns: int) -> str:
        """Why the quote of ``symbol`` is not live at ``now_ns`` (for the desk); "" when it is."""
        quote = self._quotes.get(symbol)
        if quote is None:
            return f"no quote of {symbol} yet"
        if not self._health.connected:
            return f"{self.name} feed is {self._health.state.value}"
        age = quote.age_ms(now_ns)
        if age > self.stale_after_ms:
            return f"last quote of {symbol} is {age / 1000:.1f}s old (stale after {self.stale_after_ms / 1000:g}s)"
        return ""

    def health(self) -> Health:
        return self._health

    def _store(self, quote: Quote) -> None:
        """The one writer of the quotes: a subclass calls it for each quote it decoded."""
        self._quotes[quote.symbol] = quote


class SessionSource(MarketDataSource):
    """A source that is one session (a socket) after another until :meth:`disconnect`: the first
    session's outcome is :meth:`connect`'s; a refused login (AuthFailed) stops the sessions, since
    the same secret would be refused again; anything else is the feed lost, opened again after a
    :class:`~adapters.kit.Backoff` delay. Subclasses write :meth:`_session` and, where they differ,
    the hooks below."""

    label = "feed"
    """How log lines name the source's kind ("dxFeed")."""
    log = logging.getLogger("copytui.adapters.marketdata")
    quiet: tuple[type[BaseException], ...] = (OSError, TimeoutError)
    """Losses expected of a network feed: logged as a warning, without a traceback."""

    def __init__(self, name: str, stale_after_ms: float, backoff: Backoff) -> None:
        super().__init__(name, stale_after_ms)
        self._tasks = TaskGroup()
        self._backoff = backoff
        self._runner: asyncio.Task[None] | None = None
        self._first: asyncio.Future[None] | None = None
        self._closing = False

    async def connect(self) -> None:
        """Start the sessions and wait for the first one's outcome: a refused login raises
        AuthFailed; an unreachable feed does not: it is retried in the background (``health()``)."""
        if self._runner is not None and not self._runner.done():
            return
        self._closing = False
        self._first = asyncio.get_running_loop().create_future()
        self._runner = self._tasks.spawn(self._run(), f"{self.source}-{self.name}")
        await asyncio.shield(self._first)

    async def _stop_sessions(self) -> None:
        self._closing = True
        await self._tasks.cancel_all()
        self._runner = None
        self._health.down(HealthState.DISCONNECTED, "disconnected")

    @property
    def _started(self) -> bool:
        """The first session's outcome is known (a later session is a reconnect)."""
        return self._first is not None and self._first.done()

    @abc.abstractmethod
    async def _session(self) -> None:
        """One session, from opening the socket until it ends (by returning or raising)."""

    def _describe(self, exc: BaseException) -> str:
        """What the health note says of a lost session (a subclass removes its secrets here)."""
        return str(exc) or type(exc).__name__

    def _lost(self, exc: BaseException) -> bool:
        """After a lost session, before the backoff: False when connect() must wait for the next one."""
        return True

    def _ended(self) -> None:
        """After every session, lost or not: forget what belonged to its socket."""

    async def _run(self) -> None:
        while not self._closing:
            try:
                await self._session()
            except AuthFailed as exc:
                self.log.error("%s %s: %s", self.label, self.name, exc)
                self._health.down(HealthState.AUTH_FAILED, str(exc))
                self._settle(exc)
                return
            except Exception as exc:
                if self._closing:
                    return
                why = self._describe(exc)
                if not isinstance(exc, self.quiet):
                    self.log.exception("%s %s: the session failed", self.label, self.name)
                    why = f"{type(exc).__name__}: {why}"
                self.log.warning("%s %s: feed down: %s", self.label, self.name, why)
                self._health.lost(why)
                if self._lost(exc):
                    self._settle(None)
            finally:
                self._ended()
            await asyncio.sleep(self._backoff.next())

    def _settle(self, exc: BaseException | None) -> None:
        """The first session's outcome is ``connect()``'s."""
        first = self._first
        if first is None or first.done():
            return
        if exc is None:
            first.set_result(None)
        else:
            first.set_exception(exc)


SecretLookup = Callable[[str], str | None]
"""``secret(field)``: one of the source's secrets from the keyring (``"token"``), None if not stored.
It may block on D-Bus for a few milliseconds: a source calls it while connecting, never per quote."""

SourceFactory = Callable[[str, Mapping[str, Any], SecretLookup], MarketDataSource]
"""``create_source(name, options, secret)``: the source named ``name`` in the config, its raw
``options:`` mapping (validated by the source through its options model) and its secrets."""


@dataclass(frozen=True)
class MarketDataSpec:
    """Everything copytui needs to know about a market-data source, declared by the source's own
    package under the ``copytui.marketdata`` entry point group. The targets are ``module:name``
    strings imported only when used, as in :class:`~adapters.base.AdapterSpec`."""

    name: str
    factory: str
    """``module:callable`` of a :data:`SourceFactory`."""
    options: str | None = None
    """``module:Model``: the pydantic model of the source's ``options:`` (unknown keys refused)."""
    secrets: tuple[SecretField, ...] = ()
    """What ``copytui accounts add`` asks for and keeps in the keyring (a feed token)."""
    simulator: str | None = None
    """``module:callable`` serving the source's wire protocol on 127.0.0.1 until Ctrl-C."""
    summary: str = ""
    """One line for help texts."""

    @staticmethod
    def load(target: str) -> Any:
        """The object a ``module:name`` target names."""
        return AdapterSpec.load(target)
