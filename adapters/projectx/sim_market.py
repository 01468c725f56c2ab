"""The simulator's market hub (/hubs/market): quotes of the paper exchange's price walk.

``SubscribeContractQuotes(contractId)`` answers with the contract's current quote, then a
``GatewayQuote`` ``[contractId, quote]`` each time the paper price of that contract moves (the
price walk of ``copytui sim``, or a test's ``exchange.step()`` / ``set_price``). The quote's fields
are the gateway's: ``symbol`` (the symbol id, "F.US.EP"), ``symbolName``, ``lastPrice``,
``bestBid``, ``bestAsk``, ``change``, ``changePercent``, ``open``, ``high``, ``low``, ``volume``,
``lastUpdated``, ``timestamp``; project-x-py 4.4 reads ``symbol``, ``lastPrice``, ``bestBid``,
``bestAsk`` and ``volume`` of them. ``SubscribeContractTrades`` and ``SubscribeContractMarketDepth``
(which project-x-py sends with every quote subscription) are accepted and carry nothing here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from adapters.paper.exchange import PaperExchange
from adapters.projectx import contracts, signalr
from adapters.projectx.sim_book import iso
from adapters.projectx.sim_hub import HubConnection, HubFaults, SignalRHub

log = logging.getLogger("copytui.sim.projectx")

_QUOTES = "quotes"
_QUIET = {"SubscribeContractTrades", "SubscribeContractMarketDepth"}  # accepted, nothing is sent for them


@dataclass
class _Session:
    """What one contract's quotes say about the day so far."""

    open: float
    high: float
    low: float
    last: float | None = None  # the last price sent


class MarketHub(SignalRHub):
    """Accepts SignalR JSON connections on /hubs/market and pushes quotes of subscribed contracts."""

    name = "market"

    def __init__(
        self,
        exchange: PaperExchange,
        faults: HubFaults,
        contract_check: Callable[[str], str | None],
        poll_s: float = 0.05,
    ) -> None:
        """``contract_check(contract_id)``: None when the contract is the active one, else why not."""
        super().__init__(faults)
        self.exchange = exchange
        self.contract_check = contract_check
        self.poll_s = poll_s
        self.sessions: dict[str, _Session] = {}
        self.quotes_sent = 0
        self._watcher: asyncio.Task[None] | None = None

    # ------------------------------------------------------------- lifecycle
    def start(self) -> None:
        if self._watcher is None:
            self._watcher = asyncio.get_running_loop().create_task(self._watch(), name="projectx-sim-market-quotes")

    async def stop(self) -> None:
        self.drop_all()
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
            self._watcher = None

    # ---------------------------------------------------------------- quotes
    def quote(self, contract_id: str) -> dict[str, Any]:
        """The contract's quote now, as ``GatewayQuote`` carries it."""
        symbol = contracts.symbol_of(contract_id)
        bid, ask = self.exchange.quote(symbol)
        last = self.exchange.price(symbol)
        day = self.sessions.setdefault(contract_id, _Session(open=last, high=last, low=last))
        day.high, day.low = max(day.high, last), min(day.low, last)
        now = iso()
        change = last - day.open
        return {
            "symbol": contract_id.removeprefix("CON.").rsplit(".", 1)[0],
            "symbolName": f"/{symbol}",
            "lastPrice": last,
            "bestBid": bid,
            "bestAsk": ask,
            "change": change,
            "changePercent": round(100.0 * change / day.open, 4) if day.open else 0.0,
            "open": day.open,
            "high": day.high,
            "low": day.low,
            "volume": 0,
            "lastUpdated": now,
            "timestamp": now,
        }

    def publish_changes(self) -> int:
        """Send a quote for every subscribed contract whose price moved since its last quote; how many."""
        wanted = {cid for conn in self.connections for topic, cid in conn.subs if topic == _QUOTES}
        sent = 0
        for cid in sorted(str(c) for c in wanted):
            price = self.exchange.price(contracts.symbol_of(cid))
            day = self.sessions.get(cid)
            if day is not None and day.last == price:
                continue
            self._push(cid, None)
            sent += 1
        return sent

    def _push(self, contract_id: str, only: HubConnection | None) -> None:
        quote = self.quote(contract_id)
        self.sessions[contract_id].last = quote["lastPrice"]
        frame = signalr.invocation("GatewayQuote", [contract_id, quote])
        for conn in [only] if only is not None else list(self.connections):
            if (_QUOTES, contract_id) in conn.subs:
                self._send(conn, frame)
                self.quotes_sent += 1

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.poll_s)
            try:
                self.publish_changes()
            except Exception:  # one bad contract must not end the quotes of the others
                log.exception("projectx simulator: market hub could not publish quotes")

    # ----------------------------------------------------------- invocations
    def _invoke(self, conn: HubConnection, m: dict[str, Any]) -> None:
        target, args, inv_id = m.get("target"), m.get("arguments") or [], m.get("invocationId")
        error = None
        name = target.removeprefix("Un") if isinstance(target, str) else None
        if name == "SubscribeContractQuotes" or name in _QUIET:
            cid = args[0] if args else None
            if not isinstance(cid, str):
                error = f"{target}: argument 0 must be a contract id, got {cid!r}"
            elif (why := self.contract_check(cid)) is not None:
                error = f"{target}: {why}"
            elif name in _QUIET:
                pass
            elif name != target:  # UnsubscribeContractQuotes
                conn.subs.discard((_QUOTES, cid))
            else:
                conn.subs.add((_QUOTES, cid))
                self._push(cid, conn)  # the current quote at once, as a snapshot
        else:
            error = f"Unknown hub method '{target}'"
        if inv_id is not None:
            conn.queue.put_nowait(signalr.completion(str(inv_id), error=error))
