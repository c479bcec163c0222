package io.deltasidecar.client;

import io.grpc.Status;

/**
 * A call to the sidecar failed, or a value was refused before it was sent.
 *
 * <p>{@link #code()} is the gRPC status code and the message is the server's (or, for errors the
 * client detects itself, one in the same style). The subclasses say what the caller should do:
 * {@link RetryableException} retry the same call, {@link FencedException} stop (a newer
 * registration took over) or fix the call order, {@link UnrecoverableException} rewrite from the
 * last completed checkpoint, {@link InvalidRecordException} fix the data. {@link
 * TableNotFoundException} names a table that does not exist.
 */
public class DeltaSidecarException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  private final Status.Code code;
  private final String description;

  public DeltaSidecarException(Status.Code code, String message) {
    this(code, message, null);
  }

  public DeltaSidecarException(Status.Code code, String message, Throwable cause) {
    super(code + ": " + message, cause);
    this.code = code;
    this.description = message;
  }

  /** The gRPC status code of the failure. */
  public Status.Code code() {
    return code;
  }

  /** The message without the status code in front. */
  public String description() {
    return description;
  }

  /**
   * A new exception of the same class, code and message whose cause is this one: rethrows a
   * failure recorded on another thread with the caller's stack.
   */
  DeltaSidecarException rethrown() {
    return of(code, description, this);
  }

  /**
   * Converts a failed call into the exception class that tells the caller what to do. {@code
   * call} names what failed ("Commit", "Write stream of writer w") and prefixes the message.
   */
  public static DeltaSidecarException from(Throwable error, String call) {
    if (error instanceof DeltaSidecarException e) {
      return e;
    }
    Status status = Status.fromThrowable(error);
    String description = status.getDescription() != null ? status.getDescription() : "";
    if (status.getCode() == Status.Code.UNKNOWN && status.getCause() != null && description.isEmpty()) {
      description = status.getCause().toString();
    }
    return of(status.getCode(), call + ": " + description, error);
  }

  static DeltaSidecarException of(Status.Code code, String message, Throwable cause) {
    switch (code) {
      case UNAVAILABLE:
      case ABORTED:
      case RESOURCE_EXHAUSTED:
      case DEADLINE_EXCEEDED:
        return new RetryableException(code, message, cause);
      case FAILED_PRECONDITION:
        return new FencedException(message, cause);
      case DATA_LOSS:
        return new UnrecoverableException(message, cause);
      case INVALID_ARGUMENT:
        return new InvalidRecordException(message, cause);
      case NOT_FOUND:
        return new TableNotFoundException(message, cause);
      default:
        return new DeltaSidecarException(code, message, cause);
    }
  }
}
