package io.deltasidecar.flink;

import io.deltasidecar.client.TableSchema;
import java.io.Serializable;

/**
 * Turns one stream record into the rows the sink writes: any number of upserts and deletes
 * (usually one, none to drop the record). Part of the sink, so it is serialized with the job
 * graph and must be {@link Serializable}: keep lambdas to serializable ones, or write a class.
 *
 * <p>Java types per column type are those of the client (docs/protocol.md, "Values"): BIGINT
 * {@code Long}, INT {@code Integer}, STRING {@code String}, DECIMAL {@code BigDecimal}, DATE
 * {@code LocalDate}, DATETIME, TIMESTAMP and TIMESTAMP_LTZ {@code Instant}, BINARY {@code byte[]},
 * ARRAY {@code List}, MAP {@code Map}, STRUCT {@code Map} of field name to value, and so on. A wrong type or an out-of-range value fails the write with an error naming the
 * column.
 */
@FunctionalInterface
public interface RecordConverter<IN> extends Serializable {
  /**
   * Called once in each writer, before the first record, with the table's schema as the sidecar
   * describes it. Throw (e.g. {@link IllegalStateException}) with a message naming the mismatch
   * when the converter cannot write this table; the writer then fails to open.
   */
  default void open(TableSchema schema) {}

  /** Emits the rows for {@code record} into {@code out}; called on the task thread. */
  void convert(IN record, RowOutput out);

  /** Where a converter puts its rows. Valid only during the {@link #convert} call. */
  interface RowOutput {
    /** Inserts or replaces the row with these values, one per column, in schema order. */
    void upsert(Object... valuesInSchemaOrder);

    /** Deletes the row with this primary key, one value per key column, in key order. */
    void delete(Object... keyValuesInKeyOrder);
  }
}
