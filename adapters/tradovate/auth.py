"""Access tokens: the login with the penalty-ticket flow, renewal before ``expirationTime``.

``POST /auth/accesstokenrequest {name, password, appId, appVersion, cid, sec, deviceId}`` answers
``{accessToken, expirationTime, userId, ...}``, or ``{errorText}``, or a penalty
``{p-ticket, p-time[, p-captcha]}``. ``GET /auth/renewaccesstoken`` (Bearer) extends the session.
The password and API secret are read from the keyring at each login and never kept or logged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from adapters.base import AuthFailed, RateLimited
from adapters.tradovate.rest import CAPTCHA_WAIT_S, Http, penalty_of

log = logging.getLogger("copytui.adapters.tradovate")


@dataclass(frozen=True)
class Login:
    """Everything of a login except the secrets, which come from ``secret(field)`` when needed."""

    name: str
    app_id: str
    app_version: str
    cid: int
    device_id: str
    secret: Callable[[str], str | None]
    account_alias: str

    def body(self) -> dict[str, Any]:
        password = self.secret("password")
        if not password:
            raise AuthFailed(
                f"no Tradovate password for account {self.account_alias} in the keyring: store it with "
                f"`copytui accounts add {self.account_alias} --broker tradovate`"
            )
        return {
            "name": self.name,
            "password": password,
            "appId": self.app_id,
            "appVersion": self.app_version,
            "cid": self.cid,
            "sec": self.secret("sec") or "",
            "deviceId": self.device_id,
        }


@dataclass(frozen=True)
class Token:
    value: str
    user_id: int
    expires_wall: float
    issued_wall: float

    def seconds_left(self) -> float:
        return self.expires_wall - time.time()

    def fresh(self) -> bool:
        """Enough time left to use it for a request (a second, or a tenth of a short token's life)."""
        return self.seconds_left() > min(1.0, (self.expires_wall - self.issued_wall) * 0.1)

    def __repr__(self) -> str:  # the token itself never goes into a log line
        return f"Token(user_id={self.user_id}, expires_in={self.seconds_left():.0f}s)"


def _parse_expiry(text: Any) -> float:
    if not isinstance(text, str):
        raise AuthFailed(f"tradovate token answer: 'expirationTime' must be an ISO time, got {text!r}")
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise AuthFailed(f"tradovate token answer: 'expirationTime' is not an ISO time: {text!r}") from None


class TokenManager:
    def __init__(self, http: Http, login: Login, *, max_penalty_wait_s: float = 60.0, margin_s: float | None = None):
        self.http = http
        self.login = login
        self.max_penalty_wait_s = max_penalty_wait_s
        self.margin_s = margin_s
        self.token: Token | None = None
        self.logins = 0
        self.renewals = 0
        self._lock = asyncio.Lock()

    # ------------------------------------------------------------ public
    async def ensure(self) -> Token:
        """A token with time left: the current one, a renewed one, or a fresh login."""
        async with self._lock:
            tok = self.token
            if tok is not None and tok.fresh():
                return tok
            if tok is not None and tok.seconds_left() > 0:
                return await self._renew_locked()
            return await self._login_locked()

    async def renew(self) -> Token:
        async with self._lock:
            return await self._renew_locked()

    async def relogin(self, rejected: Token | None) -> Token:
        """After the server refused ``rejected`` (401): log in again unless another task already did."""
        async with self._lock:
            if self.token is not None and self.token is not rejected and self.token.fresh():
                return self.token
            return await self._login_locked()

    def renew_due_in(self) -> float:
        """Seconds until the token should be renewed: 15 minutes before expiry, or a quarter of
        its life for short-lived tokens (the simulator's)."""
        tok = self.token
        if tok is None:
            return 0.0
        life = max(tok.expires_wall - tok.issued_wall, 0.0)
        margin = self.margin_s if self.margin_s is not None else min(15 * 60.0, life * 0.25)
        return max(tok.seconds_left() - margin, 0.0)

    # ----------------------------------------------------------- private
    async def _login_locked(self) -> Token:
        body = await asyncio.to_thread(self.login.body)  # the keyring blocks on D-Bus
        waited = 0.0
        while True:
            ans = await self.http.call("POST", "/auth/accesstokenrequest", body=body)
            if ans.status == 429:
                raise RateLimited(
                    f"tradovate login for {self.login.name} is rate limited (HTTP 429): wait before connecting again",
                    ans.retry_after_s or CAPTCHA_WAIT_S,
                )
            if ans.status != 200:
                raise AuthFailed(f"tradovate login for {self.login.name} answered HTTP {ans.status}")
            pen = penalty_of(ans.data)
            if pen is not None:
                if pen.captcha:
                    raise AuthFailed(
                        f"tradovate wants a captcha (p-captcha) for {self.login.name} after too many logins: "
                        "a program cannot answer it. Wait about an hour before connecting this account again."
                    )
                if waited + pen.seconds > self.max_penalty_wait_s:
                    raise RateLimited(
                        f"tradovate login penalty of {pen.seconds:g}s for {self.login.name} is longer than "
                        f"{self.max_penalty_wait_s:g}s (options.penalty_wait_max_s)",
                        pen.seconds,
                    )
                log.warning(
                    "tradovate login for %s got a penalty ticket: waiting %.1fs, then resending with it",
                    self.login.name,
                    pen.seconds,
                )
                await asyncio.sleep(pen.seconds)
                waited += pen.seconds
                body = {**body, "p-ticket": pen.ticket}
                continue
            self.token = self._token_from(ans.data, "login")
            self.logins += 1
            return self.token

    async def _renew_locked(self) -> Token:
        tok = self.token
        if tok is None or tok.seconds_left() <= 0:
            return await self._login_locked()
        ans = await self.http.call("GET", "/auth/renewaccesstoken", token=tok.value)
        pen = penalty_of(ans.data) if ans.status == 200 else None
        if ans.status == 401 or (ans.status == 200 and pen is None and not _has_token(ans.data)):
            log.info("tradovate token renewal for %s refused: logging in again", self.login.name)
            return await self._login_locked()
        if ans.status == 429 or pen is not None:
            wait = pen.seconds if pen is not None else (ans.retry_after_s or 60.0)
            if tok.seconds_left() > wait + 1.0:
                raise RateLimited(f"tradovate token renewal for {self.login.name} is rate limited", wait)
            return await self._login_locked()
        if ans.status != 200:
            raise AuthFailed(f"tradovate token renewal for {self.login.name} answered HTTP {ans.status}")
        self.token = self._token_from(ans.data, "renewal")
        self.renewals += 1
        return self.token

    def _token_from(self, data: Any, what: str) -> Token:
        if not isinstance(data, dict):
            raise AuthFailed(f"tradovate {what} answer is not an object")
        if not data.get("accessToken"):
            why = data.get("errorText") or "no accessToken in the answer"
            raise AuthFailed(
                f"tradovate refused the {what} for {self.login.name}: {why}. Check the username, and the "
                f"password and API secret stored for {self.login.account_alias} (`copytui accounts add`)."
            )
        user_id = data.get("userId")
        if not isinstance(user_id, int) and self.token is not None:
            user_id = self.token.user_id  # a renewal may omit it
        if not isinstance(user_id, int):
            raise AuthFailed(f"tradovate {what} answer: 'userId' must be an integer, got {user_id!r}")
        return Token(str(data["accessToken"]), user_id, _parse_expiry(data.get("expirationTime")), time.time())


def _has_token(data: Any) -> bool:
    return isinstance(data, dict) and bool(data.get("accessToken"))
