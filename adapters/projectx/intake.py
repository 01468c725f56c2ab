"""The edge of the account's event stream: gateway payloads in, AccountEvents out.

Every payload, from the user hub or from a REST search, is validated here and handed to the
:class:`Translator`; what it makes goes on the adapter's :class:`EventStream`. A payload that
cannot be read is skipped, counted in ``Health.dropped`` (the engine journals and alerts it) and
kept in ``malformed``; an enum value this copytui does not know is counted and said once, and the
event kept. While a resync reads what happened during an outage, live hub payloads are held and
handled after it, so that the account's events keep the broker's order (invariant 11).
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

from adapters.base import Health
from adapters.kit.stream import EventStream
from adapters.projectx.events import Translator
from adapters.projectx.payloads import GwOrder, GwPosition, GwTrade, PayloadError, validate
from copytui.models import AccountEvent

log = logging.getLogger("copytui.adapters.projectx")

EVENT_MODELS: dict[str, type] = {
    "GatewayUserOrder": GwOrder,
    "GatewayUserTrade": GwTrade,
    "GatewayUserPosition": GwPosition,
}


class Intake:
    def __init__(self, account: str, translator: Translator, stream: EventStream, health: Health) -> None:
        self.account = account
        self.translator = translator
        self.stream = stream
        self.health = health
        self.malformed: list[str] = []
        self.unknown_values: Counter[str] = Counter()  # "GatewayUserOrder.status=9" -> times seen
        self._held: list[tuple[str, list[Any], int]] | None = None

    # ------------------------------------------------------------ live frames
    def on_invocation(self, target: str, args: list[Any], recv_ns: int) -> None:
        """A hub invocation, as :class:`adapters.projectx.hub.UserHub` hands it over."""
        if self._held is not None:
            self._held.append((target, args, recv_ns))
            return
        model = EVENT_MODELS.get(target)
        if model is None:
            return  # GatewayUserAccount and anything newer: not needed for copying
        payloads = [a for arg in args for a in (arg if isinstance(arg, list) else [arg])]
        entities = [p for p in payloads if isinstance(p, dict)]
        if not entities:
            self._malformed(f"{target}: no JSON object among its arguments {args!r:.120}")
            return
        for raw in entities:
            self.handle(target, raw, recv_ns)

    def hold(self) -> None:
        """Live payloads wait from now on (a resync is reading the outage)."""
        self._held = []

    def release(self) -> None:
        """Handle the live payloads held, in arrival order; one the resync already brought is known
        by its id and dropped by the translator."""
        held, self._held = self._held or [], None
        for target, args, recv_ns in held:
            self.on_invocation(target, args, recv_ns)

    # ------------------------------------------------------------- payloads
    def handle(self, target: str, raw: Any, recv_ns: int) -> None:
        """One payload of ``target``'s kind: validated, translated, its events put on the stream."""
        try:
            p = validate(EVENT_MODELS[target], raw, target)
            if p.accountId != self.translator.account_id:
                return  # SubscribeAccounts may bring other accounts' news
            self._note_unknown(target, p)
            if isinstance(p, GwOrder):
                events = self.translator.on_order(p, recv_ns)
            elif isinstance(p, GwTrade):
                events = self.translator.on_trade(p, recv_ns)
            else:
                events = self.translator.on_position(p, recv_ns)
        except (PayloadError, ValueError) as exc:
            self._malformed(str(exc))
            return
        except Exception as exc:  # never let one payload end the stream
            log.exception("ProjectX %s: %s payload could not be handled", self.account, target)
            self._malformed(f"{target}: could not be handled ({type(exc).__name__}: {exc})")
            return
        self.emit(events)

    def valid(self, model: type, raw: Any, what: str) -> Any | None:
        """A REST search's entry as ``model``, or None (said and counted) when it cannot be read."""
        try:
            p = validate(model, raw, what)
        except PayloadError as exc:
            self._malformed(str(exc))
            return None
        self._note_unknown(what, p)
        return p

    def emit(self, events: list[AccountEvent]) -> None:
        if events:
            self.stream.put_all(events)
            self.health.seen()

    def _note_unknown(self, what: str, p: Any) -> None:
        """Enum values this copytui does not know: counted, said once each, and the event kept."""
        for value in p.unknown_values:
            key = f"{what}.{value}"
            self.unknown_values[key] += 1
            if self.unknown_values[key] == 1:
                log.warning("ProjectX %s: %s is unknown to this copytui; the event is kept", self.account, key)
                self.health.note(f"unknown gateway value {key} (event kept)")

    def _malformed(self, text: str) -> None:
        log.warning("ProjectX %s: skipped a malformed hub payload: %s", self.account, text)
        self.malformed.append(text)
        self.health.drop(f"malformed payload: {text}")  # the engine journals and alerts it
        self.health.note(f"skipped malformed payload: {text[:160]}")
