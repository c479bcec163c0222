package io.deltasidecar.flink;

import java.util.OptionalLong;
import org.apache.flink.api.common.TaskInfo;
import org.apache.flink.api.connector.sink2.Committer;
import org.apache.flink.api.connector.sink2.CommitterInitContext;
import org.apache.flink.api.connector.sink2.WriterInitContext;

/** The init contexts and commit requests Flink's sink operators hand to a sink. */
final class FlinkContexts {
  private FlinkContexts() {}

  record Task(int index, int parallelism, int attempt) implements TaskInfo {
    @Override
    public String getTaskName() {
      return "Sink: delta-sidecar";
    }

    @Override
    public int getMaxNumberOfParallelSubtasks() {
      return 128;
    }

    @Override
    public int getIndexOfThisSubtask() {
      return index;
    }

    @Override
    public int getNumberOfParallelSubtasks() {
      return parallelism;
    }

    @Override
    public int getAttemptNumber() {
      return attempt;
    }

    @Override
    public String getTaskNameWithSubtasks() {
      return getTaskName() + " (" + (index + 1) + "/" + parallelism + ")#" + attempt;
    }

    @Override
    public String getAllocationIDAsString() {
      return "test";
    }
  }

  record Writer(Task task, OptionalLong restoredCheckpointId) implements WriterInitContext {
    @Override
    public OptionalLong getRestoredCheckpointId() {
      return restoredCheckpointId;
    }

    @Override
    public TaskInfo getTaskInfo() {
      return task;
    }
  }

  record CommitterContext(Task task, OptionalLong restoredCheckpointId)
      implements CommitterInitContext {
    @Override
    public OptionalLong getRestoredCheckpointId() {
      return restoredCheckpointId;
    }

    @Override
    public TaskInfo getTaskInfo() {
      return task;
    }
  }

  /** How the committer answered one request. */
  enum Signal {
    /** No signal: Flink takes the request as committed. */
    COMMITTED,
    ALREADY_COMMITTED,
    RETRY_LATER,
    FAILED_KNOWN,
    FAILED_UNKNOWN
  }

  /** A commit request that records the committer's signal, as Flink's CommitRequestImpl does. */
  static final class Request<C> implements Committer.CommitRequest<C> {
    private C committable;
    private final int retries;
    Signal signal = Signal.COMMITTED;
    Throwable failure;

    Request(C committable, int retries) {
      this.committable = committable;
      this.retries = retries;
    }

    @Override
    public C getCommittable() {
      return committable;
    }

    @Override
    public int getNumberOfRetries() {
      return retries;
    }

    @Override
    public void signalFailedWithKnownReason(Throwable t) {
      signal = Signal.FAILED_KNOWN;
      failure = t;
    }

    @Override
    public void signalFailedWithUnknownReason(Throwable t) {
      signal = Signal.FAILED_UNKNOWN;
      failure = t;
    }

    @Override
    public void retryLater() {
      signal = Signal.RETRY_LATER;
    }

    @Override
    public void updateAndRetryLater(C committable) {
      this.committable = committable;
      signal = Signal.RETRY_LATER;
    }

    @Override
    public void signalAlreadyCommitted() {
      signal = Signal.ALREADY_COMMITTED;
    }

    @Override
    public String toString() {
      return signal + (failure != null ? " (" + failure + ")" : "");
    }
  }
}
