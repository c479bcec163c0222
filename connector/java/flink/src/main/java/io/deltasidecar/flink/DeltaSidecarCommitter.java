package io.deltasidecar.flink;

import io.deltasidecar.client.DeltaSidecarClient;
import io.deltasidecar.client.DeltaSidecarException;
import io.deltasidecar.client.RetryableException;
import io.deltasidecar.client.TableCommitResult;
import io.deltasidecar.v1.Committable;
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
 * request that was committed before (a retry, a restore replaying its state) changes nothing.
 *
 * <p>How each outcome is signalled to Flink:
 *
 * <ul>
 *   <li>OK: nothing (the request is done); when the table already held the checkpoint, {@link
 *       CommitRequest#signalAlreadyCommitted()}.
 *   <li>UNAVAILABLE, ABORTED, RESOURCE_EXHAUSTED or DEADLINE_EXCEEDED still failing after the
 *       client's own retries: {@link CommitRequest#retryLater()}. Retrying never rewrites data.
 *   <li>DATA_LOSS: {@link CommitRequest#signalFailedWithUnknownReason}, which fails the job. The
 *       staged data of a completed checkpoint is gone; the data must be written again from an
 *       earlier checkpoint (docs/failure-handling.md).
 *   <li>FAILED_PRECONDITION (never sealed, aborted, dropped by a later registration, or not
 *       matching its seal), INVALID_ARGUMENT (an identity of another writer) and NOT_FOUND (no such
 *       table), and any other code: also {@link CommitRequest#signalFailedWithUnknownReason}. None
 *       of them goes away by retrying, and discarding the request ({@code
 *       signalFailedWithKnownReason}) would silently lose the rows of a completed checkpoint.
 *       Failing the job makes the restore commit the request again and, if it still fails,
 *       keeps the sidecar's message in front of the operator.
 * </ul>
 *
 * Not thread-safe; Flink calls it from one task thread.
 */
public final class DeltaSidecarCommitter implements Committer<Committable> {
  private final DeltaSidecarClient client;

  DeltaSidecarCommitter(DeltaSidecarClient client) {
    this.client = client;
  }

  @Override
  public void commit(Collection<CommitRequest<Committable>> requests) {
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
      for (CommitRequest<Committable> r : requests) {
        r.retryLater();
      }
      return;
    } catch (DeltaSidecarException e) {
      DeltaSidecarException failure = describe(e, committables);
      for (CommitRequest<Committable> r : requests) {
        r.signalFailedWithUnknownReason(failure);
      }
      return;
    }
    Map<String, TableCommitResult> byTable = new HashMap<>();
    for (TableCommitResult result : results) {
      byTable.put(result.table(), result);
    }
    for (CommitRequest<Committable> r : requests) {
      TableCommitResult result = byTable.get(r.getCommittable().getTable());
      if (result == null) {
        r.signalFailedWithUnknownReason(
            new IllegalStateException(
                "the sidecar's Commit answer names no commit of table '"
                    + r.getCommittable().getTable()
                    + "'"));
      } else if (result.alreadyCommitted()) {
        r.signalAlreadyCommitted();
      }
    }
  }

  private static DeltaSidecarException describe(
      DeltaSidecarException e, List<Committable> committables) {
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
    e.addSuppressed(new Exception("committables of the failed Commit: " + names));
    return e;
  }

  @Override
  public void close() {
    client.close();
  }
}
