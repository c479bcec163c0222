package io.deltasidecar.flink.source;

import java.io.Serializable;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.OptionalLong;

/**
 * What a {@link DeltaSidecarSource} reads and from where; validated when built, immutable.
 *
 * @param targets the sidecars; reader subtask i connects to the (i mod n)-th, the enumerator to
 *     the first
 * @param table the table's name on the sidecar
 * @param mode what to read
 * @param snapshotId SNAPSHOT and LATEST: the snapshot to read (null: the latest when the job
 *     first starts); FROM_SNAPSHOT: the snapshot to follow from, exclusive (required)
 * @param consumer the consumer name passed to FollowChanges to hold snapshot expiry (null: none)
 * @param pollInterval how often an idle following read looks for new snapshots
 * @param callTimeout deadline of the unary calls (DescribeTable)
 */
record SourceConfig(
    List<String> targets,
    String table,
    ScanMode mode,
    Long snapshotId,
    String consumer,
    Duration pollInterval,
    Duration callTimeout)
    implements Serializable {
  SourceConfig {
    targets = List.copyOf(targets);
    if (targets.isEmpty()) {
      throw new IllegalArgumentException("no sidecar target given");
    }
    Objects.requireNonNull(table, "table");
    if (table.isBlank()) {
      throw new IllegalArgumentException("the table name is empty");
    }
    Objects.requireNonNull(mode, "mode");
    if (mode == ScanMode.FROM_SNAPSHOT && snapshotId == null) {
      throw new IllegalArgumentException(
          "scan mode from-snapshot needs the snapshot id to follow from");
    }
    if (snapshotId != null && snapshotId < 0) {
      throw new IllegalArgumentException("snapshot id " + snapshotId + " is negative");
    }
    if (consumer != null && !consumer.matches("[A-Za-z0-9_.-]{1,128}")) {
      throw new IllegalArgumentException(
          "consumer id '" + consumer + "' must be 1-128 letters, digits, '_', '-' or '.'");
    }
    if (mode == ScanMode.SNAPSHOT && consumer != null) {
      throw new IllegalArgumentException(
          "a consumer id holds expiry for a following read; scan mode snapshot does not follow");
    }
    positive(pollInterval, "poll interval");
    positive(callTimeout, "call timeout");
  }

  private static void positive(Duration d, String what) {
    if (d == null || d.isNegative() || d.isZero()) {
      throw new IllegalArgumentException(what + " must be positive, got " + d);
    }
  }

  OptionalLong snapshot() {
    return snapshotId == null ? OptionalLong.empty() : OptionalLong.of(snapshotId);
  }

  String targetOf(int subtask) {
    return targets.get(subtask % targets.size());
  }
}
