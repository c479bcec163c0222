package io.deltasidecar.flink;

import io.deltasidecar.client.DeltaSidecarClient;
import io.deltasidecar.client.DeltaSidecarException;
import io.deltasidecar.client.RecordWriter;
import io.deltasidecar.client.Registration;
import io.deltasidecar.client.TableNotFoundException;
import io.deltasidecar.client.TableSchema;
import io.deltasidecar.v1.Committable;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.Set;
import org.apache.flink.api.connector.sink2.CommittingSinkWriter;
import org.apache.flink.api.connector.sink2.StatefulSinkWriter;
import org.apache.flink.api.connector.sink2.WriterInitContext;

/**
 * The writer of one parallel subtask: stages records on the sidecar under {@code
 * <prefix>/<subtask index>} and seals them into a committable on every checkpoint.
 *
 * <p>Not thread-safe: Flink calls it from the task thread only. Every failure is thrown as an
 * {@link IOException} naming the writer and table, whose cause is the client's {@link
 * DeltaSidecarException}; it fails the task, and Flink's restore (registering with the restored
 * checkpoint id) is the recovery.
 *
 * <h2>Checkpoint ids of the seals</h2>
 *
 * {@link #prepareCommit()} does not get the id of the checkpoint it belongs to: Flink calls it
 * just before {@link #snapshotState(long) snapshotState(N)}. The writer seals with
 *
 * <pre>  seal id = max(lastSnapshotCheckpointId + 1, lastSealedId + 1)</pre>
 *
 * where {@code lastSnapshotCheckpointId} is the id of the previous {@code snapshotState} (or the
 * restored checkpoint id, or 0). The seal id is strictly increasing (the sidecar requires that),
 * and it is never above the checkpoint N it belongs to: the previous snapshot was of a checkpoint
 * below N, and the previous seal belonged to an earlier checkpoint, so by induction it is at most
 * N - 1. The seals of checkpoints up to K therefore all have ids up to K, and those of later
 * checkpoints ids above K (their prepareCommit came after snapshotState(K)). Registering with
 * restored id K thus keeps exactly the seals of the checkpoints the restore covers and drops the
 * rest, which the source replays. When the seal of a declined checkpoint was never committed, the
 * next completed checkpoint's commit takes it along (a Commit commits every seal of the writer up
 * to the one named), which is right: its records came before that checkpoint's barrier.
 *
 * <h2>Restored state after a change of parallelism</h2>
 *
 * Flink hands the writers' list state out in contiguous chunks (4 → 2: subtask 0 gets the states
 * of writers 0 and 1, subtask 1 those of 2 and 3; 3 → 2: {0, 1} and {2}), so a subtask may hold
 * the state of a writer id that another subtask now writes under. A subtask therefore registers
 * only its own id and the ids no subtask owns any more ({@code <prefix>/i} with i at or above the
 * new parallelism, or ids of another prefix); each such orphan is registered with the restored
 * checkpoint id, which drops what it staged after the checkpoint and fences its old attempts, and
 * its sealed checkpoints up to the restored one are committed. An id below the new parallelism is
 * left to its owner, which registers it with the same restored id: two subtasks registering one id
 * would fence each other.
 */
public final class DeltaSidecarWriter<IN>
    implements CommittingSinkWriter<IN, StagedCommittable>,
        StatefulSinkWriter<IN, DeltaWriterState> {
  private final String table;
  private final String writerId;
  private final RecordConverter<IN> converter;
  private final DeltaSidecarClient client;
  private final RecordWriter recordWriter;
  /** The sidecar this writer stages on, handed on with every seal. */
  private final SidecarLocation stagedOn;
  private final Output output = new Output();

  private long lastSnapshotCheckpointId;
  private long lastSealedId;
  /** Rows written since the last seal; no committable when there are none. */
  private long rowsSinceSeal;

  DeltaSidecarWriter(
      DeltaSidecarSink<IN> sink,
      WriterInitContext context,
      Collection<DeltaWriterState> recoveredState)
      throws IOException {
    this.table = sink.table();
    int subtask = context.getTaskInfo().getIndexOfThisSubtask();
    int parallelism = context.getTaskInfo().getNumberOfParallelSubtasks();
    this.writerId = sink.writerId(subtask);
    this.converter = sink.converter();
    String target = sink.target(subtask);
    this.stagedOn = SidecarLocation.of(target);
    OptionalLong restored = context.getRestoredCheckpointId();
    this.lastSnapshotCheckpointId = restored.orElse(0);

    // States of other writer ids arrive after a change of parallelism.
    long sealedInState = 0;
    Set<String> otherWriterIds = new LinkedHashSet<>();
    for (DeltaWriterState state : recoveredState) {
      if (!state.table().equals(table)) {
        throw new IOException(
            "writer "
                + writerId
                + " of table '"
                + table
                + "' was restored with the state of writer "
                + state.writerId()
                + " of table '"
                + state.table()
                + "': the sink's table changed, but a restore must write to the table the"
                + " checkpoint was taken for");
      }
      if (state.writerId().equals(writerId)) {
        sealedInState = Math.max(sealedInState, state.lastSealedCheckpointId());
      } else if (!ownedByAnotherSubtask(sink, state.writerId(), parallelism)) {
        otherWriterIds.add(state.writerId());
      }
    }

    DeltaSidecarClient c = sink.newClient(target);
    try {
      TableSchema schema = ensureTable(c, sink);
      converter.open(schema);
      List<Committable> pending = new ArrayList<>();
      // A writer id whose subtask no longer exists (scale-in) is registered here with the
      // restored id, so that what it staged after the checkpoint is dropped rather than left
      // staged; its sealed checkpoints up to the restored one are committed below. It is
      // registered on the sidecar it wrote to (the sink's target for its index), where its
      // staged data is.
      for (String other : otherWriterIds) {
        String otherTarget = targetOf(sink, other, target);
        if (otherTarget.equals(target)) {
          pending.addAll(c.register(table, other, restored).pending());
        } else {
          try (DeltaSidecarClient o = sink.newClient(otherTarget)) {
            pending.addAll(o.register(table, other, restored).pending());
          }
        }
      }
      Registration registration = c.register(table, writerId, restored);
      pending.addAll(registration.pending());
      long sealedPending = 0;
      for (Committable p : registration.pending()) {
        sealedPending = Math.max(sealedPending, p.getCheckpointId());
      }
      this.lastSealedId = Math.max(sealedInState, sealedPending);
      // Every seal up to the restored checkpoint belongs to a completed checkpoint, and the
      // committer's restored state holds its committable (or that of a later seal of the same
      // writer, which commits it along). The per-subtask committer commits them here too, at
      // once; a repeated commit changes nothing. The global committer leaves them to the
      // committer, which commits each restored checkpoint in one snapshot: committing them here
      // would make one snapshot per writer.
      if (sink.commitTopology() == CommitTopology.PER_SUBTASK) {
        c.commit(pending);
      }
      this.recordWriter = c.openWriter(registration, sink.writerOptions());
    } catch (DeltaSidecarException | IllegalArgumentException | IllegalStateException e) {
      c.close();
      throw failure("cannot open", e);
    } catch (RuntimeException e) {
      c.close();
      throw e;
    }
    this.client = c;
  }

  /** True when {@code id} is {@code <prefix>/i} for a subtask index i below {@code parallelism}. */
  static boolean ownedByAnotherSubtask(DeltaSidecarSink<?> sink, String id, int parallelism) {
    int index = subtaskIndexOf(sink, id);
    return index >= 0 && index < parallelism;
  }

  /** The sidecar writer {@code id} of this sink writes to; {@code fallback} for other ids. */
  private static String targetOf(DeltaSidecarSink<?> sink, String id, String fallback) {
    int index = subtaskIndexOf(sink, id);
    return index >= 0 ? sink.target(index) : fallback;
  }

  /** i when {@code id} is {@code <prefix>/i} of this sink (i in canonical decimal), else -1. */
  private static int subtaskIndexOf(DeltaSidecarSink<?> sink, String id) {
    String prefix = sink.writerIdPrefix() + "/";
    if (!id.startsWith(prefix)) {
      return -1;
    }
    String index = id.substring(prefix.length());
    if (index.isEmpty() || index.length() > 9 || !index.chars().allMatch(Character::isDigit)) {
      return -1;
    }
    if (index.length() > 1 && index.charAt(0) == '0') {
      return -1;
    }
    return Integer.parseInt(index);
  }

  private TableSchema ensureTable(DeltaSidecarClient c, DeltaSidecarSink<IN> sink) {
    try {
      return c.describeTable(table);
    } catch (TableNotFoundException e) {
      DeltaSidecarSink.TableSpec spec = sink.createTableSpec();
      if (spec == null) {
        throw e;
      }
      // Every subtask may get here at once; ifNotExists makes the losers' calls succeed.
      c.createTable(
          table, spec.schema(), spec.primaryKey(), spec.buckets(), true, spec.partitionBy(),
          Map.of());
      return c.describeTable(table);
    }
  }

  /** {@code <writerIdPrefix>/<subtask index>}. */
  public String writerId() {
    return writerId;
  }

  @Override
  public void write(IN element, Context context) throws IOException {
    try {
      converter.convert(element, output);
    } catch (DeltaSidecarException e) {
      throw failure("cannot write a record", e);
    }
  }

  @Override
  public void flush(boolean endOfInput) throws IOException {
    try {
      recordWriter.flush();
    } catch (DeltaSidecarException e) {
      throw failure("cannot flush", e);
    }
  }

  /** Seals what was written since the last seal (see the class comment for its id). */
  @Override
  public Collection<StagedCommittable> prepareCommit() throws IOException {
    if (rowsSinceSeal == 0) {
      return List.of();
    }
    long sealId = Math.max(lastSnapshotCheckpointId + 1, lastSealedId + 1);
    Committable committable;
    try {
      committable = recordWriter.prepareCommit(sealId);
    } catch (DeltaSidecarException e) {
      throw failure("cannot seal checkpoint " + sealId, e);
    }
    lastSealedId = sealId;
    rowsSinceSeal = 0;
    return List.of(new StagedCommittable(stagedOn, committable));
  }

  @Override
  public List<DeltaWriterState> snapshotState(long checkpointId) {
    lastSnapshotCheckpointId = checkpointId;
    return List.of(new DeltaWriterState(table, writerId, lastSealedId));
  }

  /**
   * Closes the stream and the client. Rows written since the last seal stay staged until the
   * writer id registers again, which drops them.
   */
  @Override
  public void close() {
    try {
      recordWriter.close();
    } finally {
      client.close();
    }
  }

  private IOException failure(String what, RuntimeException cause) {
    return new IOException(
        "delta-sidecar writer " + writerId + " of table '" + table + "': " + what + ": "
            + cause.getMessage(),
        cause);
  }

  private final class Output implements RecordConverter.RowOutput {
    @Override
    public void upsert(Object... valuesInSchemaOrder) {
      recordWriter.upsert(valuesInSchemaOrder);
      rowsSinceSeal++;
    }

    @Override
    public void delete(Object... keyValuesInKeyOrder) {
      recordWriter.delete(keyValuesInKeyOrder);
      rowsSinceSeal++;
    }
  }
}
