"""Packed rows (docs/protocol.md, "Row encoding") to and from Python values.

Python types per column type:

  BOOLEAN bool; TINYINT, SMALLINT, INT, BIGINT int; FLOAT, DOUBLE float (an int
  is accepted); DECIMAL(p,s) decimal.Decimal (an int is accepted; a value with
  more than s fractional digits is refused, never rounded); STRING str; BINARY
  bytes (bytearray and memoryview are accepted); DATE datetime.date; DATETIME a
  timezone-aware datetime.datetime with whole milliseconds (read back in UTC);
  TIMESTAMP int nanoseconds since 1970-01-01 UTC (a timezone-aware datetime is
  accepted; reads give the int, see timestamp_to_datetime); TIMESTAMP_LTZ(p)
  the same as TIMESTAMP, with no digits finer than p (a value that has some is
  refused, never rounded); ARRAY list, MAP dict, STRUCT dict of fields (nested.py);
  NULL None.

RowEncoder compiles, once per schema, a function that packs a row whose
columns are all present with one precompiled struct.Struct per run of
fixed-width columns. A row with NULLs, or one that fails that path, goes
through the column-by-column path, which also finds the column to name in an
InvalidRecordError. The encoder never sends a value the server would refuse
for its type, except a STRING or BINARY above the server's max_value_bytes
when that limit was raised above the default.
"""

from __future__ import annotations

import datetime
import decimal
import struct
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Tuple

from .errors import InvalidRecordError
from .nested import NestedDecodeError, _read_varint, _varint, nested_decoder, nested_encoder
from .schema import NESTED, ColumnInfo, TableSchema

UPSERT = 1
DELETE = 2

#: The server's default limit on one STRING or BINARY value (WireLimits).
MAX_VALUE_BYTES = 16 << 20

UTC = datetime.timezone.utc
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL = datetime.date(1970, 1, 1).toordinal()
_MS = datetime.timedelta(milliseconds=1)
_DATETIME_MIN_MS = -62135596800000
_DATETIME_MAX_MS = 253402300799999
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1

_INT_FORMATS = {"TINYINT": ("b", 8), "SMALLINT": ("h", 16), "INT": ("i", 32), "BIGINT": ("q", 64)}


def timestamp_to_datetime(nanos: int) -> datetime.datetime:
    """A TIMESTAMP value (ns since the epoch) as an aware UTC datetime, truncated to
    microseconds."""
    return EPOCH + datetime.timedelta(microseconds=nanos // 1000)


def _fail(col: ColumnInfo, reason: str) -> InvalidRecordError:
    return InvalidRecordError(f"column '{col.name}' ({col.type}): {reason}", col.name)


def _type_name(v: Any) -> str:
    return type(v).__name__


# -- value converters: each returns what goes into the struct (or the bytes), or
# raises InvalidRecordError naming the column -------------------------------------


def _bool_converter(col: ColumnInfo) -> Callable[[Any], int]:
    def conv(v: Any) -> int:
        if v is True:
            return 1
        if v is False:
            return 0
        raise _fail(col, f"expected bool, got {_type_name(v)} {v!r}")
    return conv


def _date_converter(col: ColumnInfo) -> Callable[[Any], int]:
    def conv(v: Any) -> int:
        if isinstance(v, datetime.datetime) or not isinstance(v, datetime.date):
            raise _fail(col, f"expected datetime.date, got {_type_name(v)} {v!r}")
        return v.toordinal() - _EPOCH_ORDINAL
    return conv


def _aware_delta(col: ColumnInfo, v: Any) -> datetime.timedelta:
    if not isinstance(v, datetime.datetime):
        raise _fail(col, f"expected a timezone-aware datetime.datetime, got {_type_name(v)} {v!r}")
    if v.utcoffset() is None:
        raise _fail(col, f"naive datetime {v.isoformat()}: give it a tzinfo (e.g. timezone.utc)")
    return v - EPOCH


def _datetime_converter(col: ColumnInfo) -> Callable[[Any], int]:
    def conv(v: Any) -> int:
        delta = _aware_delta(col, v)
        if delta.microseconds % 1000:
            raise _fail(col, f"{v.isoformat()} has sub-millisecond digits; DATETIME holds milliseconds")
        ms = delta // _MS
        if not _DATETIME_MIN_MS <= ms <= _DATETIME_MAX_MS:
            raise _fail(col, f"{v.isoformat()} is out of range (years 0001 to 9999 UTC)")
        return ms
    return conv


def _timestamp_converter(col: ColumnInfo) -> Callable[[Any], int]:
    # TIMESTAMP_LTZ(p): nanoseconds must be a multiple of 10^(9-p).
    unit = 10 ** (9 - col.precision) if col.base == "TIMESTAMP_LTZ" else 1

    def conv(v: Any) -> int:
        if isinstance(v, int) and not isinstance(v, bool):
            ns = v
        else:
            delta = _aware_delta(col, v)
            ns = (delta.days * 86400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000
        if not _INT64_MIN <= ns <= _INT64_MAX:
            raise _fail(col, f"{v!r} is out of range (int64 nanoseconds since 1970, "
                             f"about 1677-09-21 to 2262-04-11)")
        if ns % unit:
            raise _fail(col, f"{v!r} has digits finer than the precision {col.precision}")
        return ns
    return conv


def _decimal_converter(col: ColumnInfo) -> Callable[[Any], bytes]:
    precision, scale = col.precision, col.scale
    limit = 10 ** precision

    def conv(v: Any) -> bytes:
        if isinstance(v, bool) or not isinstance(v, (int, decimal.Decimal)):
            raise _fail(col, f"expected decimal.Decimal or int, got {_type_name(v)} {v!r}")
        if isinstance(v, int):
            unscaled = v * 10 ** scale
        else:
            if not v.is_finite():
                raise _fail(col, f"{v} is not a finite number")
            sign, digits, exponent = v.as_tuple()
            unscaled = int("".join(map(str, digits)) or "0")
            shift = exponent + scale
            if shift >= 0:
                unscaled *= 10 ** shift
            else:
                # More fractional digits than the scale: only zeros may go.
                unscaled, dropped = divmod(unscaled, 10 ** -shift)
                if dropped:
                    raise _fail(col, f"{v} has more than {scale} fractional digits")
            if sign:
                unscaled = -unscaled
        if not -limit < unscaled < limit:
            raise _fail(col, f"{v} does not fit (more than {precision} digits)")
        return unscaled.to_bytes(16, "little", signed=True)
    return conv


def _number_encoder(col: ColumnInfo) -> Callable[[Any], bytes]:
    """Integers, FLOAT and DOUBLE: whatever struct packs (bool and objects with
    __index__ or __float__ included, as on the fast path), else a named error."""
    code = _INT_FORMATS[col.base][0] if col.base in _INT_FORMATS else col.base[0].lower()
    pack = struct.Struct("<" + code).pack
    integral = col.base in _INT_FORMATS

    def enc(v: Any) -> bytes:
        try:
            return pack(v)
        except (struct.error, OverflowError, TypeError):
            pass
        if integral and not hasattr(v, "__index__"):
            raise _fail(col, f"expected int, got {_type_name(v)} {v!r:.60}")
        if not integral and not isinstance(v, (int, float)) and not hasattr(v, "__float__"):
            raise _fail(col, f"expected float, got {_type_name(v)} {v!r:.60}")
        if integral:
            bits = _INT_FORMATS[col.base][1]
            raise _fail(col, f"{v!r} is out of range ({-(1 << (bits - 1))} to {(1 << (bits - 1)) - 1})")
        raise _fail(col, f"{v!r} is out of range for {col.base}")
    return enc


def _bytes_converter(col: ColumnInfo) -> Callable[[Any], bytes]:
    """STRING and BINARY: the value's bytes (the caller adds the length)."""
    if col.base == "STRING":
        def conv(v: Any) -> bytes:
            if not isinstance(v, str):
                raise _fail(col, f"expected str, got {_type_name(v)} {v!r:.60}")
            try:
                data = v.encode("utf-8")
            except UnicodeEncodeError as e:
                raise _fail(col, f"not encodable as UTF-8 at character {e.start}: {e.reason}") from None
            return _check_length(col, data)
    else:
        def conv(v: Any) -> bytes:
            if not isinstance(v, (bytes, bytearray, memoryview)):
                raise _fail(col, f"expected bytes, got {_type_name(v)} {v!r:.60}")
            return _check_length(col, bytes(v))
    return conv


def _check_length(col: ColumnInfo, data: bytes) -> bytes:
    if len(data) > MAX_VALUE_BYTES:
        raise _fail(col, f"value of {len(data)} bytes exceeds max_value_bytes ({MAX_VALUE_BYTES})")
    return data


def _length_prefix(col: ColumnInfo) -> Callable[[int], bytes]:
    """The varint of a length of 128 or more (the fast path writes shorter ones inline)."""
    def prefix(n: int) -> bytes:
        if n > MAX_VALUE_BYTES:
            raise _fail(col, f"value of {n} bytes exceeds max_value_bytes ({MAX_VALUE_BYTES})")
        return _varint(n)
    return prefix


# struct code and converter (None: struct checks the value itself) per fixed type.
def _fixed(col: ColumnInfo) -> Tuple[str, Optional[Callable[[Any], Any]]]:
    base = col.base
    if base in _INT_FORMATS:
        return _INT_FORMATS[base][0], None
    if base == "FLOAT":
        return "f", None
    if base == "DOUBLE":
        return "d", None
    if base == "BOOLEAN":
        return "B", _bool_converter(col)
    if base == "DATE":
        return "i", _date_converter(col)
    if base == "DATETIME":
        return "q", _datetime_converter(col)
    if base in ("TIMESTAMP", "TIMESTAMP_LTZ"):
        return "q", _timestamp_converter(col)
    if base == "DECIMAL":
        return "16s", _decimal_converter(col)
    raise AssertionError(base)


def _checked_value_encoder(col: ColumnInfo) -> Callable[[Any], bytes]:
    """The wire bytes of one non-NULL value, every check made (the slow path)."""
    base = col.base
    if base in NESTED:
        return nested_encoder(col, _checked_value_encoder, MAX_VALUE_BYTES)
    if base in ("STRING", "BINARY"):
        conv = _bytes_converter(col)
        return lambda v: _varint(len(d := conv(v))) + d
    if base in _INT_FORMATS or base in ("FLOAT", "DOUBLE"):
        return _number_encoder(col)
    if base == "DECIMAL":
        return _decimal_converter(col)
    code, conv = _fixed(col)
    assert conv is not None
    pack = struct.Struct("<" + code).pack
    return lambda v: pack(conv(v))


class RowEncoder:
    """Packs upserts and deletes of one schema into a bytearray.

    upsert(row, buf) and delete(key, buf) append one row to `buf`, or raise
    InvalidRecordError (leaving `buf` as it was) when a value does not fit its
    column, a key or NOT NULL column is missing, or the row names a column the
    table does not have. Rows are dicts of column name to value; a missing
    column is NULL. Safe to share between threads (it holds no state).
    """

    def __init__(self, schema: TableSchema) -> None:
        self.schema = schema
        cols = list(schema.columns)
        self._names = frozenset(c.name for c in cols)
        self._bitmap_bytes = (len(cols) + 7) // 8
        self._checked = {c.name: _checked_value_encoder(c) for c in cols}
        self.upsert: Callable[[Mapping[str, Any], bytearray], None] = self._compile(
            "upsert", cols, UPSERT, self._bitmap_bytes, self._upsert_checked)
        self.delete: Callable[[Mapping[str, Any], bytearray], None] = self._compile(
            "delete", schema.key_columns, DELETE, 0, self._delete_checked)

    def _compile(self, kind: str, cols: List[ColumnInfo], op: int, bitmap_bytes: int,
                 checked: Callable[[Mapping[str, Any], bytearray], None]) -> Callable:
        """Generates the fast path: all of `cols` present, values packed in runs."""
        env: Dict[str, Any] = {"_checked": checked, "_extra": self._extra_columns,
                               "_ncols": len(cols)}
        lines = [f"def {kind}(row, buf):",
                 "    get = row.get",
                 "    start = len(buf)"]
        for i, c in enumerate(cols):
            lines.append(f"    v{i} = get({c.name!r})")
        present = " and ".join(f"v{i} is not None" for i in range(len(cols))) or "True"
        lines.append(f"    if not ({present}):")
        lines.append("        return _checked(row, buf)")
        if kind == "upsert":
            lines.append("    if len(row) != _ncols: _extra(row)")
        lines.append("    try:")
        fmt, args = "<B" + (f"{bitmap_bytes}x" if bitmap_bytes else ""), [str(op)]
        nstruct = 0

        def flush_run() -> None:
            nonlocal fmt, args, nstruct
            if args:
                env[f"_s{nstruct}"] = struct.Struct(fmt).pack
                lines.append(f"        buf += _s{nstruct}({', '.join(args)})")
                nstruct += 1
            fmt, args = "<", []

        for i, c in enumerate(cols):
            if c.base in NESTED:
                flush_run()
                env[f"_nest{i}"] = self._checked[c.name]
                lines.append(f"        buf += _nest{i}(v{i})")
            elif c.base in ("STRING", "BINARY"):
                flush_run()
                if c.base == "STRING":
                    lines.append(f"        b = v{i}.encode()")
                else:
                    env[f"_bin{i}"] = _bytes_converter(c)
                    lines.append(f"        b = v{i} if v{i}.__class__ is bytes else _bin{i}(v{i})")
                env[f"_len{i}"] = _length_prefix(c)
                lines.append("        n = len(b)")
                lines.append("        if n < 128: buf.append(n)")
                lines.append(f"        else: buf += _len{i}(n)")
                lines.append("        buf += b")
            else:
                code, conv = _fixed(c)
                fmt += code
                if conv is None:
                    args.append(f"v{i}")
                else:
                    env[f"_c{i}"] = conv
                    args.append(f"_c{i}(v{i})")
        flush_run()
        lines.append("    except Exception:")
        lines.append("        del buf[start:]")
        # The checked path names the column; it raises for any value the fast
        # path could not pack.
        lines.append("        _checked(row, buf)")
        lines.append("        del buf[start:]")
        lines.append("        raise")
        exec(compile("\n".join(lines), f"<deltasidecar {kind} encoder>", "exec"), env)
        return env[kind]

    def _extra_columns(self, row: Mapping[str, Any]) -> None:
        unknown = [k for k in row if k not in self._names]
        if unknown:
            raise InvalidRecordError(
                f"table '{self.schema.table}' has no column {', '.join(repr(k) for k in unknown)} "
                f"(columns: {', '.join(self.schema.names)})", str(unknown[0]))

    def _upsert_checked(self, row: Mapping[str, Any], buf: bytearray) -> None:
        if not isinstance(row, Mapping):
            raise InvalidRecordError(f"a row is a dict of column values, got {_type_name(row)}")
        self._extra_columns(row)
        bitmap = bytearray(self._bitmap_bytes)
        parts = []
        key = set(self.schema.primary_key)
        for i, c in enumerate(self.schema.columns):
            v = row.get(c.name)
            if v is None:
                if c.name in key:
                    raise _fail(c, "primary-key column is missing or None")
                if not c.nullable:
                    raise _fail(c, "column is NOT NULL but the value is missing or None")
                bitmap[i >> 3] |= 1 << (i & 7)
            else:
                parts.append(self._checked[c.name](v))
        buf.append(UPSERT)
        buf += bitmap
        for p in parts:
            buf += p

    def _delete_checked(self, key: Mapping[str, Any], buf: bytearray) -> None:
        if not isinstance(key, Mapping):
            raise InvalidRecordError(f"a key is a dict of key column values, got {_type_name(key)}")
        parts = []
        for c in self.schema.key_columns:
            v = key.get(c.name)
            if v is None:
                raise _fail(c, "primary-key column is missing or None")
            parts.append(self._checked[c.name](v))
        buf.append(DELETE)
        for p in parts:
            buf += p


# -- decoding -----------------------------------------------------------------------


class DecodeError(ValueError):
    """Bytes from the server that do not parse against the schema (a schema change
    under a cached schema, or a bug)."""


def _value_decoder(col: ColumnInfo) -> Callable[[bytes, int], Tuple[Any, int]]:
    base = col.base
    if base in NESTED:
        return nested_decoder(col, _value_decoder)
    if base in ("STRING", "BINARY"):
        text = base == "STRING"

        def dec(data: bytes, pos: int) -> Tuple[Any, int]:
            n, pos = _read_varint(data, pos)
            raw = data[pos:pos + n]
            if len(raw) != n:
                raise DecodeError(f"column '{col.name}': value runs past the end")
            return (raw.decode("utf-8") if text else bytes(raw)), pos + n
        return dec
    if base == "DECIMAL":
        scale = col.scale

        def dec(data: bytes, pos: int) -> Tuple[Any, int]:
            unscaled = int.from_bytes(data[pos:pos + 16], "little", signed=True)
            # Built from text, which is exact (scaleb would round to 28 digits).
            return decimal.Decimal(f"{unscaled}E-{scale}"), pos + 16
        return dec
    code = {"BOOLEAN": "?", "FLOAT": "f", "DOUBLE": "d", "DATE": "i", "DATETIME": "q",
            "TIMESTAMP": "q", "TIMESTAMP_LTZ": "q"}.get(base) or _INT_FORMATS[base][0]
    s = struct.Struct("<" + code)
    unpack, size = s.unpack_from, s.size
    if base == "DATE":
        def dec(data: bytes, pos: int) -> Tuple[Any, int]:
            return datetime.date.fromordinal(unpack(data, pos)[0] + _EPOCH_ORDINAL), pos + size
    elif base == "DATETIME":
        def dec(data: bytes, pos: int) -> Tuple[Any, int]:
            return EPOCH + datetime.timedelta(milliseconds=unpack(data, pos)[0]), pos + size
    else:
        def dec(data: bytes, pos: int) -> Tuple[Any, int]:
            return unpack(data, pos)[0], pos + size
    return dec


class RowDecoder:
    """Unpacks rows of one schema into dicts (upserts: every column; deletes: the
    key columns)."""

    def __init__(self, schema: TableSchema) -> None:
        self.schema = schema
        self._cols = [(i, c.name, _value_decoder(c)) for i, c in enumerate(schema.columns)]
        self._key = [(c.name, _value_decoder(c)) for c in schema.key_columns]
        self._bitmap_bytes = (len(schema.columns) + 7) // 8

    def rows(self, data: bytes, count: int) -> Iterator[Tuple[int, Dict[str, Any]]]:
        """Yields (op, row) per packed row; op is UPSERT or DELETE."""
        pos, nb = 0, self._bitmap_bytes
        try:
            for _ in range(count):
                op = data[pos]
                pos += 1
                row: Dict[str, Any] = {}
                if op == UPSERT:
                    bitmap = data[pos:pos + nb]
                    pos += nb
                    for i, name, dec in self._cols:
                        if bitmap[i >> 3] >> (i & 7) & 1:
                            row[name] = None
                        else:
                            row[name], pos = dec(data, pos)
                elif op == DELETE:
                    for name, dec in self._key:
                        row[name], pos = dec(data, pos)
                else:
                    raise DecodeError(f"unknown op byte {op:#x}")
                yield op, row
        except (IndexError, struct.error) as e:
            raise DecodeError(f"packed rows end early ({e})") from None
        except NestedDecodeError as e:
            raise DecodeError(str(e)) from None
        if pos != len(data):
            raise DecodeError(f"{len(data) - pos} bytes after the last of {count} rows")
