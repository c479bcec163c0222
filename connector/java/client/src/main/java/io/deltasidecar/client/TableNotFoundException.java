package io.deltasidecar.client;

import io.grpc.Status;

/** NOT_FOUND: the named table does not exist (create it first). */
public class TableNotFoundException extends DeltaSidecarException {
  private static final long serialVersionUID = 1L;

  public TableNotFoundException(String message, Throwable cause) {
    super(Status.Code.NOT_FOUND, message, cause);
  }
}
