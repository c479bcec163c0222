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
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.flink.api.connector.sink2.Committer;

/**
 * Commits the {@link AggregatedCommittable}s of completed checkpoints. All committables of one
 * {@link #commit} call, whichever sidecars they were staged on, go into ONE sidecar {@code Commit}
 * call, which is one atomic snapshot per table: any sidecar on the table root publishes the
 * checkpoints the others staged (from the files they prepared in the shared root). In the {@link
 * CommitTopology#GLOBAL} topology Flink hands the one committer subtask that receives anything one
 * request per checkpoint, holding every writer's seal, so a checkpoint is one snapshot.
 *
 * <p>Idempotent by construction: the table records each committed {@code (writer identity,
 * checkpoint)}, so a request that was committed before (a retry, a restore replaying its state)
 * changes nothing and is signalled {@link CommitRequest#signalAlreadyCommitted()}.
 *
 * <h2>Which sidecar commits</h2>
 *
 * The committer's own sidecar first (the sink's target for this committer's subtask, as this task
 * manager reaches it), then the other sidecars the committables were staged on that this machine
 * can reach (a machine-local target of another task manager names a sidecar it cannot reach), then
 * the sink's other targets. Each Commit attempt goes to one of them; an attempt that fails with a
 * retryable code (UNAVAILABLE, also a sidecar that does not answer, ABORTED, RESOURCE_EXHAUSTED,
 * DEADLINE_EXCEEDED) moves on to the next, and after a round over all of them the committer backs
 * off (100 ms doubling to 5 s), {@code maxCommitAttempts} attempts in all. A sidecar that waits for
 * another's prepared files and answers UNAVAILABLE is retried the same way.
 *
 * <h2>Failures, and why the committer never calls retryLater()</h2>
 *
 * What {@link CommitRequest#retryLater()} does depends on the Flink release: Flink 1.20.0 retries
 * on a one-second timer without end (a tight loop at the end of input), Flink 1.20.1 and later and
 * Flink 2 retry at once, {@code sink.committer.retries} times (default 10), then fail the task.
 * Neither adds anything to the committer's own retries, which already wait with backoff. So the
 * committer behaves the same on every line:
 *
 * <ul>
 *   <li>OK: done; {@code already_committed} for every table of a request: {@code
 *       signalAlreadyCommitted()}.
 *   <li>UNAVAILABLE, ABORTED, RESOURCE_EXHAUSTED or DEADLINE_EXCEEDED still failing after the
 *       attempts: {@link #commit} throws an {@link IOException}, which fails the task. Flink's
 *       restart strategy paces the recovery; the restored committer commits the same committables
 *       again (they are in its checkpointed state).
 *   <li>DATA_LOSS, FAILED_PRECONDITION, INVALID_ARGUMENT, NOT_FOUND and any other code: also an
 *       {@link IOException}, without trying another sidecar. None of them goes away by retrying,
 *       and discarding the request ({@code signalFailedWithKnownReason}) would silently lose the
 *       rows of a completed checkpoint.
 * </ul>
 *
 * The exception names every committable of the failed call. It is thrown rather than signalled
 * per request with {@code signalFailedWithUnknownReason}, which throws at the first request in
 * every Flink release and so would name only that one.
 *
 * <p>Not thread-safe; Flink calls it from one task thread.
 */
public final class DeltaSidecarCommitter implements Committer<AggregatedCommittable> {
  private static final long INITIAL_BACKOFF_NANOS = TimeUnit.MILLISECONDS.toNanos(100);
  private static final long MAX_BACKOFF_NANOS = TimeUnit.SECONDS.toNanos(5);

  private final DeltaSidecarSink<?> sink;
  /** The sidecar of the sink's target for this subtask, as this machine reaches it. */
  private final SidecarLocation own;
  /** Clients per target, created on first use; each Commit call on them is one attempt. */
  private final Map<String, DeltaSidecarClient> clients = new HashMap<>();

  DeltaSidecarCommitter(DeltaSidecarSink<?> sink, int subtaskIndex) {
    this.sink = sink;
    this.own = SidecarLocation.of(sink.target(subtaskIndex));
  }

  @Override
  public void commit(Collection<CommitRequest<AggregatedCommittable>> requests)
      throws IOException, InterruptedException {
    if (requests.isEmpty()) {
      return;
    }
    List<Committable> committables = new ArrayList<>();
    LinkedHashSet<SidecarLocation> stagedOn = new LinkedHashSet<>();
    for (CommitRequest<AggregatedCommittable> r : requests) {
      for (StagedCommittable staged : r.getCommittable().committables()) {
        committables.add(staged.committable());
        stagedOn.add(staged.stagedOn());
      }
    }
    if (committables.isEmpty()) {
      return;
    }
    Map<String, TableCommitResult> byTable = new HashMap<>();
    for (TableCommitResult result : commitOnAny(candidates(stagedOn), committables)) {
      byTable.put(result.table(), result);
    }
    for (CommitRequest<AggregatedCommittable> r : requests) {
      boolean alreadyCommitted = true;
      for (StagedCommittable staged : r.getCommittable().committables()) {
        TableCommitResult result = byTable.get(staged.committable().getTable());
        if (result == null) {
          throw new IOException(
              "delta-sidecar: the Commit answer names no commit of table '"
                  + staged.committable().getTable()
                  + "' for "
                  + names(committables));
        }
        alreadyCommitted &= result.alreadyCommitted();
      }
      if (alreadyCommitted) {
        r.signalAlreadyCommitted();
      }
    }
  }

  /**
   * The sidecars to try, in order: the own one, the reachable ones the committables were staged
   * on, the sink's other targets. Never empty.
   */
  List<String> candidates(Collection<SidecarLocation> stagedOn) {
    LinkedHashSet<String> targets = new LinkedHashSet<>();
    targets.add(own.target());
    for (SidecarLocation s : stagedOn) {
      if (!s.isUnknown() && s.isReachableFromHere()) {
        targets.add(s.target());
      }
    }
    targets.addAll(sink.targets());
    return new ArrayList<>(targets);
  }


  private List<TableCommitResult> commitOnAny(
      List<String> candidates, List<Committable> committables)
      throws IOException, InterruptedException {
    int attempts = sink.maxCommitAttempts();
    long backoffNanos = INITIAL_BACKOFF_NANOS;
    List<String> failures = new ArrayList<>();
    for (int attempt = 1; ; attempt++) {
      String target = candidates.get((attempt - 1) % candidates.size());
      try {
        return client(target).commit(committables);
      } catch (RetryableException e) {
        failures.add(target + ": " + e.getMessage());
        if (attempt >= attempts) {
          throw new IOException(
              "delta-sidecar: no sidecar committed "
                  + names(committables)
                  + " in "
                  + attempts
                  + " attempts (tried "
                  + String.join(", ", candidates)
                  + "; last answers: "
                  + String.join("; ", lastOf(failures, candidates.size()))
                  + "); failing the task so that the restore commits them again",
              e);
        }
        if (attempt % candidates.size() == 0) {
          TimeUnit.NANOSECONDS.sleep(backoffNanos);
          backoffNanos = Math.min(backoffNanos * 2, MAX_BACKOFF_NANOS);
        }
      } catch (DeltaSidecarException e) {
        throw new IOException(
            "delta-sidecar: cannot commit "
                + names(committables)
                + " on "
                + target
                + ": "
                + e.getMessage(),
            e);
      }
    }
  }

  private DeltaSidecarClient client(String target) {
    return clients.computeIfAbsent(target, sink::newCommitClient);
  }

  private static List<String> lastOf(List<String> list, int n) {
    return list.subList(Math.max(0, list.size() - n), list.size());
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
