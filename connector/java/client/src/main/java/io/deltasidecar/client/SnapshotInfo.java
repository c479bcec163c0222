package io.deltasidecar.client;

import java.time.Instant;
import java.util.List;

/**
 * One retained snapshot of a table: its id and time, its kind (CREATE, APPEND, COMPACT, ALTER, DROP_PARTITION), the rows
 * and deletes it added, and the checkpoints it committed.
 */
public record SnapshotInfo(
    long id, Instant time, String kind, long rows, long deletes, List<CommitIdentity> identities) {
  public SnapshotInfo {
    identities = List.copyOf(identities);
  }
}
