"""Exceptions of the client, one class per thing the caller should do.

Every exception carries the gRPC status code (`code`, a grpc.StatusCode), the
server's message and, where the server names one, a machine-readable
`reason` (the trailing metadata entry `delta-sidecar-reason`, see
docs/protocol.md, "Error reasons"). Errors found locally, before anything is sent (a value
that does not fit its column), carry the code the server would have answered
(INVALID_ARGUMENT).
"""

from __future__ import annotations

from typing import Optional

import grpc


class DeltaSidecarError(Exception):
    """Base class. `code` is the gRPC status code, `details` the server's message,
    `reason` the server's machine-readable reason or None."""

    def __init__(self, message: str, code: grpc.StatusCode = grpc.StatusCode.UNKNOWN) -> None:
        super().__init__(message)
        self.code = code
        self.details = message
        self.reason: Optional[str] = None

    def __str__(self) -> str:
        return f"{self.code.name}: {self.details}"


class RetryableError(DeltaSidecarError):
    """UNAVAILABLE, ABORTED, RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED (and CANCELLED on a
    Write stream whose connection broke).

    A failed commit may be retried as it is. A writer whose Write stream failed
    restores from the last completed checkpoint (Writer.restore) and the
    source replays what came after it.
    """


class UnsealedLostError(RetryableError):
    """ABORTED after the sidecar restarted without a clean shutdown: the
    batches staged since the writer's last seal were held in memory and are gone.
    Like any RetryableError of a writer: restore from the last completed checkpoint
    and replay from there."""


class FencedError(DeltaSidecarError):
    """FAILED_PRECONDITION: a newer registration of the same writer id fenced this
    one, or a call came out of order (a checkpoint never sealed, or dropped)."""


class UnrecoverableError(DeltaSidecarError):
    """DATA_LOSS: staged data is corrupt or missing. Restore from the last completed
    checkpoint, rewrite from there and commit again."""


class InvalidRecordError(DeltaSidecarError):
    """INVALID_ARGUMENT: a row or request the server refuses, or a value that does not
    fit its column (raised locally; the message names the column). Retrying the
    same data gives the same error."""

    def __init__(self, message: str, column: Optional[str] = None) -> None:
        super().__init__(message, grpc.StatusCode.INVALID_ARGUMENT)
        self.column = column


class NotFoundError(DeltaSidecarError):
    """NOT_FOUND: no such table (or snapshot)."""


class WriterClosedError(DeltaSidecarError):
    """The writer was closed, or failed and has not been restored yet."""

    def __init__(self, message: str) -> None:
        super().__init__(message, grpc.StatusCode.FAILED_PRECONDITION)


_RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.ABORTED,
              grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.DEADLINE_EXCEEDED}


REASON_KEY = "delta-sidecar-reason"
REASON_UNSEALED_LOST = "unsealed-lost"


def rpc_reason(e: grpc.RpcError) -> Optional[str]:
    """The `delta-sidecar-reason` trailing metadata entry of a failed call, if any."""
    try:
        metadata = e.trailing_metadata() if hasattr(e, "trailing_metadata") else None
    except Exception:  # noqa: BLE001  (a call object without metadata)
        return None
    for key, value in metadata or ():
        if key == REASON_KEY:
            return value if isinstance(value, str) else value.decode("utf-8", "replace")
    return None


def from_rpc_error(e: grpc.RpcError, during: str = "") -> DeltaSidecarError:
    """The exception for a failed call; `during` names the call for the message."""
    reason = rpc_reason(e)
    error = _classify(e, during, reason)
    error.reason = reason
    return error


def _classify(e: grpc.RpcError, during: str, reason: Optional[str]) -> DeltaSidecarError:
    code = e.code() if hasattr(e, "code") else grpc.StatusCode.UNKNOWN
    details = e.details() if hasattr(e, "details") else str(e)
    message = f"{during}: {details}" if during else (details or "")
    # Unsealed batches lost in a crash: the cure is a restore, not a repeat of
    # the call. Sidecars before the reason entry only said it in the message.
    if code == grpc.StatusCode.ABORTED and (reason == REASON_UNSEALED_LOST or
                                            "not sealed and are gone" in (details or "")):
        return UnsealedLostError(message, code)
    if code in _RETRYABLE:
        return RetryableError(message, code)
    if code == grpc.StatusCode.FAILED_PRECONDITION:
        return FencedError(message, code)
    if code == grpc.StatusCode.DATA_LOSS:
        return UnrecoverableError(message, code)
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return InvalidRecordError(message)
    if code == grpc.StatusCode.NOT_FOUND:
        return NotFoundError(message, code)
    return DeltaSidecarError(message, code)
