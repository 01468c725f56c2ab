"""Minimal SignalR JSON hub protocol: framing, handshake, negotiate. Pure functions, no I/O.

The wire: the client sends ``{"protocol":"json","version":1}`` + 0x1e, the server answers ``{}``
+ 0x1e (or ``{"error": ...}``); after that every message is one JSON object terminated by the
record separator 0x1e, several may share one WebSocket frame. Types used here: 1 invocation,
3 completion, 6 ping, 7 close. Negotiate (``POST <hub>/negotiate?negotiateVersion=1``) answers
``{connectionId, connectionToken, negotiateVersion, availableTransports}``; the WebSocket URL then
carries ``id=<connectionToken>``.
"""

from __future__ import annotations

import json
from enum import IntEnum
from typing import Any
from urllib import parse

RS = "\x1e"
HANDSHAKE_REQUEST = '{"protocol":"json","version":1}' + RS


class MessageType(IntEnum):
    INVOCATION = 1
    STREAM_ITEM = 2
    COMPLETION = 3
    STREAM_INVOCATION = 4
    CANCEL_INVOCATION = 5
    PING = 6
    CLOSE = 7


class SignalRProtocolError(ValueError):
    """A frame that is not valid SignalR JSON; the message says what was wrong."""


def encode(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"), allow_nan=False) + RS


def invocation(target: str, arguments: list[Any], invocation_id: str | None = None) -> str:
    msg: dict[str, Any] = {"type": MessageType.INVOCATION, "target": target, "arguments": arguments}
    if invocation_id is not None:
        msg["invocationId"] = invocation_id
    return encode(msg)


def completion(invocation_id: str, result: Any = None, error: str | None = None) -> str:
    msg: dict[str, Any] = {"type": MessageType.COMPLETION, "invocationId": invocation_id}
    if error is not None:
        msg["error"] = error
    elif result is not None:
        msg["result"] = result
    return encode(msg)


def ping() -> str:
    return encode({"type": MessageType.PING})


def close(error: str | None = None, allow_reconnect: bool | None = None) -> str:
    msg: dict[str, Any] = {"type": MessageType.CLOSE}
    if error is not None:
        msg["error"] = error
    if allow_reconnect is not None:
        msg["allowReconnect"] = allow_reconnect
    return encode(msg)


class FrameDecoder:
    """Splits incoming text into messages; keeps a partial record until its separator arrives."""

    def __init__(self, max_buffer: int = 4 * 1024 * 1024) -> None:
        self._buf = ""
        self.max_buffer = max_buffer

    def feed(self, data: str | bytes) -> list[dict[str, Any]]:
        if isinstance(data, bytes):
            try:
                data = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise SignalRProtocolError(f"frame is not UTF-8 text: {exc}") from None
        self._buf += data
        *records, self._buf = self._buf.split(RS)
        if len(self._buf) > self.max_buffer:
            self._buf = ""
            raise SignalRProtocolError(f"no record separator (0x1e) within {self.max_buffer} bytes")
        return [parse_record(r) for r in records if r.strip()]


def parse_record(record: str) -> dict[str, Any]:
    try:
        msg = json.loads(record)
    except json.JSONDecodeError as exc:
        raise SignalRProtocolError(f"record is not JSON ({exc.msg} at {exc.pos}): {record[:80]!r}") from None
    except RecursionError:
        raise SignalRProtocolError(f"record nests too deep to decode: {record[:80]!r}") from None
    if not isinstance(msg, dict):
        raise SignalRProtocolError(f"record is not a JSON object: {record[:80]!r}")
    return msg


def message_type(msg: dict[str, Any]) -> MessageType | None:
    """The message's type; None for a type this module does not know (to be ignored, per the spec)."""
    t = msg.get("type")
    if not isinstance(t, int) or isinstance(t, bool):
        raise SignalRProtocolError(f"message field 'type' must be an integer, got {t!r}")
    try:
        return MessageType(t)
    except ValueError:
        return None


def parse_handshake_request(text: str) -> tuple[dict[str, Any], str]:
    """Server side: the client's handshake object and whatever followed it."""
    head, sep, rest = text.partition(RS)
    if not sep:
        raise SignalRProtocolError("handshake request is not terminated by 0x1e")
    msg = parse_record(head)
    if msg.get("protocol") != "json":
        raise SignalRProtocolError(f"handshake field 'protocol' must be 'json', got {msg.get('protocol')!r}")
    if msg.get("version") != 1:
        raise SignalRProtocolError(f"handshake field 'version' must be 1, got {msg.get('version')!r}")
    return msg, rest


def parse_handshake_response(text: str) -> str:
    """Client side: raise on a handshake error; return what followed the handshake in the frame."""
    head, sep, rest = text.partition(RS)
    if not sep:
        raise SignalRProtocolError("handshake response is not terminated by 0x1e")
    msg = parse_record(head)
    if msg.get("error"):
        raise SignalRProtocolError(f"hub refused the handshake: {msg['error']}")
    return rest


def negotiate_url(hub_url: str) -> str:
    """``http://h/hubs/user?access_token=t`` -> ``http://h/hubs/user/negotiate?access_token=t&negotiateVersion=1``."""
    scheme, netloc, path, query, _ = parse.urlsplit(hub_url)
    scheme = {"ws": "http", "wss": "https"}.get(scheme, scheme)
    q = parse.parse_qsl(query) + [("negotiateVersion", "1")]
    return parse.urlunsplit((scheme, netloc, path.rstrip("/") + "/negotiate", parse.urlencode(q), ""))


def connection_id(negotiate_response: object) -> str:
    """The id to put on the WebSocket URL, from a negotiate answer; raises naming the missing field."""
    if not isinstance(negotiate_response, dict):
        raise SignalRProtocolError(f"negotiate answer is not a JSON object: {negotiate_response!r:.80}")
    if negotiate_response.get("error"):
        raise SignalRProtocolError(f"negotiate refused: {negotiate_response['error']}")
    version = negotiate_response.get("negotiateVersion", 0)
    key = "connectionToken" if isinstance(version, int) and version >= 1 else "connectionId"
    value = negotiate_response.get(key)
    if not isinstance(value, str) or not value:
        raise SignalRProtocolError(f"negotiate answer has no '{key}' (negotiateVersion {version})")
    transports = negotiate_response.get("availableTransports")
    if isinstance(transports, list) and transports:
        names = {t.get("transport") for t in transports if isinstance(t, dict) and isinstance(t.get("transport"), str)}
        if "WebSockets" not in names:
            raise SignalRProtocolError(f"hub offers no WebSockets transport, only {sorted(map(str, names))}")
    return value


def websocket_url(hub_url: str, conn_id: str | None = None) -> str:
    """The ws(s) URL of a hub, with ``id=`` added when negotiation gave one."""
    scheme, netloc, path, query, _ = parse.urlsplit(hub_url)
    scheme = {"http": "ws", "https": "wss"}.get(scheme, scheme)
    q = parse.parse_qsl(query)
    if conn_id is not None:
        q.append(("id", conn_id))
    return parse.urlunsplit((scheme, netloc, path, parse.urlencode(q), ""))
