"""Tradovate WebSocket framing, both directions (PROTOCOLS.md, Tradovate).

Server to client (SockJS style): ``o`` open, ``h`` heartbeat, ``a[...]`` a JSON array of responses
(``{"i": id, "s": status, "d": data}``) and events (``{"e": "props", "d": {...}}``), ``c[code,"reason"]``
close. Client to server: ``[]`` heartbeat, and requests as ``endpoint\\nid\\nquery\\nbody``
(``authorize\\n0\\n\\n<token>``). Every malformed frame raises :class:`FrameError` naming what is wrong.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from adapters.base import BrokerError

HEARTBEAT = "[]"


class FrameError(BrokerError):
    """A frame that does not follow the Tradovate WebSocket format."""


@dataclass(frozen=True, slots=True)
class Frame:
    kind: Literal["open", "heartbeat", "array", "close"]
    items: tuple[Any, ...] = ()
    code: int = 0
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Request:
    endpoint: str
    id: int
    query: str = ""
    body: str = ""

    def json_body(self) -> Any:
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except (ValueError, RecursionError) as exc:  # RecursionError: nesting too deep
            raise FrameError(f"request {self.endpoint} #{self.id}: body is not JSON ({exc})") from None


@dataclass(frozen=True, slots=True)
class Response:
    id: int
    status: int
    data: Any = None


@dataclass(frozen=True, slots=True)
class Event:
    name: str
    data: Any = field(default=None)


def _short(text: str, n: int = 80) -> str:
    return text if len(text) <= n else text[:n] + "..."


def parse_server_frame(text: str) -> Frame:
    if not text:
        raise FrameError("empty frame")
    head, rest = text[0], text[1:]
    if head == "o" and not rest:
        return Frame("open")
    if head == "h" and not rest:
        return Frame("heartbeat")
    if head == "a":
        try:
            items = json.loads(rest)
        except (ValueError, RecursionError) as exc:  # RecursionError: nesting too deep
            raise FrameError(f"'a' frame is not a JSON array ({exc}): {_short(text)!r}") from None
        if not isinstance(items, list):
            raise FrameError(f"'a' frame must carry a JSON array, got {type(items).__name__}")
        return Frame("array", tuple(items))
    if head == "c":
        try:
            body = json.loads(rest)
        except (ValueError, RecursionError) as exc:  # RecursionError: nesting too deep
            raise FrameError(f"'c' frame is not JSON ({exc}): {_short(text)!r}") from None
        if not (isinstance(body, list) and len(body) >= 1 and isinstance(body[0], int)):
            raise FrameError(f"'c' frame must be [code, \"reason\"], got {_short(rest)!r}")
        return Frame("close", code=body[0], reason=str(body[1]) if len(body) > 1 else "")
    raise FrameError(f"unknown frame type {head!r}: {_short(text)!r}")


def classify(item: Any) -> Response | Event:
    """One element of an ``a[...]`` frame: a response to a request or a server event."""
    if not isinstance(item, dict):
        raise FrameError(f"array item must be an object, got {type(item).__name__}")
    if "e" in item:
        if not isinstance(item["e"], str):
            raise FrameError("event field 'e' must be a string")
        return Event(item["e"], item.get("d"))
    if "i" in item and "s" in item:
        rid, status = item["i"], item["s"]
        if isinstance(rid, str) and rid.isdigit():
            rid = int(rid)
        if not isinstance(rid, int) or not isinstance(status, int):
            raise FrameError(f"response needs integer 'i' and 's', got i={rid!r} s={status!r}")
        return Response(rid, status, item.get("d"))
    raise FrameError(f"array item is neither an event ('e') nor a response ('i', 's'): keys {sorted(item)}")


def encode_request(endpoint: str, request_id: int, body: Any = None, query: str = "") -> str:
    if "\n" in endpoint or "\n" in query:
        raise ValueError("endpoint and query must not contain newlines")
    if body is None:
        text = ""
    elif isinstance(body, str):
        text = body
    else:
        text = orjson.dumps(body).decode()  # compact, as json.dumps with separators; a few us less an order
    return f"{endpoint}\n{request_id}\n{query}\n{text}"


def parse_client_message(text: str) -> Request | None:
    """What a client sent: ``None`` for a heartbeat, else the request."""
    if text == HEARTBEAT:
        return None
    parts = text.split("\n", 3)
    if len(parts) < 2:
        raise FrameError(f"request must be endpoint\\nid\\nquery\\nbody, got {_short(text)!r}")
    endpoint, rid = parts[0], parts[1]
    if not endpoint or not rid.isdigit():
        raise FrameError(f"request needs an endpoint and a numeric id, got {_short(text)!r}")
    query = parts[2] if len(parts) > 2 else ""
    body = parts[3] if len(parts) > 3 else ""
    return Request(endpoint, int(rid), query, body)


def encode_array(items: list[Any]) -> str:
    return "a" + json.dumps(items, separators=(",", ":"))


def encode_response(request_id: int, status: int, data: Any = None) -> str:
    item: dict[str, Any] = {"s": status, "i": request_id}
    if data is not None:
        item["d"] = data
    return encode_array([item])


def encode_close(code: int, reason: str) -> str:
    return "c" + json.dumps([code, reason])
