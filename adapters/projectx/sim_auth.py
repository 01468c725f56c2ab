"""The simulator's sessions: ``Auth/loginKey`` and ``Auth/validate`` tokens, who a request is, and
the SignalR negotiate step of the hubs.

A token looks like the gateway's (a JWT whose ``exp`` the client may read) and lives
``token_ttl_s``; ``expire()`` ends every session at once, as a gateway restart would. No token
and no API key is ever logged.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from adapters.projectx.sim_rest import answer_fail, answer_ok, body_field


@dataclass
class _Token:
    user: str
    expires: float  # time.monotonic()


@dataclass
class GatewayAuth:
    users: dict[str, str] | None = None
    """user name -> API key; None: any user name with any non-empty key."""
    token_ttl_s: float = 24 * 3600.0
    tokens: dict[str, _Token] = field(default_factory=dict)
    negotiated: dict[str, str] = field(default_factory=dict)
    """A negotiated connection's id (or token) -> its user, until the WebSocket comes with it."""

    def issue(self, user: str) -> str:
        def b64(obj: object) -> str:
            return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

        exp = time.time() + self.token_ttl_s
        token = f"{b64({'alg': 'HS256', 'typ': 'JWT'})}.{b64({'sub': user, 'exp': exp})}.{secrets.token_urlsafe(24)}"
        self.tokens[token] = _Token(user, time.monotonic() + self.token_ttl_s)
        return token

    def expire(self) -> None:
        for tok in self.tokens.values():
            tok.expires = 0.0

    def user_of(self, request: web.Request) -> str | None:
        """The user a request's token (``Authorization: Bearer`` or ``?access_token=``) belongs to."""
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else request.query.get("access_token")
        tok = self.tokens.get(token or "")
        if tok is None or time.monotonic() >= tok.expires:
            return None
        return tok.user

    # -------------------------------------------------------------- endpoints
    async def login(self, body: dict[str, Any], _user: str) -> dict[str, Any]:
        user = body_field(body, "userName", str)
        key = body_field(body, "apiKey", str)
        good = bool(key) if self.users is None else self.users.get(user) == key
        if not good:
            return answer_fail(3, "Invalid user name or API key.", token=None)
        return answer_ok(token=self.issue(user))

    async def validate(self, _body: dict[str, Any], user: str) -> dict[str, Any]:
        return answer_ok(newToken=self.issue(user))

    async def negotiate(self, request: web.Request) -> web.StreamResponse:
        user = self.user_of(request)
        if user is None:
            return web.Response(status=401)
        # as ASP.NET Core does: negotiateVersion 1 clients connect with connectionToken, older with connectionId
        version = 1 if request.query.get("negotiateVersion", "0") not in ("", "0") else 0
        conn_id, conn_token = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        self.negotiated[conn_token if version else conn_id] = user
        answer: dict[str, Any] = {
            "negotiateVersion": version,
            "connectionId": conn_id,
            "availableTransports": [{"transport": "WebSockets", "transferFormats": ["Text", "Binary"]}],
        }
        if version:
            answer["connectionToken"] = conn_token
        return web.json_response(answer)

    def hub_user(self, request: web.Request) -> str | web.Response:
        """Who opens a hub WebSocket, or the refusal: 401 without a live token, 404 for an unknown
        negotiated connection id."""
        user = self.user_of(request)
        if user is None:
            return web.Response(status=401)
        conn_id = request.query.get("id")
        if conn_id is not None and self.negotiated.pop(conn_id, None) is None:
            return web.Response(status=404, text="No Connection with that ID")
        return user
