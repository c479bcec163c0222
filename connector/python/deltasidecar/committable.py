"""Committables as plain values, for the job's state and its one committer.

A committable (a deltasidecar.v1.Committable message) is what PrepareCommit
returns for one writer's checkpoint and what Commit takes. A job keeps it in
its checkpoint state and hands it from the process that wrote the rows to the
process that commits: any sidecar on the table root commits the
checkpoints of writers staged on other sidecars, so one committer can commit
a whole checkpoint in one Commit (docs/protocol.md, Commit). These functions
turn it into bytes or a JSON-able dict and back, field for field; a
committable that went through them commits exactly like the original (pass
`identity` back unchanged).

The message itself also pickles (protobuf messages do), which is what
multiprocessing queues use; prefer bytes or a dict for anything stored,
since unpickling needs the generated message module importable in the
reading process.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping

from . import wire

#: A deltasidecar.v1.Committable message.
Committable = Any

_FIELDS = {
    "table": str,
    "writer_id": str,
    "epoch": int,
    "checkpoint_id": int,
    "rows": int,
    "checksum": int,
    "identity": str,
}


def committable_to_bytes(committable: Committable) -> bytes:
    """The committable's protobuf wire form (deterministic: equal committables
    give equal bytes)."""
    return committable.SerializeToString(deterministic=True)


def committable_from_bytes(data: bytes) -> Committable:
    """A committable from committable_to_bytes() (or SerializeToString())."""
    return wire.pb().Committable.FromString(bytes(data))


def committable_to_dict(committable: Committable) -> Dict[str, Any]:
    """{"table", "writer_id", "epoch", "checkpoint_id", "rows", "checksum",
    "identity"}: strings and ints (checksum is the unsigned 64-bit XXH3), all
    JSON-able."""
    return {name: kind(getattr(committable, name)) for name, kind in _FIELDS.items()}


def committable_from_dict(fields: Mapping[str, Any]) -> Committable:
    """A committable from committable_to_dict(). Raises ValueError for an unknown
    field or a value of the wrong type; a missing field is its empty value, as
    on the wire."""
    unknown = sorted(set(fields) - set(_FIELDS))
    if unknown:
        raise ValueError(f"unknown committable fields: {', '.join(unknown)}")
    for name, value in fields.items():
        kind = _FIELDS[name]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ValueError(f"committable field '{name}' must be {kind.__name__}, "
                             f"got {type(value).__name__}")
    return wire.pb().Committable(**fields)
