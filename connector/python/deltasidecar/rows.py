"""An independent Python codec of the packed row encoding (RecordBatch.rows).

Written from the specification in sidecar/wire_rows.h (docs/protocol.md,
"Row encoding"), not from its C++ implementation, so that the tests check the
server against a second reading of the format:

  upsert row: 0x01, a null bitmap over ALL columns (ceil(n/8) bytes; bit i,
              least-significant first within byte i // 8, set = column i is
              NULL), then every non-null column in schema order
  delete row: 0x02, then the primary-key columns in key order (never NULL)

  BOOLEAN 1 byte (0/1); TINYINT 1; SMALLINT 2; INT and DATE 4; BIGINT, DATETIME,
  TIMESTAMP, TIMESTAMP_LTZ(p) 8 (two's complement); FLOAT 4, DOUBLE 8 (IEEE-754); DECIMAL 16 (two's
  complement unscaled value); STRING and BINARY: unsigned LEB128 length, then
  the bytes (STRING is UTF-8). Everything little-endian.

Python values: BOOLEAN bool; integer types, DATE (days since 1970-01-01),
DATETIME (ms since the epoch), TIMESTAMP and TIMESTAMP_LTZ (ns since the epoch) int; FLOAT and
DOUBLE float; DECIMAL decimal.Decimal; STRING str (bytes are sent as they are,
to test invalid UTF-8); BINARY bytes; NULL None.
"""

import base64
import datetime
import decimal
import re
import struct

UPSERT = 1
DELETE = 2

_FIXED = {
    "BOOLEAN": 1, "TINYINT": 1, "SMALLINT": 2, "INT": 4, "DATE": 4,
    "BIGINT": 8, "DATETIME": 8, "TIMESTAMP": 8, "TIMESTAMP_LTZ": 8, "FLOAT": 4, "DOUBLE": 8, "DECIMAL": 16,
}
_INT_BITS = {"TINYINT": 8, "SMALLINT": 16, "INT": 32, "DATE": 32, "BIGINT": 64, "DATETIME": 64,
             "TIMESTAMP": 64, "TIMESTAMP_LTZ": 64}


class Column:
    def __init__(self, name, type_text, nullable=True):
        self.name = name
        self.type_text = type_text.upper()
        m = re.fullmatch(r"DECIMAL\((\d+),\s*(\d+)\)", self.type_text)
        ltz = re.fullmatch(r"TIMESTAMP_LTZ\((\d)\)", self.type_text)
        if m:
            self.base, self.precision, self.scale = "DECIMAL", int(m.group(1)), int(m.group(2))
        elif ltz:
            self.base, self.precision, self.scale = "TIMESTAMP_LTZ", int(ltz.group(1)), 0
        else:
            self.base, self.precision, self.scale = self.type_text, 0, 0
        self.nullable = nullable


class Schema:
    """Columns in schema order and the primary key in key order."""

    def __init__(self, columns, primary_key, schema_id=0):
        self.columns = list(columns)
        self.index = {c.name: i for i, c in enumerate(self.columns)}
        self.key = [self.index[k] for k in primary_key]
        # The table's schema version these columns are (WriteRequest.schema_id).
        self.schema_id = schema_id

    @classmethod
    def from_describe(cls, resp):
        """From a DescribeTableResponse."""
        return cls([Column(c.name, c.type, c.nullable) for c in resp.columns], list(resp.primary_key),
                   resp.schema_id)

    @property
    def names(self):
        return [c.name for c in self.columns]


# -- encoding ------------------------------------------------------------------


def uleb128(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def encode_value(col, v):
    base = col.base
    if base == "BOOLEAN":
        return b"\x01" if v else b"\x00"
    if base in _INT_BITS:
        bits = _INT_BITS[base]
        return (v & ((1 << bits) - 1)).to_bytes(bits // 8, "little")
    if base == "FLOAT":
        return struct.pack("<f", v)
    if base == "DOUBLE":
        return struct.pack("<d", v)
    if base == "DECIMAL":
        # Exact integer arithmetic: scaleb would round to the context's 28 digits.
        sign, digits, exponent = decimal.Decimal(v).as_tuple()
        unscaled = int("".join(map(str, digits)) or "0")
        shift = exponent + col.scale
        if shift >= 0:
            unscaled *= 10 ** shift
        else:
            unscaled, dropped = divmod(unscaled, 10 ** -shift)
            if dropped:
                raise ValueError(f"{v} has more than {col.scale} fractional digits")
        if sign:
            unscaled = -unscaled
        return (unscaled & ((1 << 128) - 1)).to_bytes(16, "little")
    if base in ("STRING", "BINARY"):
        data = v.encode("utf-8") if isinstance(v, str) else bytes(v)
        return uleb128(len(data)) + data
    raise ValueError(f"unknown type {col.type_text}")


def encode_upsert(schema, row):
    """One upsert; `row` maps column names to values (missing or None: NULL)."""
    bitmap = bytearray((len(schema.columns) + 7) // 8)
    body = bytearray()
    for i, col in enumerate(schema.columns):
        v = row.get(col.name)
        if v is None:
            bitmap[i // 8] |= 1 << (i % 8)
        else:
            body += encode_value(col, v)
    return bytes([UPSERT]) + bytes(bitmap) + bytes(body)


def encode_delete(schema, row):
    """One delete; only the key columns of `row` are read."""
    out = bytearray([DELETE])
    for i in schema.key:
        col = schema.columns[i]
        out += encode_value(col, row[col.name])
    return bytes(out)


def encode_rows(schema, ops):
    """Packs ops: each a dict (an upsert) or ("upsert"|"delete", dict). Returns (bytes, count)."""
    out = bytearray()
    n = 0
    for op in ops:
        if isinstance(op, dict):
            kind, row = "upsert", op
        else:
            kind, row = op
        out += encode_upsert(schema, row) if kind == "upsert" else encode_delete(schema, row)
        n += 1
    return bytes(out), n


# -- decoding ------------------------------------------------------------------


class DecodeError(ValueError):
    pass


def _read_uleb128(data, pos):
    n = shift = 0
    while True:
        if pos >= len(data):
            raise DecodeError("length runs past the end")
        b = data[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        if not b & 0x80:
            return n, pos
        shift += 7


def _decode_value(col, data, pos):
    base = col.base
    if base in ("STRING", "BINARY"):
        n, pos = _read_uleb128(data, pos)
        if pos + n > len(data):
            raise DecodeError(f"column {col.name}: value runs past the end")
        raw = bytes(data[pos:pos + n])
        return (raw.decode("utf-8") if base == "STRING" else raw), pos + n
    width = _FIXED[base]
    if pos + width > len(data):
        raise DecodeError(f"column {col.name}: value runs past the end")
    raw = bytes(data[pos:pos + width])
    pos += width
    if base == "BOOLEAN":
        if raw[0] > 1:
            raise DecodeError(f"column {col.name}: boolean byte {raw[0]}")
        return raw[0] == 1, pos
    if base in _INT_BITS:
        return int.from_bytes(raw, "little", signed=True), pos
    if base == "FLOAT":
        return struct.unpack("<f", raw)[0], pos
    if base == "DOUBLE":
        return struct.unpack("<d", raw)[0], pos
    unscaled = int.from_bytes(raw, "little", signed=True)
    return decimal.Decimal(f"{unscaled}E-{col.scale}"), pos


def decode_rows(schema, data, count):
    """Unpacks `count` rows: a list of ("upsert"|"delete", dict). Deletes hold key columns only."""
    out = []
    pos = 0
    ncols = len(schema.columns)
    bitmap_size = (ncols + 7) // 8
    for _ in range(count):
        if pos >= len(data):
            raise DecodeError("fewer rows than declared")
        op = data[pos]
        pos += 1
        row = {}
        if op == UPSERT:
            bitmap = data[pos:pos + bitmap_size]
            pos += bitmap_size
            for i, col in enumerate(schema.columns):
                if bitmap[i // 8] >> (i % 8) & 1:
                    row[col.name] = None
                else:
                    row[col.name], pos = _decode_value(col, data, pos)
            out.append(("upsert", row))
        elif op == DELETE:
            for i in schema.key:
                col = schema.columns[i]
                row[col.name], pos = _decode_value(col, data, pos)
            out.append(("delete", row))
        else:
            raise DecodeError(f"unknown op byte {op:#x}")
    if pos != len(data):
        raise DecodeError(f"{len(data) - pos} trailing bytes")
    return out


# -- the JSON forms deltactl prints (table/row.h, RowToJson) -------------------

_EPOCH = datetime.datetime(1970, 1, 1)


def _date_text(days):
    d = _EPOCH + datetime.timedelta(days=days)
    return f"{d.year:04d}-{d.month:02d}-{d.day:02d}"


def _datetime_text(ticks, per_second, digits):
    seconds, frac = divmod(ticks, per_second)
    days, sod = divmod(seconds, 86400)
    return f"{_date_text(days)} {sod // 3600:02d}:{sod // 60 % 60:02d}:{sod % 60:02d}.{frac:0{digits}d}"


def _instant_text(nanos, digits):
    """TIMESTAMP_LTZ(digits): 'YYYY-MM-DDTHH:MM:SS[.f{digits}]Z'."""
    seconds, frac = divmod(nanos, 10**9)
    days, sod = divmod(seconds, 86400)
    text = f"{_date_text(days)}T{sod // 3600:02d}:{sod // 60 % 60:02d}:{sod % 60:02d}"
    if digits:
        text += f".{frac // 10 ** (9 - digits):0{digits}d}"
    return text + "Z"


def json_value(col, v):
    """The value as `deltactl scan` prints it (parsed back from JSON)."""
    if v is None:
        return None
    base = col.base
    if base in ("FLOAT", "DOUBLE"):
        # deltactl prints FLOAT's shortest text; compare FLOATs with same_float32.
        return v
    if base == "DECIMAL":
        return f"{decimal.Decimal(v):.{col.scale}f}"
    if base == "BINARY":
        return base64.b64encode(v).decode("ascii")
    if base == "DATE":
        return _date_text(v)
    if base == "DATETIME":
        return _datetime_text(v, 1000, 3)
    if base == "TIMESTAMP":
        return _datetime_text(v, 10**9, 9)
    if base == "TIMESTAMP_LTZ":
        return _instant_text(v, col.precision)
    return v


def json_row(schema, row):
    return {c.name: json_value(c, row.get(c.name)) for c in schema.columns}


def same_float32(a, b):
    return struct.pack("<f", a) == struct.pack("<f", b)


def assert_same_json_rows(schema, expected, actual):
    """Compares rows in deltactl's JSON form; FLOAT columns by their float32 value."""
    assert len(expected) == len(actual), f"{len(expected)} rows expected, {len(actual)} found"
    floats = [c.name for c in schema.columns if c.base == "FLOAT"]
    for i, (e, a) in enumerate(zip(expected, actual)):
        assert list(e) == list(a), f"row {i}: columns {list(a)}, expected {list(e)}"
        for name in floats:
            if e[name] is not None and a[name] is not None and same_float32(e[name], a[name]):
                a = dict(a, **{name: e[name]})
        assert e == a, f"row {i}"
