package io.deltasidecar.client;

import io.grpc.Status;

/**
 * FAILED_PRECONDITION: a newer registration of the same writer id fenced this one (a zombie task
 * must stop), or a call came out of order (a checkpoint never sealed, aborted, or dropped by a
 * later registration). Retrying the same call gives the same answer.
 */
public class FencedException extends DeltaSidecarException {
  private static final long serialVersionUID = 1L;

  public FencedException(String message, Throwable cause) {
    super(Status.Code.FAILED_PRECONDITION, message, cause);
  }
}
