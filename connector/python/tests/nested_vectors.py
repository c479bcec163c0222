"""The shared nested-value vectors (tests/vectors/nested_values.json) as Python
values: each vector's JSON text form (deltactl's) turned into what the client
takes and gives for its type (deltasidecar/nested.py, codec.py)."""

import base64
import datetime
import decimal
import json
from pathlib import Path

VECTORS_FILE = Path(__file__).resolve().parents[3] / "tests" / "vectors" / "nested_values.json"
UTC = datetime.timezone.utc
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=UTC)


def load():
    """[(type text, JSON form, encoding bytes)] in file order."""
    return [(v["type"], v["json"], bytes.fromhex(v["hex"]))
            for v in json.loads(VECTORS_FILE.read_text(encoding="utf-8"))["vectors"]]


def _nanos(text):
    """'YYYY-MM-DD HH:MM:SS[.f]' or 'YYYY-MM-DDTHH:MM:SS[.f]Z', as UTC, to ns."""
    text = text.rstrip("Z").replace("T", " ")
    whole, _, frac = text.partition(".")
    t = datetime.datetime.strptime(whole, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    delta = t - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 10**9 + int((frac or "0").ljust(9, "0"))


def _leaf(base, j):
    if base == "DECIMAL":
        return decimal.Decimal(j)
    if base == "BINARY":
        return base64.b64decode(j)
    if base == "DATE":
        return datetime.date.fromisoformat(j)
    if base == "DATETIME":
        return _EPOCH + datetime.timedelta(microseconds=_nanos(j) // 1000)
    if base in ("TIMESTAMP", "TIMESTAMP_LTZ"):
        return _nanos(j)
    return j


def _key(col, text):
    """A MAP key from its member name (the key's text form)."""
    if col.base in ("TINYINT", "SMALLINT", "INT", "BIGINT"):
        return int(text)
    if col.base == "BOOLEAN":
        return text == "true"
    return _leaf(col.base, text)


def from_json(col, j):
    """The client's value of column `col` for the JSON form `j`."""
    if j is None:
        return None
    if col.base == "ARRAY":
        return [from_json(col.children[0], x) for x in j]
    if col.base == "MAP":
        key, value = col.children
        return {_key(key, k): from_json(value, x) for k, x in j.items()}
    if col.base == "STRUCT":
        return {f.name: from_json(f, j.get(f.name)) for f in col.children}
    return _leaf(col.base, j)
