package io.deltasidecar.flink.source;

import org.apache.flink.api.connector.source.SourceSplit;

/**
 * A unit of a {@link DeltaSidecarSource}'s work, with its progress (immutable: progress makes a
 * new split).
 *
 * <ul>
 *   <li>{@link Kind#SNAPSHOT}: the rows of bucket {@link #bucket} of snapshot {@link
 *       #snapshotId}, the first {@link #skip} of which were already emitted. A scan of a snapshot
 *       returns the same rows in the same order every time, so skipping by count is exact.
 *   <li>{@link Kind#CHANGELOG}: the changes of every APPEND snapshot after {@link #snapshotId}
 *       (the last snapshot whose changes were all emitted), the first {@link #skip} changes of
 *       the next snapshot already emitted. A snapshot's changes are the same, in the same order,
 *       every time they are read, so a checkpoint taken in the middle of a snapshot resumes
 *       exactly after its last emitted change.
 * </ul>
 */
public final class DeltaSourceSplit implements SourceSplit {
  /** What a split reads. */
  public enum Kind {
    SNAPSHOT,
    CHANGELOG
  }

  private final Kind kind;
  private final long snapshotId;
  private final int bucket;
  private final long skip;

  DeltaSourceSplit(Kind kind, long snapshotId, int bucket, long skip) {
    if (snapshotId < 0 || skip < 0 || (kind == Kind.SNAPSHOT && bucket < 0)) {
      throw new IllegalArgumentException(
          "invalid split " + kind + " snapshot " + snapshotId + " bucket " + bucket + " skip " + skip);
    }
    this.kind = kind;
    this.snapshotId = snapshotId;
    this.bucket = kind == Kind.SNAPSHOT ? bucket : -1;
    this.skip = skip;
  }

  static DeltaSourceSplit snapshot(long snapshotId, int bucket) {
    return new DeltaSourceSplit(Kind.SNAPSHOT, snapshotId, bucket, 0);
  }

  static DeltaSourceSplit changelog(long afterSnapshotId) {
    return new DeltaSourceSplit(Kind.CHANGELOG, afterSnapshotId, -1, 0);
  }

  public Kind kind() {
    return kind;
  }

  /** SNAPSHOT: the snapshot read; CHANGELOG: the last snapshot whose changes were all emitted. */
  public long snapshotId() {
    return snapshotId;
  }

  /** SNAPSHOT: the bucket read; CHANGELOG: -1. */
  public int bucket() {
    return bucket;
  }

  /** Records of the split (SNAPSHOT) or of the next snapshot (CHANGELOG) already emitted. */
  public long skip() {
    return skip;
  }

  /** This split after {@code emitted} more records of its current unit. */
  DeltaSourceSplit withSkip(long emitted) {
    return new DeltaSourceSplit(kind, snapshotId, bucket, emitted);
  }

  /** A CHANGELOG split whose changes up to {@code completedSnapshotId} were all emitted. */
  DeltaSourceSplit completedThrough(long completedSnapshotId) {
    return new DeltaSourceSplit(kind, completedSnapshotId, bucket, 0);
  }

  @Override
  public String splitId() {
    // One changelog per source: its id does not change as it advances.
    return kind == Kind.SNAPSHOT ? "snapshot-" + snapshotId + "-bucket-" + bucket : "changelog";
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof DeltaSourceSplit s
        && kind == s.kind
        && snapshotId == s.snapshotId
        && bucket == s.bucket
        && skip == s.skip;
  }

  @Override
  public int hashCode() {
    return ((kind.hashCode() * 31 + Long.hashCode(snapshotId)) * 31 + bucket) * 31
        + Long.hashCode(skip);
  }

  @Override
  public String toString() {
    return kind == Kind.SNAPSHOT
        ? "snapshot " + snapshotId + " bucket " + bucket + " (skip " + skip + ")"
        : "changelog after snapshot " + snapshotId + " (skip " + skip + ")";
  }
}
