"""The wire's floor on this machine: what writing a leader event's follower orders costs with no
copier at all. A leader socket delivers one small frame; as soon as it is read, the same number of
pre-built order frames as there are followers is written to that many loopback sockets, one each,
and the clock stops after the last write. Every adapter's overhead is reported against it, so
"how far from the wire" is measured in the same run, on the same machine."""

from __future__ import annotations

import asyncio
import contextlib
import time

from copytui.bench.rig import Sample, gap_for

FRAME = (
    b'{"op":"place","account":"BENCH0001","clOrdId":"ct0123456789abcdef0123456789abcd",'
    b'"symbol":"ESZ6","side":"Buy","orderQty":1,"orderType":"Market","timeInForce":"Day",'
    b'"isAutomated":true}\n'
)
"""A typical order frame (about the size of a Tradovate or ProjectX order body)."""
TICK = b"fill\n"


async def _drain(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while await reader.read(65536):
            pass
    writer.close()


async def samples(followers: int, count: int, warmup: int) -> list[Sample]:
    """``count`` measured leader frames (after ``warmup``), each fanned out to ``followers`` sockets."""
    server = await asyncio.start_server(_drain, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    feed_ready: asyncio.Queue[asyncio.StreamWriter] = asyncio.Queue()

    async def leader_side(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        feed_ready.put_nowait(writer)
        with contextlib.suppress(ConnectionError):
            await reader.read()

    feed = await asyncio.start_server(leader_side, "127.0.0.1", 0)
    feed_port = feed.sockets[0].getsockname()[1]
    writers = [(await asyncio.open_connection("127.0.0.1", port))[1] for _ in range(followers)]
    leader_reader, leader_writer = await asyncio.open_connection("127.0.0.1", feed_port)
    source = await feed_ready.get()
    gap = gap_for(followers)
    out: list[Sample] = []
    try:
        for i in range(warmup + count):
            source.write(TICK)
            await leader_reader.readline()
            t0 = time.perf_counter_ns()
            for w in writers:
                w.write(FRAME)
            t1 = time.perf_counter_ns()
            if i >= warmup:
                out.append(Sample(t1 - t0, None, followers, followers))
            await asyncio.gather(*(w.drain() for w in writers))
            await asyncio.sleep(gap)
    finally:
        for w in (*writers, leader_writer, source):
            w.close()
        for srv in (server, feed):
            srv.close()
            await srv.wait_closed()
    return out
