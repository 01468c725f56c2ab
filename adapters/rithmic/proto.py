"""The protobuf wire format, as far as R|Protocol uses it, and Rithmic's framing.

R|Protocol messages are flat protobuf messages whose fields are strings, 32/64-bit integers and
enums (varints), doubles and booleans, some of them repeated (``user_msg``, ``rp_code``). That is
a small part of protobuf, written out here so the adapter needs no protobuf runtime: a message is a
dataclass whose fields are declared with :func:`text`, :func:`integer`, :func:`real`, :func:`flag`,
:func:`texts` or :func:`flags` and the field number of Rithmic's ``.proto`` definitions
(:mod:`adapters.rithmic.messages`).

Encoding writes the fields that differ from their default (proto3), in field-number order, as the
protobuf runtime does, so our bytes equal async-rithmic's for the same message. Decoding accepts
fields in any order, repeated scalars packed or not (Rithmic's servers send them unpacked, as
proto2 did), skips fields it does not know, and refuses a known field of the wrong wire type or a
truncated buffer with :class:`MalformedFrame`.

Framing: each WebSocket binary message is a 4-byte big-endian length and the protobuf body; the
body's ``template_id`` (field 154467) says which message it is.
"""

from __future__ import annotations

import dataclasses
import enum
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

TEMPLATE_FIELD = 154467
MAX_FRAME = 4 * 1024 * 1024
"""No R|Protocol message comes near this; a longer length prefix is a broken stream."""


class MalformedFrame(ValueError):
    """A frame that does not decode; the text names the field and stays free of payload values."""


class Kind(enum.Enum):
    TEXT = enum.auto()
    INTEGER = enum.auto()
    REAL = enum.auto()
    FLAG = enum.auto()
    TEXTS = enum.auto()
    FLAGS = enum.auto()


_WIRE = {  # the wire type each kind is written with
    Kind.TEXT: 2,
    Kind.INTEGER: 0,
    Kind.REAL: 1,
    Kind.FLAG: 0,
    Kind.TEXTS: 2,
    Kind.FLAGS: 0,
}


def _field(
    number: int, kind: Kind, default: Any = dataclasses.MISSING, factory: Any = dataclasses.MISSING, shown: bool = True
) -> Any:
    return dataclasses.field(default=default, default_factory=factory, repr=shown, metadata={"pb": (number, kind)})


def text(number: int, *, secret: bool = False) -> Any:
    """A ``string`` field; ``secret``: left out of the message's repr (a password)."""
    return _field(number, Kind.TEXT, "", shown=not secret)


def integer(number: int) -> Any:
    """An ``int32``, ``int64``, ``uint32``, ``uint64`` or enum field (all varints)."""
    return _field(number, Kind.INTEGER, 0)


def real(number: int) -> Any:
    """A ``double`` field."""
    return _field(number, Kind.REAL, 0.0)


def flag(number: int) -> Any:
    """A ``bool`` field."""
    return _field(number, Kind.FLAG, False)


def texts(number: int) -> Any:
    """A ``repeated string`` field."""
    return _field(number, Kind.TEXTS, factory=list)


def flags(number: int) -> Any:
    """A ``repeated bool`` field."""
    return _field(number, Kind.FLAGS, factory=list)


class Message:
    """A Rithmic message: a dataclass of declared fields with its template id."""

    __slots__ = ()
    TEMPLATE: ClassVar[int]


M = TypeVar("M", bound=Message)


@dataclass(frozen=True, slots=True)
class FieldSpec:
    name: str
    number: int
    kind: Kind
    key: bytes
    """The encoded tag (field number and wire type)."""


@dataclass(frozen=True, slots=True)
class MessageSpec:
    cls: type[Message]
    fields: tuple[FieldSpec, ...]
    """In field-number order, the template id among them (name ``""``)."""
    by_number: Mapping[int, FieldSpec]
    by_tag: Mapping[int, FieldSpec]
    """By tag (number << 3 | the wire type the field is written with)."""


_SPECS: dict[type[Message], MessageSpec] = {}
_TAGS: dict[bytes, int] = {}
"""Every declared field's encoded tag (three bytes for R|Protocol's numbers) -> the tag's value."""
_TEMPLATE_TAG = TEMPLATE_FIELD << 3


def varint(value: int) -> bytes:
    if value < 0:
        value += 1 << 64  # int32/int64 negatives are ten-byte two's complement
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def register(*classes: type[Message]) -> dict[int, type[Message]]:
    """Read each class's declared fields once; the template id -> class map."""
    out: dict[int, type[Message]] = {}
    for cls in classes:
        specs = [FieldSpec("", TEMPLATE_FIELD, Kind.INTEGER, varint(TEMPLATE_FIELD << 3))]
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]  # every Message subclass is a dataclass
            number, kind = f.metadata["pb"]
            specs.append(FieldSpec(f.name, number, kind, varint(number << 3 | _WIRE[kind])))
        specs.sort(key=lambda s: s.number)
        numbers = [s.number for s in specs]
        if len(set(numbers)) != len(numbers):
            raise TypeError(f"{cls.__name__}: a field number is declared twice")
        if cls.TEMPLATE in out:
            raise TypeError(f"template {cls.TEMPLATE} is declared by {out[cls.TEMPLATE].__name__} and {cls.__name__}")
        tags = {s.number << 3 | _WIRE[s.kind]: s for s in specs if s.name}  # the template id apart
        _SPECS[cls] = MessageSpec(cls, tuple(specs), {s.number: s for s in specs}, tags)
        for s in specs:
            if len(s.key) == 3:
                _TAGS[s.key] = s.number << 3 | _WIRE[s.kind]
        out[cls.TEMPLATE] = cls
    return out


def spec_of(cls: type[Message]) -> MessageSpec:
    return _SPECS[cls]


# ------------------------------------------------------------------ encoding
def _put(out: bytearray, f: FieldSpec, value: Any) -> None:
    kind = f.kind
    if kind is Kind.TEXT:
        if value:
            raw = value.encode()
            out += f.key
            out += varint(len(raw))
            out += raw
    elif kind is Kind.INTEGER:
        if value:
            out += f.key
            out += varint(int(value))
    elif kind is Kind.REAL:
        if value:
            out += f.key
            out += struct.pack("<d", value)
    elif kind is Kind.FLAG:
        if value:
            out += f.key
            out += b"\x01"
    elif kind is Kind.TEXTS:
        for item in value:
            raw = item.encode()
            out += f.key
            out += varint(len(raw))
            out += raw
    else:  # FLAGS, unpacked as Rithmic's proto2 servers send them
        for item in value:
            out += f.key
            out += b"\x01" if item else b"\x00"


def encode(msg: Message) -> bytes:
    """The protobuf body of ``msg`` (fields at their default are left out, as proto3 does)."""
    out = bytearray()
    for f in _SPECS[type(msg)].fields:
        if f.number == TEMPLATE_FIELD:
            out += f.key
            out += varint(msg.TEMPLATE)
        else:
            _put(out, f, getattr(msg, f.name))
    return bytes(out)


def encode_fields(cls: type[Message], *, with_template: bool = False, **values: Any) -> bytes:
    """Some of ``cls``'s fields only, to be joined with others: a pre-built part of a frame (the
    order path builds each account's and contract's constant fields once). Protobuf readers take
    fields in any order, so parts may be concatenated."""
    spec = _SPECS[cls]
    out = bytearray()
    for f in spec.fields:
        if f.number == TEMPLATE_FIELD:
            if with_template:
                out += f.key
                out += varint(cls.TEMPLATE)
        elif f.name in values:
            _put(out, f, values.pop(f.name))
    if values:
        raise TypeError(f"{cls.__name__} has no field(s) {', '.join(sorted(values))}")
    return bytes(out)


def framed(body: bytes) -> bytes:
    return len(body).to_bytes(4, "big") + body


def frame(msg: Message) -> bytes:
    """``msg`` as one WebSocket binary message: length prefix and body."""
    return framed(encode(msg))


# ------------------------------------------------------------------ decoding
def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if pos >= len(buf):
            raise MalformedFrame("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise MalformedFrame("varint longer than ten bytes")


def _raw_fields(body: bytes) -> list[tuple[int, int | bytes]]:
    """(tag, varint value or raw bytes) of each field in ``body``; tag = number << 3 | wire type."""
    out: list[tuple[int, int | bytes]] = []
    known = _TAGS
    pos, end = 0, len(body)
    while pos < end:
        key = known.get(body[pos : pos + 3])  # R|Protocol's tags are three bytes: the common case first
        if key is None:
            key, pos = _read_varint(body, pos)
            if key >> 3 == 0:
                raise MalformedFrame("field number 0")
        else:
            pos += 3
        wire = key & 7
        if wire == 0:
            if pos < end and body[pos] < 0x80:
                out.append((key, body[pos]))
                pos += 1
            else:
                value, pos = _read_varint(body, pos)
                out.append((key, value))
        elif wire == 2:
            if pos < end and body[pos] < 0x80:
                length = body[pos]
                pos += 1
            else:
                length, pos = _read_varint(body, pos)
            if pos + length > end:
                raise MalformedFrame(f"field {key >> 3}: length {length} runs past the end")
            out.append((key, body[pos : pos + length]))
            pos += length
        elif wire == 1 or wire == 5:
            size = 8 if wire == 1 else 4
            if pos + size > end:
                raise MalformedFrame(f"field {key >> 3}: truncated {size * 8}-bit value")
            out.append((key, body[pos : pos + size]))
            pos += size
        else:
            raise MalformedFrame(f"field {key >> 3}: wire type {wire} is not used by R|Protocol")
    return out


def _packed_bools(raw: bytes) -> Iterator[bool]:
    pos = 0
    while pos < len(raw):
        value, pos = _read_varint(raw, pos)
        yield value != 0


_DOUBLE = struct.Struct("<d").unpack


def decode(body: bytes, templates: Mapping[int, type[Message]]) -> Message | int:
    """The message in ``body``; its bare template id when ``templates`` does not know it."""
    raw = _raw_fields(body)
    template = next((v for k, v in raw if k == _TEMPLATE_TAG), None)
    if not isinstance(template, int):
        raise MalformedFrame("no template_id (field 154467)")
    cls = templates.get(template)
    if cls is None:
        return template
    spec = _SPECS[cls]
    by_tag = spec.by_tag
    values: dict[str, Any] = {}
    for key, value in raw:
        f = by_tag.get(key)
        if f is None:
            f = spec.by_number.get(key >> 3)
            if f is None or key == _TEMPLATE_TAG:
                continue  # a field this copytui does not read (Rithmic adds fields over time)
            if f.kind is Kind.FLAGS and isinstance(value, bytes):
                values.setdefault(f.name, []).extend(_packed_bools(value))
                continue
            raise MalformedFrame(f"{cls.__name__}.{f.name} ({f.number}) came with wire type {key & 7}")
        kind = f.kind
        if kind is Kind.TEXT:
            try:
                values[f.name] = value.decode()  # type: ignore[union-attr]  # wire type 2: bytes
            except UnicodeDecodeError:
                raise MalformedFrame(f"{cls.__name__}.{f.name} ({f.number}) is not UTF-8 text") from None
        elif kind is Kind.INTEGER:
            values[f.name] = value - (1 << 64) if value >= 1 << 63 else value  # type: ignore[operator]  # wire type 0: int
        elif kind is Kind.REAL:
            values[f.name] = _DOUBLE(value)[0]  # type: ignore[arg-type]  # wire type 1: 8 bytes
        elif kind is Kind.FLAG:
            values[f.name] = value != 0
        elif kind is Kind.TEXTS:
            try:
                values.setdefault(f.name, []).append(value.decode())  # type: ignore[union-attr]  # as TEXT
            except UnicodeDecodeError:
                raise MalformedFrame(f"{cls.__name__}.{f.name} ({f.number}) is not UTF-8 text") from None
        else:
            values.setdefault(f.name, []).append(value != 0)
    return cls(**values)


def unframe(data: bytes) -> list[bytes]:
    """The protobuf bodies in one WebSocket binary message (normally one), all checked first."""
    bodies: list[bytes] = []
    pos, end = 0, len(data)
    if end < 4:
        raise MalformedFrame(f"a frame of {end} bytes has no 4-byte length prefix")
    while pos < end:
        if pos + 4 > end:
            raise MalformedFrame(f"{end - pos} stray bytes after the last frame")
        length = int.from_bytes(data[pos : pos + 4], "big", signed=True)
        if length < 0 or length > MAX_FRAME or pos + 4 + length > end:
            raise MalformedFrame(f"length prefix {length} does not fit a message of {end - pos - 4} bytes")
        bodies.append(data[pos + 4 : pos + 4 + length])
        pos += 4 + length
    return bodies
