"""The WebSocket side of the Tradovate simulator: ``/v1/websocket`` with its SockJS-style frames.

The server opens with ``o``, sends ``h`` every ``heartbeat_s``, answers requests
(``endpoint\\nid\\nquery\\nbody``) with ``a[{"s": status, "i": id, "d": data}]`` and pushes
``props`` events of the accounts a ``user/syncrequest`` subscribed the socket to. Every request
but ``authorize`` needs an authorized socket. ``faults.drop_after_requests`` cuts the connection
at the N-th order request, before it is handled or after (its answer lost); each order request is
audited either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any, Literal

from aiohttp import WSMsgType, web

from adapters.tradovate.frames import (
    FrameError,
    Request,
    encode_array,
    encode_close,
    encode_response,
    parse_client_message,
)
from adapters.tradovate.sim_admin import Call, is_order_request
from adapters.tradovate.sim_bodies import BodyNotJSON, parse_body, parse_query, token_of
from adapters.tradovate.sim_orders import ORDER_ENDPOINTS

if TYPE_CHECKING:
    from adapters.tradovate.simulator import TradovateSimulator

log = logging.getLogger("copytui.adapters.tradovate.simulator")


class SimConn:
    """One client's socket: its user once authorized, and the accounts its sync subscribed it to."""

    def __init__(self, ws: web.WebSocketResponse, request: web.Request) -> None:
        self.ws = ws
        self.transport = request.transport
        self.user_id: int | None = None
        self.accounts: set[int] = set()
        self.out: asyncio.Queue[str | None] = asyncio.Queue()
        self.closed = False

    def send(self, text: str) -> None:
        if not self.closed:
            self.out.put_nowait(text)

    def end(self) -> None:
        """The writer stops after what is queued."""
        self.out.put_nowait(None)

    def abort(self) -> None:
        """Drop the TCP connection with no close frame: what a network failure looks like."""
        self.closed = True
        if self.transport is not None:
            self.transport.abort()
        self.out.put_nowait(None)


class Sockets:
    def __init__(self, sim: TradovateSimulator) -> None:
        self.sim = sim
        self.conns: set[SimConn] = set()
        self.heartbeats = 0
        """``[]`` frames received from clients."""

    # ------------------------------------------------------------- fan-out
    def push(self, account_id: int, text: str) -> None:
        """A frame to every socket subscribed to ``account_id``."""
        for conn in list(self.conns):
            if account_id in conn.accounts:
                conn.send(text)

    def shutdown(self, reason_code: str) -> None:
        for conn in list(self.conns):
            conn.send(encode_array([{"e": "shutdown", "d": {"reasonCode": reason_code, "reason": "simulated"}}]))
            conn.send(encode_close(1000, "shutdown"))
            conn.end()

    def drop(self, account_id: int | None) -> int:
        """Abort the sockets subscribed to ``account_id`` (all when None); how many."""
        n = 0
        for conn in list(self.conns):
            if account_id is None or account_id in conn.accounts:
                conn.abort()
                n += 1
        return n

    # ------------------------------------------------------------ one socket
    async def handle(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        conn = SimConn(ws, request)
        self.conns.add(conn)
        loop = asyncio.get_running_loop()
        writer = loop.create_task(self._writer(conn), name="sim-ws-writer")
        beat = loop.create_task(self._beat(conn), name="sim-ws-heartbeat")
        conn.send("o")
        try:
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT or conn.closed:
                    continue
                try:
                    req = parse_client_message(msg.data)
                except FrameError as exc:
                    log.info("simulator: bad client frame: %s", exc)
                    continue
                if req is None:
                    self.heartbeats += 1
                else:
                    await self._request(conn, req)
        finally:
            conn.closed = True
            self.conns.discard(conn)
            beat.cancel()
            conn.end()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer, 1.0)
        return ws

    async def _writer(self, conn: SimConn) -> None:
        while True:
            text = await conn.out.get()
            if text is None or conn.ws.closed:
                break
            try:
                await conn.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                break
            if text.startswith("c"):
                with contextlib.suppress(Exception):
                    await conn.ws.close()
                break

    async def _beat(self, conn: SimConn) -> None:
        while not conn.closed:
            await asyncio.sleep(self.sim.heartbeat_s)
            conn.send("h")

    async def _request(self, conn: SimConn, req: Request) -> None:
        sim = self.sim
        call = Call(req.endpoint.lower(), raw=req.body, user_id=conn.user_id)
        sim.requests[call.endpoint] += 1
        if call.endpoint == "authorize":
            user_id = sim.gate.user_of(token_of(req.body))
            if user_id is None:
                conn.send(encode_response(req.id, 401, "Access is denied"))
                return
            conn.user_id = user_id
            conn.send(encode_response(req.id, 200))
            return
        audited = is_order_request(call.endpoint)
        drop = self._drop_fault(call.endpoint) if conn.user_id is not None and not sim.gate.limited() else None
        if drop == "before":
            if audited:
                call.body = _body_or_none(req.body)
                sim.admin.refuse_unhandled(call, "connection cut before the request was handled (fault)")
            conn.abort()
            return
        status, data = await self._answer(conn, req, call)
        if audited:
            sim.admin.record(call, status, data, "answer lost: connection cut (fault)" if drop else "")
        if drop:
            conn.abort()
            return
        conn.send(encode_response(req.id, status, data))

    def _drop_fault(self, endpoint: str) -> Literal["before", "after"] | None:
        """``faults.drop_after_requests``: whether this order request is the one the connection dies on."""
        faults = self.sim.faults
        if endpoint not in ORDER_ENDPOINTS or faults.drop_after_requests is None:
            return None
        faults.drop_after_requests -= 1
        if faults.drop_after_requests > 0:
            return None
        faults.drop_after_requests = None
        return faults.drop_mode

    async def _answer(self, conn: SimConn, req: Request, call: Call) -> tuple[int, Any]:
        sim = self.sim
        not_json = None
        try:
            call.body = parse_body(req.body)  # before any refusal: the audit records what was asked
        except BodyNotJSON as exc:
            not_json = exc
        if conn.user_id is None:
            return 401, "Access is denied: authorize first"
        if sim.gate.limited():
            return 429, None
        if not_json is not None:
            return 400, {"errorText": f"request {req.endpoint} #{req.id}: {not_json}"}
        if call.endpoint == "user/syncrequest":
            status, data = sim.sync(conn.user_id, call.body)
            if status == 200:
                conn.accounts |= {a["id"] for a in data["accounts"]}
            return status, data
        try:
            return await sim.dispatch(call.endpoint, conn.user_id, parse_query(req.query), call.body)
        except Exception as exc:  # a simulator bug answers 500, like a server would, and is logged
            log.exception("simulator: %s failed", call.endpoint)
            return 500, {"errorText": f"{type(exc).__name__}: {exc}"}


def _body_or_none(text: str) -> Any:
    try:
        return parse_body(text)
    except BodyNotJSON:
        return None
