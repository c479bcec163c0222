package io.deltasidecar.flink;

import io.deltasidecar.client.DeltaSidecarClient;
import io.deltasidecar.client.DeltaSidecarException;
import io.deltasidecar.client.RetryableException;
import io.deltasidecar.client.TableCommitResult;
import io.deltasidecar.v1.Committable;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.flink.api.connector.sink2.Committer;

/**
 * Commits the committables of completed checkpoints: all requests of one {@link #commit} call go
 * to the sidecar in one {@code Commit} call (one atomic snapshot per table). Idempotent by
 * construction: the table records each committed {@code (writer identity, checkpoint)}, so a
 * request that was committed before (a retry, a restore replaying its state) changes nothing and
 * is signalled {@link CommitRequest#signalAlreadyCommitted()}.
 *
 * <h2>Failures, and why the committer never calls retryLater()</h2>
 *
 * What {@link CommitRequest#retryLater()} does depends on the Flink release: Flink 1.20.0 retries
 * on a one-second timer without end (a tight loop at the end of input), Flink 1.20.1 and later and
 * Flink 2 retry at once, {@code sink.committer.retries} times (default 10), then fail the task.
 * Neither adds anything to the client's own retries, which already wait with backoff (100 ms
 * doubling to 5 s, {@code maxCommitAttempts} calls, about 20 s with the default 10). So the
 * committer behaves the same on every line:
 *
 * <ul>
 *   <li>OK: done; {@code already_committed}: {@code signalAlreadyCommitted()}.
 *   <li>UNAVAILABLE, ABORTED, RESOURCE_EXHAUSTED or DEADLINE_EXCEEDED still failing after the
 *       client's retries: {@link #commit} throws an {@link IOException}, which fails the task.
 *       Flink's restart strategy paces the recovery; the restored committer commits the same
 *       committables again (they are in its checkpointed state), and the restored writers commit
 *       their pending seals when they register.
 *   <li>DATA_LOSS, FAILED_PRECONDITION, INVALID_ARGUMENT, NOT_FOUND and any other code: also an
 *       {@link IOException}. None of them goes away by retrying, and discarding the request
 *       ({@code signalFailedWithKnownReason}) would silently lose the rows of a completed
 *       checkpoint.
 * </ul>
 *
 * The exception names every committable of the failed call. It is thrown rather than signalled
 * per request with {@code signalFailedWithUnknownReason}, which throws at the first request in
 * every Flink release and so would name only that one.
 *
 * <p>Not thread-safe; Flink calls it from one task thread.
 */
public final class DeltaSidecarCommitter implements Committer<Committable> {
  private final DeltaSidecarClient client;

  DeltaSidecarCommitter(DeltaSidecarClient client) {
    this.client = client;
  }

  @Override
  public void commit(Collection<CommitRequest<Committable>> requests) throws IOException {
    if (requests.isEmpty()) {
      return;
    }
    List<Committable> committables = new ArrayList<>(requests.size());
    for (CommitRequest<Committable> r : requests) {
      committables.add(r.getCommittable());
    }
    List<TableCommitResult> results;
    try {
      results = client.commit(committables);
    } catch (RetryableException e) {
      throw new IOException(
          "delta-sidecar: the sidecar stayed unavailable through the commit's retries ("
              + e.getMessage()
              + "); failing the task so that the restore commits "
              + names(committables)
              + " again",
          e);
    } catch (DeltaSidecarException e) {
      throw new IOException(
          "delta-sidecar: cannot commit " + names(committables) + ": " + e.getMessage(), e);
    }
    Map<String, TableCommitResult> byTable = new HashMap<>();
    for (TableCommitResult result : results) {
      byTable.put(result.table(), result);
    }
    for (CommitRequest<Committable> r : requests) {
      TableCommitResult result = byTable.get(r.getCommittable().getTable());
      if (result == null) {
        throw new IOException(
            "delta-sidecar: the sidecar's Commit answer names no commit of table '"
                + r.getCommittable().getTable()
                + "' for "
                + names(committables));
      }
      if (result.alreadyCommitted()) {
        r.signalAlreadyCommitted();
      }
    }
  }

  private static String names(List<Committable> committables) {
    StringBuilder names = new StringBuilder();
    for (Committable c : committables) {
      if (names.length() > 0) {
        names.append(", ");
      }
      names
          .append(c.getTable())
          .append('/')
          .append(c.getIdentity().isEmpty() ? c.getWriterId() : c.getIdentity())
          .append('@')
          .append(c.getCheckpointId());
    }
    return names.toString();
  }

  @Override
  public void close() {
    client.close();
  }
}
