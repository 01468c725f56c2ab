"""The bridge's lines: a message to bytes and back, validated (:class:`WireError` says what is
wrong with a line), each direction's sequence numbers (:class:`SeqCheck`), the hello's proof of the
token, and the magic number an order carries beside its comment. The messages themselves are in
:mod:`adapters.mt.protocol`."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from pydantic import TypeAdapter, ValidationError

from adapters.mt.protocol import (
    MAX_LINE,
    CopytuiMessage,
    DealEvent,
    Heartbeat,
    Hello,
    Message,
    OrderEvent,
    Reply,
    TerminalMessage,
)

_from_terminal: TypeAdapter[Hello | Reply | OrderEvent | DealEvent | Heartbeat] = TypeAdapter(TerminalMessage)
_from_copytui: TypeAdapter[Message] = TypeAdapter(CopytuiMessage)


class WireError(ValueError):
    """A line that is not a valid message; ``seq`` is its sequence number when it could be read."""

    def __init__(self, why: str, seq: int | None = None) -> None:
        super().__init__(why)
        self.seq = seq


def encode(message: Message) -> bytes:
    """One line: the message's JSON (every field written out) and a newline."""
    return message.model_dump_json().encode() + b"\n"


def _load(line: bytes) -> dict[str, Any]:
    if len(line) > MAX_LINE:
        raise WireError(f"line of {len(line)} bytes is longer than {MAX_LINE}")
    try:
        data = json.loads(line)
    except (ValueError, UnicodeDecodeError) as exc:
        raise WireError(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise WireError(f"not a JSON object but {type(data).__name__}")
    return data


def _why(exc: ValidationError, tag: object) -> str:
    first = exc.errors()[0]
    loc = first["loc"][1:] if first["loc"][:1] == (tag,) else first["loc"]  # the union's tag: the message itself
    where = ".".join(str(p) for p in loc) or "message"
    return f"{where}: {first['msg']}" + (f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else "")


def _seq_of(data: dict[str, Any]) -> int | None:
    seq = data.get("seq")
    return seq if isinstance(seq, int) and not isinstance(seq, bool) and seq > 0 else None


def decode_terminal(line: bytes) -> Hello | Reply | OrderEvent | DealEvent | Heartbeat:
    """A message from the terminal, or :class:`WireError` saying what is wrong with it."""
    data = _load(line)
    try:
        return _from_terminal.validate_python(data)
    except ValidationError as exc:
        tag = data.get("type", "?")
        raise WireError(f"{tag} refused: {_why(exc, tag)}", _seq_of(data)) from None


def decode_copytui(line: bytes) -> Message:
    """A message from copytui (what the EA and its stand-in read), or :class:`WireError`."""
    data = _load(line)
    try:
        return _from_copytui.validate_python(data)
    except ValidationError as exc:
        tag = data.get("op", data.get("type", "?"))
        raise WireError(f"{tag} refused: {_why(exc, tag)}", _seq_of(data)) from None


def proof(token: str, nonce: str, login: int) -> str:
    """The hello's proof that the terminal knows the account's token."""
    return hmac.new(token.encode(), f"{nonce}:{login}".encode(), hashlib.sha256).hexdigest()


def magic_of(client_order_id: str) -> int:
    """The magic number an order of ``client_order_id`` carries beside its comment: 31 bits (MT4's
    magic is an int), never 0 (a manual trade's), the same for every order of one client id."""
    digest = int.from_bytes(hashlib.blake2b(client_order_id.encode(), digest_size=4).digest(), "big")
    return (digest & 0x7FFFFFFF) or 1


class SeqCheck:
    """Sequence numbers of one direction of one connection."""

    def __init__(self) -> None:
        self.last = 0

    def take(self, seq: int) -> str | None:
        """None when ``seq`` is the next one; otherwise why it is not (and the count moves past a gap)."""
        if seq == self.last + 1:
            self.last = seq
            return None
        if seq <= self.last:
            return f"seq {seq} repeats (last was {self.last})"
        lost = f"{self.last + 1}" if seq == self.last + 2 else f"{self.last + 1}..{seq - 1}"
        self.last = seq
        return f"seq {lost} never arrived"
