package io.deltasidecar.client;

import io.deltasidecar.v1.Committable;
import java.util.List;

/**
 * The result of RegisterWriter: the writer's new epoch (every older one is fenced), the sealed
 * checkpoints at or below the restored one that are not committed yet ({@code pending}: commit
 * them), the last checkpoint the table committed for this writer (-1 when none), and the
 * table's schema.
 */
public record Registration(
    String table,
    String writerId,
    long epoch,
    List<Committable> pending,
    long lastCommittedCheckpointId,
    TableSchema schema) {
  public Registration {
    pending = List.copyOf(pending);
  }
}
