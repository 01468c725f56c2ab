"""The lean order line (adapters/projectx/orderline.py) against a plain HTTP server on 127.0.0.1:
what it writes, each way an answer can come back, and which failures say "not sent" and which
"maybe sent" (never a resend)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from adapters.base import AmbiguousOutcome, Disconnected
from adapters.projectx.orderline import AnswerUnreadable, OrderLine
from adapters.projectx.ratelimit import TokenBucket
from adapters.projectx.rest import GatewayRest, Wire

Answer = Callable[[bytes], bytes | None]


@pytest.fixture
async def server() -> AsyncIterator[tuple[list[bytes], list[Answer], list[int]]]:
    """(requests received, answers to give in turn, [port]); an answer None closes without one."""
    received: list[bytes] = []
    answers: list[Answer] = []
    connections = [0]

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections[0] += 1
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(int(h.split(b":")[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length"))
            request = head + await reader.readexactly(length)
            received.append(request)
            out = answers.pop(0)(request)
            if out is None:
                writer.close()
                return
            writer.write(out)
            await writer.drain()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    yield received, answers, [port, connections]  # type: ignore[list-item]
    srv.close()


def ok(body: bytes = b'{"success":true,"orderId":7}') -> Answer:
    return lambda _req: b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
        len(body), body)  # fmt: skip


async def test_one_write_per_order_on_a_kept_alive_connection(server) -> None:  # type: ignore[no-untyped-def]
    received, answers, (port, connections) = server
    line = OrderLine(f"http://127.0.0.1:{port}/gw")
    answers += [ok(), ok()]
    for _ in range(2):
        stamp = [0]
        status, body, retry = await line.post("/api/Order/place", b'{"a":1}', "TOKEN", stamp)
        assert (status, body, retry) == (200, b'{"success":true,"orderId":7}', None) and stamp[0] > 0
    assert connections[0] == 1  # the second order reused the first connection
    head, _, body = received[0].partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /gw/api/Order/place HTTP/1.1" and body == b'{"a":1}'
    assert f"Host: 127.0.0.1:{port}".encode() in lines and b"Authorization: Bearer TOKEN" in lines
    assert b"Content-Length: 7" in lines and b"Content-Type: application/json" in lines
    line.close()


async def test_chunked_and_closing_answers_are_read_whole(server) -> None:  # type: ignore[no-untyped-def]
    received, answers, (port, connections) = server
    line = OrderLine(f"http://127.0.0.1:{port}")
    chunked = b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"a":\r\n2\r\n1}\r\n0\r\n\r\n'
    answers.append(lambda _r: chunked)
    assert (await line.post("/x", b"{}", None, [0]))[1] == b'{"a":1}'
    closing = b"HTTP/1.1 429 Too Many\r\nRetry-After: 3\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    answers.append(lambda _r: closing)
    assert await line.post("/x", b"{}", None, [0]) == (429, b"", "3")
    answers.append(ok())
    assert (await line.post("/x", b"{}", None, [0]))[0] == 200
    assert connections[0] == 2  # "Connection: close" was honoured: a new connection for the third
    assert all(b"Authorization" not in r for r in received)


async def test_a_connection_lost_after_the_write_is_ambiguous_never_resent(server) -> None:  # type: ignore[no-untyped-def]
    received, answers, (port, _c) = server
    answers.append(lambda _r: None)  # the gateway read the order, then the connection died
    rest = GatewayRest(f"http://127.0.0.1:{port}", "u", lambda: "k", bucket=TokenBucket(100, 60.0))
    rest._set_token("T.e30.x")
    wire = Wire()
    with pytest.raises(AmbiguousOutcome, match="ask by customTag"):
        await rest.call("/api/Order/place", {"a": 1}, what="place", write=True, wire=wire)
    assert wire.sent_ns > 0 and len(received) == 1  # written once, not again
    await rest.close()


async def test_nothing_listening_is_not_sent() -> None:
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    rest = GatewayRest(f"http://127.0.0.1:{port}", "u", lambda: "k", bucket=TokenBucket(100, 60.0))
    rest._set_token("T.e30.x")
    wire = Wire()
    with pytest.raises(Disconnected, match="not sent"):
        await rest.call("/api/Order/place", {"a": 1}, what="place", write=True, wire=wire)
    assert wire.sent_ns == 0
    await rest.close()


async def test_an_answer_that_is_not_http_is_unreadable(server) -> None:  # type: ignore[no-untyped-def]
    _received, answers, (port, _c) = server
    line = OrderLine(f"http://127.0.0.1:{port}")
    answers.append(lambda _r: b"SSH-2.0-OpenSSH\r\n\r\n")
    with pytest.raises(AnswerUnreadable, match="not an HTTP answer"):
        await line.post("/x", b"{}", None, [0])
    line.close()
