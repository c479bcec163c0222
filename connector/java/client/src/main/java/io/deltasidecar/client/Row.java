package io.deltasidecar.client;

import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.OptionalInt;

/**
 * One row read from a table: its values in schema order, as the Java types of {@link ColumnType}
 * (null for NULL). A row from {@code changes} may be a delete, which holds only the key columns.
 * Immutable (the byte arrays of BINARY values are the row's own; do not modify them).
 */
public final class Row {
  private final TableSchema schema;
  private final Object[] values;
  private final boolean delete;

  Row(TableSchema schema, Object[] values, boolean delete) {
    this.schema = schema;
    this.values = values;
    this.delete = delete;
  }

  /** The value of the named column; IllegalArgumentException when the table has no such column. */
  public Object get(String column) {
    OptionalInt i = schema.columnIndex(column);
    if (i.isEmpty()) {
      throw new IllegalArgumentException(
          "table '" + schema.table() + "' has no column '" + column + "' (columns: "
              + schema.columnsString() + ")");
    }
    return values[i.getAsInt()];
  }

  /** The value of the column at {@code index} in schema order. */
  public Object get(int index) {
    return values[index];
  }

  /** Column name to value, in schema order (NULLs included as null). */
  public Map<String, Object> asMap() {
    Map<String, Object> m = new LinkedHashMap<>();
    for (int i = 0; i < values.length; i++) {
      m.put(schema.column(i).name(), values[i]);
    }
    return Collections.unmodifiableMap(m);
  }

  /** True for a delete from {@code changes}: only the key columns are set. */
  public boolean isDelete() {
    return delete;
  }

  public TableSchema schema() {
    return schema;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof Row r && delete == r.delete && Arrays.deepEquals(values, r.values);
  }

  @Override
  public int hashCode() {
    return Arrays.deepHashCode(values) * 31 + (delete ? 1 : 0);
  }

  @Override
  public String toString() {
    StringBuilder b = new StringBuilder(delete ? "DELETE{" : "{");
    for (int i = 0; i < values.length; i++) {
      if (delete && !schema.isKeyColumn(i)) {
        continue;
      }
      if (b.charAt(b.length() - 1) != '{') {
        b.append(", ");
      }
      Object v = values[i];
      b.append(schema.column(i).name()).append('=')
          .append(v instanceof byte[] bytes ? Arrays.toString(bytes) : String.valueOf(v));
    }
    return b.append('}').toString();
  }
}
