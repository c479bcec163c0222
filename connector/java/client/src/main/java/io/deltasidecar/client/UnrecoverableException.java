package io.deltasidecar.client;

import io.grpc.Status;

/**
 * DATA_LOSS: staged data failed its checksum or is missing. The checkpoint cannot be committed as
 * sealed: restart from the last completed checkpoint, write its records again and commit them.
 */
public class UnrecoverableException extends DeltaSidecarException {
  private static final long serialVersionUID = 1L;

  public UnrecoverableException(String message, Throwable cause) {
    super(Status.Code.DATA_LOSS, message, cause);
  }
}
