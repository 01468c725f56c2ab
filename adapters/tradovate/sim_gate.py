"""The Tradovate simulator's door: logins and the tokens they get, and the answers that turn a
request away before it is handled (HTTP or WebSocket 429, penalty tickets), as Tradovate documents
them (partner.tradovate.com, Access and Rate Limits; PROTOCOLS.md).

A penalty answer is ``{"p-ticket", "p-time"[, "p-captcha"]}``: the client waits ``p-time`` seconds
and resends the identical request with ``"p-ticket"`` added. A ticket redeemed too early, unknown or
used twice earns a new penalty. Tokens are opaque random strings that expire after
``token_lifetime_s``; an expired token is refused (401) over REST, while an open WebSocket stays
authorized, as the docs say.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

LOGIN = "auth/accesstokenrequest"


@dataclass
class SimUser:
    id: int
    name: str
    password: str
    accounts: list[int] = field(default_factory=list)


@dataclass
class _Penalty:
    times: int
    seconds: float
    captcha: bool


class Gate:
    def __init__(self, token_lifetime_s: float) -> None:
        self.token_lifetime_s = token_lifetime_s
        self.users: dict[str, SimUser] = {}
        self.logins = 0
        self.renewals = 0
        self.tickets_redeemed = 0
        self._by_id: dict[int, SimUser] = {}
        self._user_ids = iter(range(101, 10_000))
        self._tokens: dict[str, tuple[int, float]] = {}
        self._md_tokens: dict[str, tuple[int, float]] = {}
        self._penalties: dict[str, _Penalty] = {}
        self._tickets: dict[str, tuple[str, float]] = {}
        self._limited_until = 0.0

    def user(self, name: str, password: str) -> SimUser:
        """The login ``name``, created with ``password`` on first use."""
        user = self.users.get(name)
        if user is None:
            user = self.users[name] = SimUser(next(self._user_ids), name, password)
            self._by_id[user.id] = user
        return user

    def user_by_id(self, user_id: int) -> SimUser:
        return self._by_id[user_id]

    # --------------------------------------------------------- switches
    def expire_tokens(self) -> None:
        self._tokens = {t: (uid, 0.0) for t, (uid, _) in self._tokens.items()}
        self._md_tokens = {t: (uid, 0.0) for t, (uid, _) in self._md_tokens.items()}

    def rate_limit(self, seconds: float) -> None:
        self._limited_until = time.monotonic() + seconds

    def penalize(self, endpoint: str, times: int, seconds: float, captcha: bool) -> None:
        self._penalties[endpoint] = _Penalty(times, seconds, captcha)

    # ----------------------------------------------------------- tokens
    def login(self, body: Any) -> dict[str, Any]:
        """The answer to ``auth/accesstokenrequest``: a token, a penalty, or an ``errorText``."""
        if not isinstance(body, dict) or not isinstance(body.get("name"), str):
            return {"errorText": "name and password are required"}
        pen = self.penalty(LOGIN, body)
        if pen is not None:
            return pen
        user = self.users.get(body["name"])
        if user is None or body.get("password") != user.password:
            return {"errorText": "Incorrect username or password. Please try again."}
        self.logins += 1
        return self._issue(user)

    def renew(self, user_id: int) -> dict[str, Any]:
        self.renewals += 1
        return self._issue(self._by_id[user_id])

    def user_of(self, token: str | None) -> int | None:
        """The user a token was issued to, while it has not expired."""
        entry = self._tokens.get(token or "")
        if entry is None or entry[1] <= time.time():
            return None
        return entry[0]

    def md_user_of(self, token: str | None) -> int | None:
        """The user a market-data token (``mdAccessToken``) was issued to, while it has not expired."""
        entry = self._md_tokens.get(token or "")
        if entry is None or entry[1] <= time.time():
            return None
        return entry[0]

    def _issue(self, user: SimUser) -> dict[str, Any]:
        token, md_token = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        expires = time.time() + self.token_lifetime_s
        self._tokens[token] = (user.id, expires)
        self._md_tokens[md_token] = (user.id, expires)
        stamp = datetime.fromtimestamp(expires, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return {
            "accessToken": token,
            "mdAccessToken": md_token,
            "expirationTime": stamp,
            "userStatus": "Active",
            "userId": user.id,
            "name": user.name,
            "hasLive": False,
        }

    # ------------------------------------------------- turned away early
    def limited(self) -> bool:
        """Whether every request is answered 429 now."""
        return time.monotonic() < self._limited_until

    def penalty(self, endpoint: str, body: Any) -> dict[str, Any] | None:
        """A penalty answer for this call, or None when it may be handled."""
        ticket = body.get("p-ticket") if isinstance(body, dict) else None
        if ticket:
            entry = self._tickets.pop(ticket, None)
            if entry is not None and entry[0] == endpoint and time.monotonic() >= entry[1]:
                self.tickets_redeemed += 1
                return None
            plan = self._penalties.get(endpoint) or _Penalty(0, 1.0, False)
            return self._ticket(endpoint, plan)  # early, unknown or reused ticket: a new penalty
        planned = self._penalties.get(endpoint)
        if planned is None or planned.times <= 0:
            return None
        planned.times -= 1
        return self._ticket(endpoint, planned)

    def _ticket(self, endpoint: str, plan: _Penalty) -> dict[str, Any]:
        ticket = secrets.token_urlsafe(16)
        self._tickets[ticket] = (endpoint, time.monotonic() + plan.seconds)
        out: dict[str, Any] = {"p-ticket": ticket, "p-time": plan.seconds}
        if plan.captcha:
            out["p-captcha"] = True
        return out
