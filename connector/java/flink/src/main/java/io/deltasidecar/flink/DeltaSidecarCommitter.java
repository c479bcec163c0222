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
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.flink.api.connector.sink2.Committer;

/**
 * Commits the {@link AggregatedCommittable}s of completed checkpoints. All requests of one {@link
 * #commit} call are committed together: their committables are grouped by the sidecar that
 * commits them ({@link #committedBy}), and each group is one sidecar {@code Commit} call, which
 * is one atomic snapshot per table. In the {@link CommitTopology#GLOBAL} topology Flink hands the
 * one committer subtask that receives anything one request per checkpoint, holding every
 * writer's seal, so a checkpoint whose writers used one sidecar is one snapshot.
 *
 * <p>Idempotent by construction: the table records each committed {@code (writer identity,
 * checkpoint)}, so a request that was committed before (a retry, a restore replaying its state)
 * changes nothing and is signalled {@link CommitRequest#signalAlreadyCommitted()}.
 *
 * <h2>Which sidecar commits</h2>
 *
 * A sidecar can only commit the checkpoints staged on it, so today each group is the
 * committables staged on one sidecar ({@link StagedCommittable#stagedOn()}), and writers on
 * several sidecars make one snapshot per sidecar. The committer reaches its own sidecar (the
 * sink's target from this machine) and any sidecar with a target that is not machine-local; a
 * checkpoint staged on a machine-local sidecar of another task manager cannot be committed from
 * here, and the commit fails naming it (use {@link CommitTopology#PER_SUBTASK} for such jobs).
 * Once a Commit on any sidecar of a table root publishes the checkpoints staged on the others,
 * {@link #committedBy} returns the committer's own sidecar for everything, and a checkpoint is
 * one snapshot however many sidecars its writers used.
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
 *   <li>OK: done; {@code already_committed} for every table and sidecar of a request: {@code
 *       signalAlreadyCommitted()}.
 *   <li>UNAVAILABLE, ABORTED, RESOURCE_EXHAUSTED or DEADLINE_EXCEEDED still failing after the
 *       client's retries: {@link #commit} throws an {@link IOException}, which fails the task.
 *       Flink's restart strategy paces the recovery; the restored committer commits the same
 *       committables again (they are in its checkpointed state).
 *   <li>DATA_LOSS, FAILED_PRECONDITION, INVALID_ARGUMENT, NOT_FOUND and any other code: also an
 *       {@link IOException}. None of them goes away by retrying, and discarding the request
 *       ({@code signalFailedWithKnownReason}) would silently lose the rows of a completed
 *       checkpoint.
 * </ul>
 *
 * The exception names every committable of the failed call. It is thrown rather than signalled
 * per request with {@code signalFailedWithUnknownReason}, which throws at the first request in
 * every Flink release and so would name only that one. When the groups go to several sidecars and
 * one fails, the groups committed before it stay committed; the restore commits them again as
 * already committed.
 *
 * <p>Not thread-safe; Flink calls it from one task thread.
 */
public final class DeltaSidecarCommitter implements Committer<AggregatedCommittable> {
  private final DeltaSidecarSink<?> sink;
  /** The sidecar of the sink's target as this machine reaches it. */
  private final SidecarLocation own;
  /** Clients per sidecar, the own one first; created on first use. */
  private final Map<SidecarLocation, DeltaSidecarClient> clients = new HashMap<>();

  DeltaSidecarCommitter(DeltaSidecarSink<?> sink) {
    this.sink = sink;
    this.own = SidecarLocation.of(sink.target());
    clients.put(own, sink.newClient(sink.target()));
  }

  @Override
  public void commit(Collection<CommitRequest<AggregatedCommittable>> requests)
      throws IOException {
    if (requests.isEmpty()) {
      return;
    }
    // One Commit call per sidecar, in the order the sidecars first appear.
    Map<SidecarLocation, List<Committable>> calls = new LinkedHashMap<>();
    for (CommitRequest<AggregatedCommittable> r : requests) {
      for (StagedCommittable staged : r.getCommittable().committables()) {
        calls.computeIfAbsent(committedBy(staged), s -> new ArrayList<>()).add(staged.committable());
      }
    }
    Map<SidecarLocation, Map<String, TableCommitResult>> results = new HashMap<>();
    for (Map.Entry<SidecarLocation, List<Committable>> call : calls.entrySet()) {
      Map<String, TableCommitResult> byTable = new HashMap<>();
      for (TableCommitResult result : commitOn(call.getKey(), call.getValue())) {
        byTable.put(result.table(), result);
      }
      results.put(call.getKey(), byTable);
    }
    for (CommitRequest<AggregatedCommittable> r : requests) {
      boolean alreadyCommitted = true;
      for (StagedCommittable staged : r.getCommittable().committables()) {
        SidecarLocation sidecar = committedBy(staged);
        TableCommitResult result = results.get(sidecar).get(staged.committable().getTable());
        if (result == null) {
          throw new IOException(
              "delta-sidecar: the Commit answer of "
                  + sidecar
                  + " names no commit of table '"
                  + staged.committable().getTable()
                  + "' for "
                  + names(calls.get(sidecar)));
        }
        alreadyCommitted &= result.alreadyCommitted();
      }
      if (alreadyCommitted) {
        r.signalAlreadyCommitted();
      }
    }
  }

  /**
   * The sidecar that commits {@code staged}: the one it was staged on (the committer's own for
   * committables of releases that did not record it). The one place to change when any sidecar
   * can commit what the others staged: then return {@link #own} for every committable.
   */
  private SidecarLocation committedBy(StagedCommittable staged) {
    return staged.stagedOn().isUnknown() ? own : staged.stagedOn();
  }

  private List<TableCommitResult> commitOn(SidecarLocation sidecar, List<Committable> committables)
      throws IOException {
    try {
      return client(sidecar, committables).commit(committables);
    } catch (RetryableException e) {
      throw new IOException(
          "delta-sidecar: the sidecar "
              + sidecar
              + " stayed unavailable through the commit's retries ("
              + e.getMessage()
              + "); failing the task so that the restore commits "
              + names(committables)
              + " again",
          e);
    } catch (DeltaSidecarException e) {
      throw new IOException(
          "delta-sidecar: cannot commit "
              + names(committables)
              + " on "
              + sidecar
              + ": "
              + e.getMessage(),
          e);
    }
  }

  private DeltaSidecarClient client(SidecarLocation sidecar, List<Committable> committables)
      throws IOException {
    DeltaSidecarClient client = clients.get(sidecar);
    if (client != null) {
      return client;
    }
    if (sidecar.isMachineLocal()) {
      throw new IOException(
          "delta-sidecar: "
              + names(committables)
              + " were staged on the sidecar at "
              + sidecar.target()
              + " of task manager "
              + sidecar.host()
              + ", which the sink's one committer on "
              + own.host()
              + " cannot reach: a machine-local target names a different sidecar on every task"
              + " manager. Until a sidecar can commit what another staged, run such a job with"
              + " the per-subtask committer ('sink.commit.topology' = 'per-subtask', or"
              + " DeltaSidecarSink.Builder#commitTopology(CommitTopology.PER_SUBTASK)).");
    }
    client = sink.newClient(sidecar.target());
    clients.put(sidecar, client);
    return client;
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
    for (DeltaSidecarClient client : clients.values()) {
      client.close();
    }
    clients.clear();
  }
}
