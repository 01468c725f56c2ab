"""Tradovate's own market data as a :class:`~adapters.marketdata.MarketDataSource`: marks and
quotes for a trader who has Tradovate but no dxFeed.

A session logs in over REST (``auth/accesstokenrequest``, the same login and penalty handling as the
broker adapter: :class:`~adapters.tradovate.auth.TokenManager`), keeps the answer's
``mdAccessToken``, opens the md WebSocket, ``authorize``s it with that token and sends
``md/subscribeQuote {"symbol": NAME}`` for each contract: the one pinned in ``options.contracts``,
else the front one ``contract/suggest`` offers. ``md`` events carry quotes by ``contractId``, with
``Bid`` / ``Offer`` / ``Trade`` entries (an entry left out keeps its last value). ``[]`` goes out
every ``heartbeat_s``; nothing at all for ``idle_timeout_s`` ends the session, which is opened again
after a backoff delay and subscribes again. A refused login, or an md token refused twice (after a
fresh login), stops the source: health "auth failed", no retry. Secrets come from the keyring at
each login (fields ``password`` and ``sec``) and never appear in notes or logs.

Tradovate's docs say market data over the API needs a CME market-data subvendor status on the
account; without it md requests are refused, which the health note shows.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

import aiohttp
from pydantic import ValidationError

from adapters.base import AuthFailed, BrokerError, RateLimited, SecretField
from adapters.kit import Backoff, repeat_forever
from adapters.kit.options import option_problem
from adapters.marketdata import MarketDataSpec, Quote, SessionSource
from adapters.tradovate.auth import Login, Token, TokenManager
from adapters.tradovate.entities import is_contract_of
from adapters.tradovate.frames import HEARTBEAT, FrameError, Response, classify, encode_request, parse_server_frame
from adapters.tradovate.md_options import MD_URLS, TradovateMdOptions
from adapters.tradovate.rest import Http
from adapters.tradovate.settings import HOSTS, TradovateOptions
from copytui.instruments import INSTRUMENTS

log = logging.getLogger("copytui.adapters.tradovate.md")


class MdTokens(TokenManager):
    """The broker's token upkeep, keeping the ``mdAccessToken`` each login answer carries too."""

    md_token: str | None = None

    def _token_from(self, data: Any, what: str) -> Token:
        token = super()._token_from(data, what)
        md = data.get("mdAccessToken")
        if isinstance(md, str) and md:
            self.md_token = md
        return token


class SessionLost(Exception):
    pass


class TokenRefused(SessionLost):
    """The md socket refused the token once: one fresh login is tried before giving up."""


class TradovateMarketData(SessionSource):
    source = "tradovate"
    label = "tradovate md"
    log = log
    quiet = (SessionLost, BrokerError, FrameError, OSError, TimeoutError, aiohttp.ClientError)

    def __init__(self, name: str, opts: TradovateMdOptions, secret: Callable[[str], str | None]) -> None:
        super().__init__(name, opts.stale_after_ms, Backoff(opts.reconnect_delay_s, opts.reconnect_max_s))
        self.opts = opts
        env = opts.environment if opts.environment != "sim" else "demo"
        self.http = Http(opts.rest_url or f"https://{HOSTS[env]}/v1", opts.request_timeout_s)
        device = opts.device_id or str(
            uuid.uuid5(uuid.NAMESPACE_URL, f"copytui:{socket.gethostname()}:{opts.username}")
        )
        login = Login(opts.username, opts.app_id, opts.app_version, opts.cid, device, secret, name)
        self.tokens = MdTokens(self.http, login, max_penalty_wait_s=opts.penalty_wait_max_s)
        self.md_url = opts.md_url or MD_URLS[env]
        self.names: dict[str, str] = TradovateOptions(contracts=opts.contracts).contract_pins()
        """copytui symbol -> the contract subscribed for it."""
        self._ids: dict[int, list[str]] = {}
        self._wanted: list[str] = []
        self._subscribed: set[str] = set()
        self._pending: dict[int, str] = {}
        self._request_ids = iter(range(1, 1 << 62))
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._refusals = 0

    # ------------------------------------------------------------ contract
    async def disconnect(self) -> None:
        self._closing = True
        if self._ws is not None:
            await self._ws.close()
        await self._stop_sessions()
        await self.http.close()

    async def subscribe(self, symbols: Iterable[str]) -> None:
        for root in symbols:
            if root not in INSTRUMENTS:
                raise ValueError(f"no Tradovate contract for {root!r}: copytui knows {', '.join(sorted(INSTRUMENTS))}")
            if root not in self._wanted:
                self._wanted.append(root)
        if self._ws is not None and self._health.connected:
            await self._subscribe_new(self._ws)

    # ------------------------------------------------------------ sessions
    def _lost(self, exc: BaseException) -> bool:
        if isinstance(exc, RateLimited):
            self._backoff.hold(min(exc.retry_after_s, self.opts.reconnect_max_s))
        return not isinstance(exc, TokenRefused)  # connect() waits for the fresh login's outcome

    def _ended(self) -> None:
        self._ws, self._subscribed, self._pending = None, set(), {}

    async def _session(self) -> None:
        if not self._started:
            self._health.connecting(self.md_url)
        token = await self.tokens.ensure()
        try:
            async with asyncio.timeout(self.opts.connect_timeout_s):
                ws = await self.http.open().ws_connect(self.md_url, autoping=True, max_msg_size=0)
                self._ws = ws
                try:
                    await self._authorize(ws, token)
                except BaseException:
                    await ws.close()
                    raise
        except TimeoutError:
            raise SessionLost(f"no answer from {self.md_url} within {self.opts.connect_timeout_s:g}s") from None
        except aiohttp.ClientError as exc:
            raise SessionLost(f"cannot open the md socket {self.md_url}: {exc}") from None
        beat = self._tasks.spawn(repeat_forever(self.opts.heartbeat_s, lambda: self._send(ws, HEARTBEAT)), "md-beat")
        try:
            if self._started:
                self._health.reconnected()
            else:
                self._health.up(f"Tradovate md {self.md_url}")
            self._backoff.reset()
            self._settle(None)
            await self._subscribe_new(ws)
            while True:
                msg = await ws.receive(timeout=self.opts.idle_timeout_s)
                if msg.type is not aiohttp.WSMsgType.TEXT:
                    raise SessionLost(f"the md socket closed ({msg.type.name})")
                self._frame(str(msg.data))
        except TimeoutError:
            raise SessionLost(f"nothing from the md socket in {self.opts.idle_timeout_s:g}s") from None
        finally:
            beat.cancel()
            await ws.close()

    async def _authorize(self, ws: aiohttp.ClientWebSocketResponse, token: Token) -> None:
        first = parse_server_frame(await _text(ws))
        if first.kind != "open":
            raise FrameError(f"expected the 'o' open frame first, got a {first.kind} frame")
        await ws.send_str(encode_request("authorize", 0, self.tokens.md_token or ""))
        while True:
            frame = parse_server_frame(await _text(ws))
            answer = next((r for r in map(classify, frame.items) if isinstance(r, Response) and r.id == 0), None)
            if answer is None:
                continue
            if answer.status == 200:
                self._refusals = 0
                return
            self._refusals += 1
            if self._refusals >= 2:
                raise AuthFailed(
                    f"Tradovate refused the market-data token of {self.opts.username} twice "
                    f"(HTTP {answer.status}): check that the login may use market data"
                )
            await self.tokens.relogin(token)  # a fresh login brings a fresh mdAccessToken
            raise TokenRefused(f"the md socket refused the token (HTTP {answer.status}): logging in again")

    async def _subscribe_new(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        for root in [r for r in self._wanted if r not in self._subscribed]:
            self._subscribed.add(root)  # before the lookup's await: a subscribe() meanwhile skips it
            try:
                contract = await self._contract(root)
            except BrokerError as exc:
                self._health.note(f"no quotes for {root} yet: contract lookup failed ({exc})")
                contract = None
            if contract is None:
                self._subscribed.discard(root)  # tried again by the next session
                continue
            name, contract_id = contract
            self.names[root] = name
            roots = self._ids.setdefault(contract_id, [])
            if root not in roots:
                roots.append(root)
            request_id = next(self._request_ids)
            self._pending[request_id] = root
            await self._send(ws, encode_request("md/subscribeQuote", request_id, {"symbol": name}))

    async def _contract(self, root: str) -> tuple[str, int] | None:
        """(name, id) of the contract quoted for ``root``: the pinned one (``contract/find``), else the
        front one ``contract/suggest`` offers; None, with a note, when there is none."""
        token = await self.tokens.ensure()
        pinned = self.names.get(root)
        if pinned is not None:
            answer = await self.http.call("GET", "contract/find", query={"name": pinned}, token=token.value)
            found = [answer.data] if answer.status == 200 else []
        else:
            answer = await self.http.call("GET", "contract/suggest", query={"t": root, "l": 10}, token=token.value)
            found = answer.data if answer.status == 200 and isinstance(answer.data, list) else []
        for item in found:
            name, contract_id = (item.get("name"), item.get("id")) if isinstance(item, dict) else (None, None)
            if isinstance(name, str) and isinstance(contract_id, int) and is_contract_of(name, root):
                return name, contract_id
        what = f"the pinned contract {pinned} is unknown to Tradovate" if pinned else "no front contract found"
        self._health.note(f"no quotes for {root}: {what} (HTTP {answer.status}); set options.contracts")
        return None

    async def _send(self, ws: aiohttp.ClientWebSocketResponse, text: str) -> None:
        if not ws.closed:
            try:
                await ws.send_str(text)
            except (ConnectionError, RuntimeError):
                pass  # the reader sees the end and says why

    # ------------------------------------------------------------ frames
    def _frame(self, text: str) -> None:
        now = time.monotonic_ns()
        try:
            frame = parse_server_frame(text)
            if frame.kind == "close":
                raise SessionLost(f"Tradovate closed the md socket ({frame.code}: {frame.reason})")
            items = [classify(item) for item in frame.items]
            quotes = [q for item in items for q in self._item(item, now)]
        except FrameError as exc:
            log.warning("tradovate md %s: frame refused: %s", self.name, exc)
            self._health.drop(str(exc))
            self._health.note(f"frame refused: {exc}")
            return
        for quote in quotes:
            self._store(quote)
        if quotes:
            self._health.seen()

    def _item(self, item: Response | Any, now: int) -> list[Quote]:
        if isinstance(item, Response):
            root = self._pending.pop(item.id, None)
            if root is not None and item.status != 200:
                self._subscribed.discard(root)
                self._health.note(
                    f"cannot subscribe {root} ({self.names.get(root)}): HTTP {item.status} {item.data!r:.80}"
                )
            return []
        if item.name == "shutdown":
            reason = item.data.get("reasonCode") if isinstance(item.data, dict) else item.data
            raise SessionLost(f"Tradovate shut the md socket down ({reason})")
        if item.name != "md":
            return []
        quotes = item.data.get("quotes") if isinstance(item.data, dict) else None
        if not isinstance(quotes, list):
            raise FrameError(f"md event without a quotes list: {item.data!r:.80}")
        return [q for raw in quotes for q in self._quotes_of(raw, now)]

    def _quotes_of(self, raw: Any, now: int) -> list[Quote]:
        if (
            not isinstance(raw, dict)
            or not isinstance(raw.get("contractId"), int)
            or not isinstance(raw.get("entries"), dict)
        ):
            raise FrameError(f"md quote needs an integer contractId and entries: {raw!r:.80}")
        roots = self._ids.get(raw["contractId"], [])  # another contract's quote: none of ours
        entries, out = raw["entries"], []
        event_ms = _millis(raw.get("timestamp"))
        for root in roots:
            prev = self._quotes.get(root) or Quote(symbol=root, received_ns=now)
            bid, bid_size = _entry(entries, "Bid", prev.bid, prev.bid_size)
            ask, ask_size = _entry(entries, "Offer", prev.ask, prev.ask_size)
            last, _ = _entry(entries, "Trade", prev.last, None)
            out.append(
                Quote(
                    symbol=root,
                    bid=bid,
                    ask=ask,
                    last=last,
                    bid_size=bid_size,
                    ask_size=ask_size,
                    event_ms=event_ms,
                    received_ns=now,
                )
            )
        return out


async def _text(ws: aiohttp.ClientWebSocketResponse) -> str:
    msg = await ws.receive()
    if msg.type is not aiohttp.WSMsgType.TEXT:
        raise SessionLost(f"the md socket closed while authorizing ({msg.type.name})")
    return str(msg.data)


def _entry(
    entries: Mapping[str, Any], name: str, price: float | None, size: float | None
) -> tuple[float | None, float | None]:
    """(price, size) of one entry; the previous values where the quote leaves it out."""
    entry = entries.get(name)
    if entry is None:
        return price, size
    if not isinstance(entry, dict):
        raise FrameError(f"md entry {name} is not an object: {entry!r:.60}")
    values = []
    for key, old in (("price", price), ("size", size)):
        value = entry.get(key, old)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise FrameError(f"md entry {name}.{key} is {value!r:.40}, not a number")
        values.append(None if value is None else float(value))
    return values[0], values[1]


def _millis(stamp: Any) -> int | None:
    if not isinstance(stamp, str):
        return None
    try:
        return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return None


def create_source(
    name: str, options: Mapping[str, Any] | None, secret: Callable[[str], str | None]
) -> TradovateMarketData:
    """Entry point of the ``copytui.marketdata`` group for source ``tradovate``."""
    try:
        opts = TradovateMdOptions.model_validate(dict(options or {}))
    except ValidationError as exc:
        required = {"username": "your Tradovate login name, e.g. username: jane"}
        raise ValueError(
            f"market data {name}: {option_problem(exc, TradovateMdOptions, 'Tradovate', required)}"
        ) from None
    return TradovateMarketData(name, opts, secret)


MD_SPEC = MarketDataSpec(
    name="tradovate",
    factory="adapters.tradovate.marketdata:create_source",
    options="adapters.tradovate.marketdata:TradovateMdOptions",
    secrets=(SecretField("password", "Tradovate password"), SecretField("sec", "Tradovate API secret (sec)")),
    simulator="adapters.tradovate.sim_md:serve",
    summary="Tradovate's own market data (md WebSocket): marks without a dxFeed subscription",
)
