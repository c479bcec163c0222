"""Nested values (ARRAY, MAP, STRUCT) to and from their binary encoding
(docs/table-format.md §7.4), which a packed row carries after a length, as a
STRING:

  array  = count:varint  bitmap(count)  element*        (the non-NULL elements)
  map    = count:varint  bitmap(count)  (key value?)*   (bitmap over the values)
  struct = bitmap(fields)  field*                       (the non-NULL fields)

each child encoded as a value column of its type (a nested child with its own
length); bit i of the bitmap (byte i // 8, least significant first) set means
entry i is NULL.

Python values: an ARRAY is a list (any sequence but str/bytes is accepted); a
MAP a dict of key to value (a sequence of (key, value) pairs is accepted; a
key is never None, and a repeated key is refused); a STRUCT a dict of field
name to value (a missing field is NULL, an unknown one is refused). Leaves
take and give what a column of their type does (codec.py). A map read back is
a dict in the order the entries were stored; a stored map that repeats a key
(which only another packed-row writer can store) reads as its last value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Callable, Dict, List, Tuple

from .errors import InvalidRecordError
from .schema import ColumnInfo

Encoder = Callable[[Any], bytes]
Decoder = Callable[[bytes, int], Tuple[Any, int]]


class _Refused(Exception):
    """A value refused at `place` inside a nested column."""

    def __init__(self, place: str, col: ColumnInfo, reason: str) -> None:
        super().__init__(reason)
        self.place, self.col, self.reason = place, col, reason

    def inside(self, outer: str) -> "_Refused":
        return _Refused(outer + self.place, self.col, self.reason)


def _varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _bitmap(nulls: List[bool]) -> bytearray:
    bits = bytearray((len(nulls) + 7) // 8)
    for i, is_null in enumerate(nulls):
        if is_null:
            bits[i >> 3] |= 1 << (i & 7)
    return bits


def _type_name(v: Any) -> str:
    return type(v).__name__


def nested_encoder(col: ColumnInfo, leaf_encoder: Callable[[ColumnInfo], Encoder],
                   max_bytes: int) -> Encoder:
    """The packed-row bytes (length, then the encoding) of one non-NULL value of
    the nested column `col`; raises InvalidRecordError naming the column and the
    place inside it, e.g. "column 'm' (MAP<STRING,ARRAY<INT>>): {k}[1] (INT):
    expected int, got str 'x'". `leaf_encoder(child)` gives the packed bytes of
    a flat child; `max_bytes` bounds the whole encoding (the server's
    max_value_bytes)."""
    body = _body_encoder(col, leaf_encoder)

    def enc(v: Any) -> bytes:
        try:
            data = body(v)
        except _Refused as e:
            where = f"{e.place} ({e.col.type}): " if e.place else ""
            raise InvalidRecordError(f"column '{col.name}' ({col.type}): {where}{e.reason}",
                                     col.name) from None
        if len(data) > max_bytes:
            raise InvalidRecordError(f"column '{col.name}' ({col.type}): value of {len(data)} "
                                     f"bytes exceeds max_value_bytes ({max_bytes})", col.name)
        return _varint(len(data)) + data
    return enc


def _child_encoder(child: ColumnInfo, leaf_encoder: Callable[[ColumnInfo], Encoder]) -> Encoder:
    """A child's bytes as a value column: a nested one after its length."""
    if child.children:
        body = _body_encoder(child, leaf_encoder)
        return lambda v: _varint(len(d := body(v))) + d
    leaf = leaf_encoder(child)
    prefix = f"column '{child.name}' ({child.type}): "

    def enc(v: Any) -> bytes:
        try:
            return leaf(v)
        except InvalidRecordError as e:
            message = str(e.args[0]) if e.args else str(e)
            raise _Refused("", child, message[len(prefix):] if message.startswith(prefix)
                           else message) from None
    return enc


def _body_encoder(col: ColumnInfo, leaf_encoder: Callable[[ColumnInfo], Encoder]) -> Encoder:
    if col.base == "ARRAY":
        element = _child_encoder(col.children[0], leaf_encoder)

        def enc_array(v: Any) -> bytes:
            if isinstance(v, (str, bytes, bytearray, Mapping)) or not isinstance(v, Sequence):
                raise _Refused("", col, f"expected a list, got {_type_name(v)} {v!r:.60}")
            parts = []
            for i, x in enumerate(v):
                if x is not None:
                    try:
                        parts.append(element(x))
                    except _Refused as e:
                        raise e.inside(f"[{i}]") from None
            return _varint(len(v)) + _bitmap([x is None for x in v]) + b"".join(parts)
        return enc_array
    if col.base == "MAP":
        key_col = col.children[0]
        key, value = _child_encoder(key_col, leaf_encoder), _child_encoder(col.children[1], leaf_encoder)

        def enc_map(v: Any) -> bytes:
            if isinstance(v, Mapping):
                pairs = list(v.items())
            elif isinstance(v, Sequence) and not isinstance(v, (str, bytes, bytearray)):
                pairs = list(v)
                if any(not isinstance(p, Sequence) or isinstance(p, (str, bytes, bytearray))
                       or len(p) != 2 for p in pairs):
                    raise _Refused("", col, "expected a dict or a list of (key, value) pairs")
                try:
                    if len({k for k, _ in pairs}) != len(pairs):
                        raise _Refused("", col, "a key appears more than once")
                except TypeError:
                    pass  # unhashable keys: the key encoder refuses them below
            else:
                raise _Refused("", col, f"expected a dict, got {_type_name(v)} {v!r:.60}")
            parts = []
            for i, (k, x) in enumerate(pairs):
                if k is None:
                    raise _Refused(f"{{key {i}}}", key_col, "a MAP key cannot be NULL")
                try:
                    parts.append(key(k))
                except _Refused as e:
                    raise e.inside(f"{{key {i}}}") from None
                if x is not None:
                    try:
                        parts.append(value(x))
                    except _Refused as e:
                        raise e.inside(f"{{{k}}}") from None
            return _varint(len(pairs)) + _bitmap([x is None for _, x in pairs]) + b"".join(parts)
        return enc_map
    fields = [(f.name, _child_encoder(f, leaf_encoder)) for f in col.children]
    names = frozenset(f.name for f in col.children)

    def enc_struct(v: Any) -> bytes:
        if not isinstance(v, Mapping):
            raise _Refused("", col, f"expected a dict of fields, got {_type_name(v)} {v!r:.60}")
        unknown = [k for k in v if k not in names]
        if unknown:
            raise _Refused("", col, f"no field {unknown[0]!r} (fields: {', '.join(sorted(names))})")
        parts, nulls = [], []
        for name, enc in fields:
            x = v.get(name)
            nulls.append(x is None)
            if x is not None:
                try:
                    parts.append(enc(x))
                except _Refused as e:
                    raise e.inside(f".{name}") from None
        return bytes(_bitmap(nulls)) + b"".join(parts)
    return enc_struct


class NestedDecodeError(ValueError):
    """Nested bytes that do not parse against the type."""


def _read_varint(data: bytes, pos: int) -> Tuple[int, int]:
    n = shift = 0
    while True:
        b = data[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        if b < 0x80:
            return n, pos
        shift += 7
        if shift > 63:
            raise NestedDecodeError("varint longer than 64 bits")


def nested_decoder(col: ColumnInfo, leaf_decoder: Callable[[ColumnInfo], Decoder]) -> Decoder:
    """Reads one non-NULL value of the nested column `col` from packed-row bytes
    at `pos` (its length, then the encoding); returns the value and the position
    after it. Raises NestedDecodeError (or IndexError at the end of the data)
    on bytes that do not parse."""
    body = _body_decoder(col, leaf_decoder)

    def dec(data: bytes, pos: int) -> Tuple[Any, int]:
        n, pos = _read_varint(data, pos)
        end = pos + n
        if end > len(data):
            raise NestedDecodeError(f"column '{col.name}': value runs past the end")
        v, after = body(data, pos, end)
        if after != end:
            raise NestedDecodeError(f"column '{col.name}': {end - after} bytes left in the value")
        return v, end
    return dec


BodyDecoder = Callable[[bytes, int, int], Tuple[Any, int]]


def _child_decoder(child: ColumnInfo, leaf_decoder: Callable[[ColumnInfo], Decoder]) -> Decoder:
    if child.children:
        return nested_decoder(child, leaf_decoder)
    return leaf_decoder(child)


def _nulls(data: bytes, pos: int, count: int, end: int) -> Tuple[List[bool], int]:
    size = (count + 7) // 8
    if pos + size > end:
        raise NestedDecodeError("truncated null bitmap")
    bits = data[pos:pos + size]
    return [bool(bits[i >> 3] >> (i & 7) & 1) for i in range(count)], pos + size


def _count(data: bytes, pos: int, end: int) -> Tuple[int, int]:
    count, pos = _read_varint(data, pos)
    if count > (end - pos) * 8:
        raise NestedDecodeError(f"count {count} exceeds the bytes left")
    return count, pos


def _body_decoder(col: ColumnInfo, leaf_decoder: Callable[[ColumnInfo], Decoder]) -> BodyDecoder:
    if col.base == "ARRAY":
        element = _child_decoder(col.children[0], leaf_decoder)

        def dec_array(data: bytes, pos: int, end: int) -> Tuple[Any, int]:
            count, pos = _count(data, pos, end)
            nulls, pos = _nulls(data, pos, count, end)
            out: List[Any] = []
            for is_null in nulls:
                if is_null:
                    out.append(None)
                else:
                    x, pos = element(data, pos)
                    out.append(x)
            return out, pos
        return dec_array
    if col.base == "MAP":
        key = _child_decoder(col.children[0], leaf_decoder)
        value = _child_decoder(col.children[1], leaf_decoder)

        def dec_map(data: bytes, pos: int, end: int) -> Tuple[Any, int]:
            count, pos = _count(data, pos, end)
            nulls, pos = _nulls(data, pos, count, end)
            out: Dict[Any, Any] = {}
            for is_null in nulls:
                k, pos = key(data, pos)
                if is_null:
                    out[k] = None
                else:
                    out[k], pos = value(data, pos)
            return out, pos
        return dec_map
    fields = [(f.name, _child_decoder(f, leaf_decoder)) for f in col.children]

    def dec_struct(data: bytes, pos: int, end: int) -> Tuple[Any, int]:
        nulls, pos = _nulls(data, pos, len(fields), end)
        out: Dict[str, Any] = {}
        for (name, dec), is_null in zip(fields, nulls):
            if is_null:
                out[name] = None
            else:
                out[name], pos = dec(data, pos)
        return out, pos
    return dec_struct
