"""Order requests on keep-alive HTTP/1.1 connections of their own: the copy path's POSTs.

Reads, logins and searches keep aiohttp (rest.py). An order request is the hot path: aiohttp
costs about 120 us of Python per POST on this machine, most of it in machinery an order does not
need (cookie jar, redirects, tracing, header multidicts). Here a request is one pre-shaped head
plus the JSON body, written to an idle connection in one call; ``sent_ns`` is taken right after
that write. Nothing is ever resent: a connection that fails before the write is ``OSError`` with
nothing sent (the caller says Disconnected), after it the outcome is ambiguous.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from urllib.parse import urlsplit

MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 8 * 1024 * 1024


class AnswerUnreadable(ConnectionError):
    """The gateway's answer ended early or is not HTTP/1.1: the request may have been handled."""


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    def usable(self) -> bool:
        return not self.writer.is_closing() and not self.reader.at_eof()

    def close(self) -> None:
        self.writer.close()


class OrderLine:
    def __init__(self, api_url: str, user_agent: str = "copytui") -> None:
        parts = urlsplit(api_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"ProjectX api_url {api_url!r} is not an http(s) URL")
        self.host = parts.hostname
        self.tls = parts.scheme == "https"
        self.port = parts.port or (443 if self.tls else 80)
        self.prefix = parts.path.rstrip("/")
        default = (self.tls and self.port == 443) or (not self.tls and self.port == 80)
        host = self.host if default else f"{self.host}:{self.port}"
        self._fixed = (
            f"Host: {host}\r\nUser-Agent: {user_agent}\r\nAccept: application/json\r\n"
            "Content-Type: application/json\r\nConnection: keep-alive\r\n"
        ).encode("ascii")
        self._idle: list[_Connection] = []
        self._ssl: ssl.SSLContext | None = ssl.create_default_context() if self.tls else None

    async def _take(self) -> _Connection:
        while self._idle:
            conn = self._idle.pop()
            if conn.usable():
                return conn
            conn.close()
        reader, writer = await asyncio.open_connection(self.host, self.port, ssl=self._ssl)
        return _Connection(reader, writer)

    async def post(self, path: str, body: bytes, token: str | None, stamp: list[int]) -> tuple[int, bytes, str | None]:
        """POST ``body`` to ``path``: (status, answer body, Retry-After). ``stamp[0]`` gets the
        ``perf_counter_ns`` of the write (0 while nothing was written)."""
        conn = await self._take()
        auth = b"" if token is None else b"Authorization: Bearer " + token.encode("ascii") + b"\r\n"
        head = b"POST %s HTTP/1.1\r\n%s%sContent-Length: %d\r\n\r\n" % (
            (self.prefix + path).encode("ascii"),
            self._fixed,
            auth,
            len(body),
        )
        try:
            conn.writer.write(head + body)
            stamp[0] = time.perf_counter_ns()
            status, answer, retry_after, keep = await self._answer(conn.reader)
        except BaseException:
            conn.close()
            raise
        if keep:
            self._idle.append(conn)
        else:
            conn.close()
        return status, answer, retry_after

    async def _answer(self, reader: asyncio.StreamReader) -> tuple[int, bytes, str | None, bool]:
        try:
            line = await reader.readline()
            parts = line.split(None, 2)
            if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
                raise AnswerUnreadable(f"not an HTTP answer: {line[:60]!r}")
            status = int(parts[1])
            headers: dict[bytes, bytes] = {}
            size = len(line)
            while True:
                h = await reader.readline()
                size += len(h)
                if h in (b"\r\n", b"\n", b""):
                    if not h:
                        raise AnswerUnreadable("the answer's headers ended early")
                    break
                if size > MAX_HEAD_BYTES:
                    raise AnswerUnreadable("the answer's headers are too long")
                name, _, value = h.partition(b":")
                headers[name.strip().lower()] = value.strip()
            keep = parts[0] == b"HTTP/1.1" and headers.get(b"connection", b"").lower() != b"close"
            if b"chunked" in headers.get(b"transfer-encoding", b"").lower():
                body = await self._chunks(reader)
            elif b"content-length" in headers:
                n = int(headers[b"content-length"])
                if not 0 <= n <= MAX_BODY_BYTES:
                    raise AnswerUnreadable(f"answer of {n} bytes")
                body = await reader.readexactly(n)
            else:
                body, keep = await reader.read(MAX_BODY_BYTES), False  # ends when the gateway closes
        except asyncio.IncompleteReadError:
            raise AnswerUnreadable("the connection closed in the middle of the answer") from None
        except ValueError as exc:  # a malformed length or chunk size, a line over the stream's limit
            raise AnswerUnreadable(f"unreadable answer: {exc}") from None
        retry = headers.get(b"retry-after")
        return status, body, retry.decode("latin-1") if retry is not None else None, keep

    @staticmethod
    async def _chunks(reader: asyncio.StreamReader) -> bytes:
        out = bytearray()
        while True:
            size = int((await reader.readline()).split(b";")[0].strip() or b"x", 16)
            if size == 0:
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return bytes(out)
            if len(out) + size > MAX_BODY_BYTES:
                raise AnswerUnreadable("answer too long")
            out += await reader.readexactly(size)
            await reader.readexactly(2)

    def close(self) -> None:
        for conn in self._idle:
            conn.close()
        self._idle.clear()
