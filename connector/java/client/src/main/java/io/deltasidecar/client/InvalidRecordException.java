package io.deltasidecar.client;

import io.grpc.Status;

/**
 * INVALID_ARGUMENT: a value has the wrong Java type or is out of range for its column (found by
 * the client before anything is sent, the message names the column), or the sidecar refused a
 * row or request. Retrying the same data gives the same error.
 */
public class InvalidRecordException extends DeltaSidecarException {
  private static final long serialVersionUID = 1L;

  public InvalidRecordException(String message) {
    super(Status.Code.INVALID_ARGUMENT, message, null);
  }

  public InvalidRecordException(String message, Throwable cause) {
    super(Status.Code.INVALID_ARGUMENT, message, cause);
  }
}
