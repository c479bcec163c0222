"""A table's schema as the client sees it (from DescribeTable)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Tuple

TYPES = ("BOOLEAN", "TINYINT", "SMALLINT", "INT", "BIGINT", "FLOAT", "DOUBLE", "DECIMAL",
         "STRING", "BINARY", "DATE", "DATETIME", "TIMESTAMP", "TIMESTAMP_LTZ")
#: Types whose values hold other values (docs/table-format.md §4, §7.4).
NESTED = ("ARRAY", "MAP", "STRUCT")
#: The deepest nesting of ARRAY/MAP/STRUCT in one column type, as on the server.
MAX_NESTING_DEPTH = 32

_DECIMAL = re.compile(r"DECIMAL\s*\(\s*(\d+)\s*,\s*(\d+)\s*\)")
_TIMESTAMP_LTZ = re.compile(r"TIMESTAMP_LTZ\s*\(\s*(\d)\s*\)")


def _split_top(text: str) -> List[str]:
    """`text` cut at the commas outside any <...> or (...)."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "<(":
            depth += 1
        elif ch in ">)":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts]


def _nested_children(name: str, base: str, inner: str, depth: int) -> Tuple["ColumnInfo", ...]:
    if depth > MAX_NESTING_DEPTH:
        raise ValueError(f"column '{name}': type nests deeper than {MAX_NESTING_DEPTH} levels")
    parts = _split_top(inner)
    if base == "ARRAY" and len(parts) == 1:
        return (ColumnInfo("element", parts[0], True, _depth=depth),)
    if base == "MAP" and len(parts) == 2:
        key = ColumnInfo("key", parts[0], False, _depth=depth)
        if key.base in NESTED:
            raise ValueError(f"column '{name}': a MAP key cannot be of a nested type")
        return key, ColumnInfo("value", parts[1], True, _depth=depth)
    if base == "STRUCT" and parts != [""]:
        fields = []
        for part in parts:
            m = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?::\s*|\s+)(.+)", part, re.S)
            if m is None:
                raise ValueError(f"column '{name}': STRUCT field '{part}' is not 'name:TYPE'")
            fields.append(ColumnInfo(m.group(1), m.group(2), True, _depth=depth))
        return tuple(fields)
    raise ValueError(f"column '{name}': malformed {base} type '{inner}'")


@dataclass(frozen=True)
class ColumnInfo:
    """One column. `type` is the server's type text, e.g. "DECIMAL(10,2)"; `base` is
    the type without parameters. Plain DECIMAL is DECIMAL(38,18); `precision` is
    also TIMESTAMP_LTZ's fractional-second digits (plain TIMESTAMP_LTZ is (6)).

    A nested type ("ARRAY<INT>", "MAP<STRING,ARRAY<INT>>", "STRUCT<a:INT,b:STRING>")
    has `base` ARRAY, MAP or STRUCT and its `children`: an ARRAY's "element", a
    MAP's "key" (never NULL) and "value", a STRUCT's fields in order; every
    child but a MAP key is nullable."""

    name: str
    type: str
    nullable: bool = True
    _depth: int = field(default=0, repr=False, compare=False)
    base: str = field(init=False)
    precision: int = field(init=False)
    scale: int = field(init=False)
    children: Tuple["ColumnInfo", ...] = field(init=False, default=())

    def __post_init__(self) -> None:
        text = self.type.strip()
        nested = re.fullmatch(r"(ARRAY|MAP|STRUCT)\s*<(.*)>", text, re.S | re.I)
        if nested is not None:
            base = nested.group(1).upper()
            object.__setattr__(self, "base", base)
            object.__setattr__(self, "precision", 0)
            object.__setattr__(self, "scale", 0)
            object.__setattr__(self, "children",
                               _nested_children(self.name, base, nested.group(2), self._depth + 1))
            return
        text = text.upper()
        m = _DECIMAL.fullmatch(text)
        if m:
            base, precision, scale = "DECIMAL", int(m.group(1)), int(m.group(2))
        elif text == "DECIMAL":
            base, precision, scale = "DECIMAL", 38, 18
        elif (m := _TIMESTAMP_LTZ.fullmatch(text)) is not None:
            base, precision, scale = "TIMESTAMP_LTZ", int(m.group(1)), 0
        elif text == "TIMESTAMP_LTZ":
            base, precision, scale = "TIMESTAMP_LTZ", 6, 0
        elif text in TYPES:
            base, precision, scale = text, 0, 0
        else:
            raise ValueError(f"column '{self.name}': unknown column type '{self.type}'")
        object.__setattr__(self, "base", base)
        object.__setattr__(self, "precision", precision)
        object.__setattr__(self, "scale", scale)


@dataclass(frozen=True)
class TableSchema:
    """Columns in schema order, the primary key in key order, and what DescribeTable
    said about buckets and the latest snapshot when it was read."""

    table: str
    columns: Tuple[ColumnInfo, ...]
    primary_key: Tuple[str, ...]
    buckets: int = 0
    latest_snapshot_id: int = 0
    # The schema version (0 until the table is first altered); rows packed for
    # these columns are sent with it (WriteRequest.schema_id).
    schema_id: int = 0
    # The partition columns, the leading primary-key columns (empty when the
    # table is not partitioned).
    partition_keys: Tuple[str, ...] = ()

    @classmethod
    def from_describe(cls, resp: Any) -> "TableSchema":
        """From a deltasidecar.v1.DescribeTableResponse."""
        key = set(resp.primary_key)
        # Key columns are never NULL, whatever the column's own flag says.
        columns = tuple(ColumnInfo(c.name, c.type, c.nullable and c.name not in key)
                        for c in resp.columns)
        return cls(resp.table, columns, tuple(resp.primary_key), resp.buckets,
                   resp.latest_snapshot_id, resp.schema_id, tuple(resp.partition_keys))

    @property
    def names(self) -> List[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> ColumnInfo:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"table '{self.table}' has no column '{name}'")

    @property
    def key_columns(self) -> List[ColumnInfo]:
        by_name: Dict[str, ColumnInfo] = {c.name: c for c in self.columns}
        return [by_name[k] for k in self.primary_key]
