package io.deltasidecar.client;

import java.util.Objects;

/**
 * One element of a following read ({@link DeltaSidecarClient#followChanges}): a change of a row in
 * snapshot {@link #snapshotId}, or the end of that snapshot's changes. A snapshot's changes come
 * together, in key order within each bucket, and are followed by exactly one {@link
 * Op#SNAPSHOT_END}: only then is the snapshot complete. Immutable.
 *
 * @param snapshotId the APPEND snapshot the change belongs to
 * @param op what happened to the row
 * @param row the full row for {@link Op#UPSERT}; for {@link Op#DELETE} a row whose key columns
 *     alone are set ({@link Row#isDelete()}); null for {@link Op#SNAPSHOT_END}
 */
public record Change(long snapshotId, Op op, Row row) {
  /** The kind of a {@link Change}. */
  public enum Op {
    /** The row was inserted or replaced. */
    UPSERT,
    /** The row with this key was deleted. */
    DELETE,
    /** Every change of the snapshot was delivered before this one. */
    SNAPSHOT_END
  }

  public Change {
    Objects.requireNonNull(op, "op");
    if ((op == Op.SNAPSHOT_END) != (row == null)) {
      throw new IllegalArgumentException(op + " with row " + row);
    }
  }

  static Change of(long snapshotId, Row row) {
    return new Change(snapshotId, row.isDelete() ? Op.DELETE : Op.UPSERT, row);
  }

  static Change end(long snapshotId) {
    return new Change(snapshotId, Op.SNAPSHOT_END, null);
  }
}
