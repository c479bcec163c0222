package io.deltasidecar.flink;

import java.util.Objects;

/**
 * What a writer keeps in a checkpoint: its table, its writer id, and the id of its last seal at
 * the time of the snapshot. On restore the writer seals above that id, and a writer id that is not
 * the restoring subtask's own (after a change of parallelism) is registered with the restored
 * checkpoint id so that its staged tail is dropped. Immutable.
 */
public final class DeltaWriterState {
  private final String table;
  private final String writerId;
  private final long lastSealedCheckpointId;

  public DeltaWriterState(String table, String writerId, long lastSealedCheckpointId) {
    this.table = Objects.requireNonNull(table, "table");
    this.writerId = Objects.requireNonNull(writerId, "writerId");
    if (lastSealedCheckpointId < 0) {
      throw new IllegalArgumentException(
          "lastSealedCheckpointId must not be negative, got " + lastSealedCheckpointId);
    }
    this.lastSealedCheckpointId = lastSealedCheckpointId;
  }

  public String table() {
    return table;
  }

  public String writerId() {
    return writerId;
  }

  /** The id of the writer's last seal when the state was taken; 0 if it had sealed none. */
  public long lastSealedCheckpointId() {
    return lastSealedCheckpointId;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof DeltaWriterState s
        && table.equals(s.table)
        && writerId.equals(s.writerId)
        && lastSealedCheckpointId == s.lastSealedCheckpointId;
  }

  @Override
  public int hashCode() {
    return Objects.hash(table, writerId, lastSealedCheckpointId);
  }

  @Override
  public String toString() {
    return "DeltaWriterState{table="
        + table
        + ", writerId="
        + writerId
        + ", lastSealedCheckpointId="
        + lastSealedCheckpointId
        + "}";
  }
}
