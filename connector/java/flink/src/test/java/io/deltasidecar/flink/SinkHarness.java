package io.deltasidecar.flink;

import io.deltasidecar.flink.FlinkContexts.Request;
import io.deltasidecar.flink.FlinkContexts.Signal;
import io.deltasidecar.v1.Committable;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.TreeMap;
import org.apache.flink.api.connector.sink2.Committer;
import org.apache.flink.api.connector.sink2.CommittingSinkWriter;
import org.apache.flink.api.connector.sink2.SinkWriter;
import org.apache.flink.api.connector.sink2.StatefulSinkWriter;
import org.apache.flink.core.io.SimpleVersionedSerializer;

/**
 * Drives a {@link DeltaSidecarSink} through Flink's sink lifecycle the way SinkWriterOperator and
 * CommitterOperator do, without Flink:
 *
 * <ul>
 *   <li>checkpoint N: per writer {@code flush(false)}, {@code prepareCommit()} (committables go to
 *       the committer, tagged N), {@code snapshotState(N)}; the writer states and the
 *       committer's pending committables are stored as bytes from the sink's serializers;
 *   <li>N complete: the committer commits every pending committable of checkpoints ≤ N in one
 *       {@code commit} call; requests signalled retry-later stay pending;
 *   <li>failure: writers and committer are dropped without being closed (zombies);
 *   <li>restore from N: a new committer re-commits the committables of N's committer state, and
 *       {@code restoreWriter} gets the restored id and N's writer states (deserialized), state i
 *       going to subtask i mod parallelism.
 * </ul>
 */
final class SinkHarness<IN> {
  private static final SinkWriter.Context NO_CONTEXT =
      new SinkWriter.Context() {
        @Override
        public long currentWatermark() {
          return Long.MIN_VALUE;
        }

        @Override
        public Long timestamp() {
          return null;
        }
      };

  private record Snapshot(
      int stateVersion,
      List<byte[]> writerStates,
      int committableVersion,
      TreeMap<Long, List<byte[]>> committerState) {}

  private final DeltaSidecarSink<IN> sink;
  private final SimpleVersionedSerializer<Committable> committableSerializer;
  private final SimpleVersionedSerializer<DeltaWriterState> stateSerializer;
  private final List<AutoCloseable> abandoned = new ArrayList<>();
  private final Map<Long, Snapshot> snapshots = new TreeMap<>();
  private List<StatefulSinkWriter<IN, DeltaWriterState>> writers = new ArrayList<>();
  private Committer<Committable> committer;
  private int attempt;
  /** The committer's pending committables by checkpoint id, serialized as in its state. */
  private TreeMap<Long, List<byte[]>> pending = new TreeMap<>();
  /** Retries so far of each pending committable (by its serialized form's identity). */
  private final Map<Committable, Integer> retries = new java.util.HashMap<>();

  SinkHarness(DeltaSidecarSink<IN> sink) {
    this.sink = sink;
    this.committableSerializer = sink.getCommittableSerializer();
    this.stateSerializer = sink.getWriterStateSerializer();
  }

  /** A fresh start (no restored checkpoint) with {@code parallelism} writers. */
  SinkHarness<IN> open(int parallelism) throws IOException {
    committer =
        sink.createCommitter(
            new FlinkContexts.CommitterContext(
                new FlinkContexts.Task(0, 1, attempt), OptionalLong.empty()));
    for (int i = 0; i < parallelism; i++) {
      writers.add(
          (StatefulSinkWriter<IN, DeltaWriterState>)
              sink.createWriter(
                  new FlinkContexts.Writer(
                      new FlinkContexts.Task(i, parallelism, attempt), OptionalLong.empty())));
    }
    return this;
  }

  DeltaSidecarWriter<IN> writer(int subtask) {
    return (DeltaSidecarWriter<IN>) writers.get(subtask);
  }

  int parallelism() {
    return writers.size();
  }

  void write(int subtask, IN record) throws IOException, InterruptedException {
    writers.get(subtask).write(record, NO_CONTEXT);
  }

  /** A checkpoint whose snapshot is taken; returns the committables it produced. */
  List<Committable> checkpoint(long checkpointId) throws IOException, InterruptedException {
    return checkpoint(checkpointId, true);
  }

  /**
   * The pre-barrier part of checkpoint N on every writer (flush and prepareCommit, whose
   * committables reach the committer), then, when {@code snapshot}, snapshotState(N) and the
   * stored snapshot. Without the snapshot the checkpoint was declined before it.
   */
  @SuppressWarnings("unchecked")
  List<Committable> checkpoint(long checkpointId, boolean snapshot)
      throws IOException, InterruptedException {
    List<Committable> produced = new ArrayList<>();
    List<byte[]> states = new ArrayList<>();
    for (StatefulSinkWriter<IN, DeltaWriterState> w : writers) {
      w.flush(false);
      Collection<Committable> committables =
          ((CommittingSinkWriter<IN, Committable>) w).prepareCommit();
      for (Committable c : committables) {
        pending.computeIfAbsent(checkpointId, k -> new ArrayList<>())
            .add(committableSerializer.serialize(c));
        produced.add(c);
      }
      if (snapshot) {
        for (DeltaWriterState s : w.snapshotState(checkpointId)) {
          states.add(stateSerializer.serialize(s));
        }
      }
    }
    if (snapshot) {
      TreeMap<Long, List<byte[]>> committerState = new TreeMap<>();
      pending.forEach((cp, list) -> committerState.put(cp, new ArrayList<>(list)));
      snapshots.put(
          checkpointId,
          new Snapshot(
              stateSerializer.getVersion(),
              states,
              committableSerializer.getVersion(),
              committerState));
    }
    return produced;
  }

  /** notifyCheckpointComplete(N): commits the pending committables of checkpoints ≤ N. */
  List<Request<Committable>> complete(long checkpointId) throws IOException, InterruptedException {
    TreeMap<Long, List<byte[]>> due = new TreeMap<>(pending.headMap(checkpointId, true));
    return commit(due, committableSerializer.getVersion());
  }

  private List<Request<Committable>> commit(TreeMap<Long, List<byte[]>> due, int version)
      throws IOException, InterruptedException {
    List<Request<Committable>> requests = new ArrayList<>();
    for (List<byte[]> list : due.values()) {
      for (byte[] bytes : list) {
        Committable c = committableSerializer.deserialize(version, bytes);
        requests.add(new Request<>(c, retries.getOrDefault(c, 0)));
      }
    }
    if (requests.isEmpty()) {
      return requests;
    }
    List<Committer.CommitRequest<Committable>> asFlink = new ArrayList<>(requests);
    committer.commit(asFlink);
    // Done requests leave the committer's state; retry-later ones stay for the next attempt.
    TreeMap<Long, List<byte[]>> left = new TreeMap<>(pending);
    int i = 0;
    for (Map.Entry<Long, List<byte[]>> e : due.entrySet()) {
      List<byte[]> keep = new ArrayList<>();
      for (byte[] bytes : e.getValue()) {
        Request<Committable> r = requests.get(i++);
        if (r.signal == Signal.RETRY_LATER) {
          keep.add(bytes);
          retries.merge(r.getCommittable(), 1, Integer::sum);
        } else if (r.signal == Signal.FAILED_UNKNOWN) {
          keep.add(bytes); // the job fails; a restore finds it in the committer state
        }
      }
      if (keep.isEmpty()) {
        left.remove(e.getKey());
      } else {
        left.put(e.getKey(), keep);
      }
    }
    pending = left;
    return requests;
  }

  /** Forgets the committables checkpoint N sent to the committer (as if they never arrived). */
  void dropPending(long checkpointId) {
    pending.remove(checkpointId);
  }

  /** A task failure: writers and committer are dropped without being closed. */
  void fail() {
    abandoned.addAll(writers);
    if (committer != null) {
      abandoned.add(committer);
    }
    writers = new ArrayList<>();
    committer = null;
    pending = new TreeMap<>();
    attempt++;
  }

  /**
   * Restores from the snapshot of checkpoint {@code checkpointId} with {@code parallelism}
   * writers; returns the requests of the committer's re-commit of its restored committables.
   */
  List<Request<Committable>> restore(long checkpointId, int parallelism)
      throws IOException, InterruptedException {
    if (!writers.isEmpty() || committer != null) {
      throw new IllegalStateException("fail() before restore()");
    }
    Snapshot s = snapshots.get(checkpointId);
    if (s == null) {
      throw new IllegalStateException("no snapshot of checkpoint " + checkpointId);
    }
    OptionalLong restored = OptionalLong.of(checkpointId);
    committer =
        sink.createCommitter(
            new FlinkContexts.CommitterContext(new FlinkContexts.Task(0, 1, attempt), restored));
    List<List<DeltaWriterState>> states = new ArrayList<>();
    for (int i = 0; i < parallelism; i++) {
      states.add(new ArrayList<>());
    }
    for (int j = 0; j < s.writerStates().size(); j++) {
      states.get(j % parallelism)
          .add(stateSerializer.deserialize(s.stateVersion(), s.writerStates().get(j)));
    }
    for (int i = 0; i < parallelism; i++) {
      writers.add(
          sink.restoreWriter(
              new FlinkContexts.Writer(new FlinkContexts.Task(i, parallelism, attempt), restored),
              states.get(i)));
    }
    pending = new TreeMap<>();
    s.committerState().forEach((cp, list) -> pending.put(cp, new ArrayList<>(list)));
    return commit(new TreeMap<>(pending), s.committableVersion());
  }

  /** Closes the live writers and committer (rethrowing the first failure), then the zombies. */
  void close() throws Exception {
    Exception first = null;
    List<AutoCloseable> all = new ArrayList<>(writers);
    if (committer != null) {
      all.add(committer);
    }
    for (AutoCloseable c : all) {
      try {
        c.close();
      } catch (Exception e) {
        first = first == null ? e : first;
      }
    }
    // Zombies of failed attempts: their streams may be fenced or broken; only release them.
    for (AutoCloseable c : abandoned) {
      try {
        c.close();
      } catch (Exception | AssertionError ignored) {
        // expected for fenced or broken writers
      }
    }
    if (first != null) {
      throw first;
    }
  }
}
