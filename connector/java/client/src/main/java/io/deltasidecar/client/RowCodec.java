package io.deltasidecar.client;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;

/**
 * The packed row encoding of docs/protocol.md ("Row encoding") for one table schema: encodes
 * upserts, deletes and keys into a {@link RowBuffer} after checking every value against its
 * column, and decodes the rows of Scan, Get and Changes answers. Immutable and thread-safe; the
 * buffers passed in are not.
 */
final class RowCodec {
  static final byte OP_UPSERT = 0x01;
  static final byte OP_DELETE = 0x02;
  /** The sidecar's default max_value_bytes for one STRING, BINARY or nested value. */
  static final int MAX_VALUE_BYTES = 16 << 20;

  private final TableSchema schema;
  private final int columnCount;
  private final int bitmapBytes;
  private final ValueSpec[] specs;
  private final boolean[] nullAllowed;
  private final int[] keyIndexes;

  RowCodec(TableSchema schema) {
    this.schema = schema;
    columnCount = schema.columnCount();
    bitmapBytes = (columnCount + 7) >>> 3;
    specs = new ValueSpec[columnCount];
    nullAllowed = new boolean[columnCount];
    for (int i = 0; i < columnCount; i++) {
      TableSchema.Column c = schema.column(i);
      specs[i] = ValueSpec.forColumn(c);
      nullAllowed[i] = c.nullable() && !schema.isKeyColumn(i);
    }
    keyIndexes = new int[schema.primaryKey().size()];
    for (int k = 0; k < keyIndexes.length; k++) {
      keyIndexes[k] = schema.keyColumnIndex(k);
    }
  }

  TableSchema schema() {
    return schema;
  }

  /**
   * Appends an upsert of {@code values} (schema order, null for NULL). On any error the buffer is
   * left as it was and InvalidRecordException names the column.
   */
  void encodeUpsert(Object[] values, RowBuffer out) {
    if (values.length != columnCount) {
      throw new InvalidRecordException(
          "upsert into '" + schema.table() + "' needs " + columnCount
              + " values in schema order (" + schema.columnsString() + "), got " + values.length);
    }
    final int start = out.pos;
    try {
      out.ensure(1 + bitmapBytes);
      out.buf[out.pos++] = OP_UPSERT;
      final int bitmap = out.pos;
      for (int b = 0; b < bitmapBytes; b++) {
        out.buf[out.pos++] = 0;
      }
      for (int i = 0; i < columnCount; i++) {
        Object v = values[i];
        if (v == null) {
          checkNullAllowed(i);
          // out.buf may have been replaced by a larger array: index it afresh.
          out.buf[bitmap + (i >>> 3)] |= (byte) (1 << (i & 7));
        } else {
          ValueCodec.put(specs[i], v, out);
        }
      }
    } catch (RuntimeException e) {
      out.truncate(start);
      throw e;
    }
  }

  /** Appends an upsert of the named columns; columns not in {@code row} are NULL. */
  void encodeUpsert(Map<String, ?> row, RowBuffer out) {
    Object[] values = new Object[columnCount];
    for (Map.Entry<String, ?> e : row.entrySet()) {
      OptionalInt i = schema.columnIndex(e.getKey());
      if (i.isEmpty()) {
        throw new InvalidRecordException(
            "table '" + schema.table() + "' has no column '" + e.getKey() + "' (columns: "
                + schema.columnsString() + ")");
      }
      values[i.getAsInt()] = e.getValue();
    }
    encodeUpsert(values, out);
  }

  /** Appends a delete of the key {@code keyValues} (primary-key order). */
  void encodeDelete(Object[] keyValues, RowBuffer out) {
    encodeKeyRow(OP_DELETE, keyValues, out);
  }

  private void encodeKeyRow(byte op, Object[] keyValues, RowBuffer out) {
    if (keyValues.length != keyIndexes.length) {
      throw new InvalidRecordException(
          "a key of '" + schema.table() + "' has " + keyIndexes.length
              + " values in primary-key order (" + String.join(", ", schema.primaryKey())
              + "), got " + keyValues.length);
    }
    final int start = out.pos;
    try {
      out.put(op);
      for (int k = 0; k < keyIndexes.length; k++) {
        int i = keyIndexes[k];
        if (keyValues[k] == null) {
          checkNullAllowed(i);
        }
        ValueCodec.put(specs[i], keyValues[k], out);
      }
    } catch (RuntimeException e) {
      out.truncate(start);
      throw e;
    }
  }

  private void checkNullAllowed(int i) {
    if (!nullAllowed[i]) {
      String name = schema.column(i).name();
      throw new InvalidRecordException(
          schema.isKeyColumn(i)
              ? "missing primary-key column '" + name + "'"
              : "column '" + name + "' is NOT NULL");
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Decoding: rows from the sidecar (Scan, Get, Changes). The server wrote them, so a malformed
  // row is a protocol error (INTERNAL), not bad user data.

  List<Row> decode(byte[] b, int rowCount) {
    List<Row> rows = new ArrayList<>(rowCount);
    int[] at = {0};
    try {
      for (int r = 0; r < rowCount; r++) {
        rows.add(decodeRow(b, at));
      }
    } catch (IndexOutOfBoundsException e) {
      throw malformed("row " + rows.size() + " runs past the end of the batch");
    } catch (ValueCodec.MalformedValueException e) {
      throw malformed("row " + rows.size() + ": " + e.getMessage());
    }
    if (at[0] != b.length) {
      throw malformed((b.length - at[0]) + " bytes after the last of " + rowCount + " rows");
    }
    return rows;
  }

  private Row decodeRow(byte[] b, int[] at) {
    byte op = b[at[0]++];
    Object[] values = new Object[columnCount];
    if (op == OP_UPSERT) {
      int bitmap = at[0];
      at[0] += bitmapBytes;
      for (int i = 0; i < columnCount; i++) {
        if ((b[bitmap + (i >>> 3)] & (1 << (i & 7))) == 0) {
          values[i] = ValueCodec.get(specs[i], b, at);
        }
      }
      return new Row(schema, values, false);
    }
    if (op == OP_DELETE) {
      for (int i : keyIndexes) {
        values[i] = ValueCodec.get(specs[i], b, at);
      }
      return new Row(schema, values, true);
    }
    throw malformed("unknown op byte 0x" + Integer.toHexString(op & 0xFF));
  }

  private DeltaSidecarException malformed(String what) {
    return new DeltaSidecarException(
        io.grpc.Status.Code.INTERNAL, "malformed row from the sidecar for table '" + schema.table() + "': " + what);
  }

  /** Appends a key row (only the key columns are read by Get). */
  void encodeKey(Object[] keyValues, RowBuffer out) {
    encodeKeyRow(OP_DELETE, keyValues, out);
  }
}
