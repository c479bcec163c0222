package io.deltasidecar.flink.source;

import io.deltasidecar.client.Row;
import io.deltasidecar.client.TableSchema;
import java.io.Serializable;
import org.apache.flink.types.RowKind;

/**
 * Turns what a {@link DeltaSidecarSource} reads into its records. Part of the source, so it is
 * serialized with the job graph: keep it {@link Serializable}.
 *
 * <p>The kinds: {@link RowKind#INSERT} for a row of the snapshot a read starts with, {@link
 * RowKind#UPDATE_AFTER} for a row a later commit inserted or replaced (the source does not know
 * which, so it is an upsert by the primary key), {@link RowKind#DELETE} for a row a later commit
 * deleted, whose {@link Row} holds the key columns only (the other values are null).
 */
@FunctionalInterface
public interface ChangeConverter<T> extends Serializable {
  /**
   * Called once in each reader before the first record, with the table's schema as the sidecar
   * describes it. Throw (e.g. {@link IllegalStateException}) naming the mismatch when the
   * converter cannot read this table; the reader then fails to start.
   */
  default void open(TableSchema schema) {}

  /** The record for one row of snapshot {@code snapshotId}; called on the reader's task thread. */
  T convert(RowKind kind, Row row, long snapshotId);
}
