"""A table's schema as the client sees it (from DescribeTable)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Tuple

TYPES = ("BOOLEAN", "TINYINT", "SMALLINT", "INT", "BIGINT", "FLOAT", "DOUBLE", "DECIMAL",
         "STRING", "BINARY", "DATE", "DATETIME", "TIMESTAMP", "TIMESTAMP_LTZ")

_DECIMAL = re.compile(r"DECIMAL\s*\(\s*(\d+)\s*,\s*(\d+)\s*\)")
_TIMESTAMP_LTZ = re.compile(r"TIMESTAMP_LTZ\s*\(\s*(\d)\s*\)")


@dataclass(frozen=True)
class ColumnInfo:
    """One column. `type` is the server's type text, e.g. "DECIMAL(10,2)"; `base` is
    the type without parameters. Plain DECIMAL is DECIMAL(38,18); `precision` is
    also TIMESTAMP_LTZ's fractional-second digits (plain TIMESTAMP_LTZ is (6))."""

    name: str
    type: str
    nullable: bool = True
    base: str = field(init=False)
    precision: int = field(init=False)
    scale: int = field(init=False)

    def __post_init__(self) -> None:
        text = self.type.strip().upper()
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

    @classmethod
    def from_describe(cls, resp: Any) -> "TableSchema":
        """From a deltasidecar.v1.DescribeTableResponse."""
        key = set(resp.primary_key)
        # Key columns are never NULL, whatever the column's own flag says.
        columns = tuple(ColumnInfo(c.name, c.type, c.nullable and c.name not in key)
                        for c in resp.columns)
        return cls(resp.table, columns, tuple(resp.primary_key), resp.buckets,
                   resp.latest_snapshot_id, resp.schema_id)

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
