package io.deltasidecar.client;

import io.grpc.Status;

/**
 * UNAVAILABLE, ABORTED, RESOURCE_EXHAUSTED or DEADLINE_EXCEEDED: the sidecar is restarting,
 * busy, or out of disk or staging quota. Retry the same call later; a commit is retried with the
 * same committables, never by rewriting data.
 */
public class RetryableException extends DeltaSidecarException {
  private static final long serialVersionUID = 1L;

  public RetryableException(Status.Code code, String message, Throwable cause) {
    super(code, message, cause);
  }
}
