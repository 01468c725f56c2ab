"""The HTTP side of Tradovate: one aiohttp session per adapter, the moment a request was written
(for OrderAck.sent_ns), and the penalty-ticket vocabulary shared by REST and WebSocket answers.

Rate-limit answers (partner.tradovate.com, Rate Limits and Penalty Tickets): a user-level limit
is HTTP 429 with an empty body (WebSocket ``{"s": 429, "i": id}``), the request was not handled.
An endpoint-level limit is a 200 whose body carries ``p-ticket`` and ``p-time`` (and maybe
``p-captcha``): the request was not handled; wait ``p-time`` seconds and resend the identical body
with ``"p-ticket"`` added. ``p-captcha: true`` cannot be answered by a program: stop for an hour.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import aiohttp

from adapters.base import AmbiguousOutcome, Disconnected

RATE_LIMIT_FALLBACK_S = 60.0
"""A 429 without Retry-After: how long RateLimited says to wait (the docs say up to an hour)."""
CAPTCHA_WAIT_S = 3600.0
"""A ``p-captcha`` cannot be answered by a program: how long RateLimited says to stay away."""


class Lost(Exception):
    """The request was written but the connection went away before an answer came."""

    def __init__(self, message: str, sent_ns: int = 0) -> None:
        super().__init__(message)
        self.sent_ns = sent_ns


@dataclass(frozen=True, slots=True)
class Penalty:
    ticket: str
    seconds: float
    captcha: bool


def penalty_of(data: Any) -> Penalty | None:
    if not isinstance(data, dict) or ("p-ticket" not in data and "p-captcha" not in data):
        return None
    try:
        seconds = float(data.get("p-time") or 0)
    except (TypeError, ValueError):
        seconds = 3600.0  # an unreadable penalty is treated as the documented worst case
    return Penalty(str(data.get("p-ticket") or ""), seconds, bool(data.get("p-captcha")))


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    data: Any
    retry_after_s: float | None
    sent_ns: int


async def _on_sent(_session: Any, ctx: SimpleNamespace, _params: Any) -> None:
    holder = ctx.trace_request_ctx
    if isinstance(holder, dict):
        holder["sent_ns"] = time.perf_counter_ns()


def _trace() -> aiohttp.TraceConfig:
    tc = aiohttp.TraceConfig()
    tc.on_request_headers_sent.append(_on_sent)
    tc.on_request_chunk_sent.append(_on_sent)
    return tc


class Http:
    def __init__(self, base_url: str, timeout_s: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.session: aiohttp.ClientSession | None = None

    def open(self) -> aiohttp.ClientSession:
        if self.session is None or self.session.closed:
            self.session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout_s),
                trace_configs=[_trace()],
                connector=aiohttp.TCPConnector(limit=64),
            )
        return self.session

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
            self.session = None

    async def call(
        self, method: str, path: str, *, body: Any = None, query: dict[str, Any] | None = None, token: str | None = None
    ) -> Answer:
        session = self.open()
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        ctx: dict[str, int] = {}
        url = f"{self.base_url}/{path.lstrip('/')}"
        try:
            async with session.request(
                method, url, json=body, params=query, headers=headers, trace_request_ctx=ctx
            ) as resp:
                text = await resp.text()
                status = resp.status
                retry = resp.headers.get("Retry-After")
        except TimeoutError:
            if "sent_ns" in ctx:
                raise AmbiguousOutcome(f"tradovate {path}: no answer within {self.timeout_s:g}s") from None
            raise Disconnected(f"tradovate {path}: timed out before the request was sent") from None
        except (aiohttp.ClientError, OSError) as exc:
            if "sent_ns" in ctx:
                raise Lost(f"tradovate {path}: connection lost after sending ({exc})", ctx["sent_ns"]) from None
            raise Disconnected(f"tradovate {path}: cannot reach {self.base_url} ({exc})") from None
        try:
            data: Any = json.loads(text) if text else None
        except ValueError:
            data = text
        retry_after = None
        if retry:
            try:
                retry_after = float(retry)
            except ValueError:
                retry_after = None
        return Answer(status, data, retry_after, ctx.get("sent_ns", time.perf_counter_ns()))
