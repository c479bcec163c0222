package io.deltasidecar.client;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.math.RoundingMode;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.LocalDate;
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
  /** The sidecar's default max_value_bytes for one STRING or BINARY value. */
  static final int MAX_VALUE_BYTES = 16 << 20;

  static final long MIN_DATE = -719_162L; // 0001-01-01
  static final long MAX_DATE = 2_932_896L; // 9999-12-31
  static final long MIN_DATETIME = -62_135_596_800_000L; // 0001-01-01 00:00:00.000
  static final long MAX_DATETIME = 253_402_300_799_999L; // 9999-12-31 23:59:59.999

  private final TableSchema schema;
  private final int columnCount;
  private final int bitmapBytes;
  private final ColumnType[] types;
  private final String[] labels; // "column 'x' (TYPE)" for error messages
  private final boolean[] nullAllowed;
  private final int[] scales;
  private final BigInteger[] decimalBounds; // 10^precision, DECIMAL columns only
  private final long[] instantUnits; // TIMESTAMP_LTZ(p): 10^(9-p), which nanoseconds are a multiple of
  private final int[] keyIndexes;

  RowCodec(TableSchema schema) {
    this.schema = schema;
    columnCount = schema.columnCount();
    bitmapBytes = (columnCount + 7) >>> 3;
    types = new ColumnType[columnCount];
    labels = new String[columnCount];
    nullAllowed = new boolean[columnCount];
    scales = new int[columnCount];
    decimalBounds = new BigInteger[columnCount];
    instantUnits = new long[columnCount];
    for (int i = 0; i < columnCount; i++) {
      TableSchema.Column c = schema.column(i);
      types[i] = c.type();
      labels[i] = "column '" + c.name() + "' (" + c.typeName() + ")";
      nullAllowed[i] = c.nullable() && !schema.isKeyColumn(i);
      scales[i] = c.scale();
      if (c.type() == ColumnType.DECIMAL) {
        decimalBounds[i] = BigInteger.TEN.pow(c.precision());
      }
      instantUnits[i] = 1;
      if (c.type() == ColumnType.TIMESTAMP_LTZ) {
        for (int d = c.precision(); d < 9; d++) {
          instantUnits[i] *= 10;
        }
      }
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
          putValue(i, v, out);
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
        putValue(i, keyValues[k], out);
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

  private void putValue(int i, Object v, RowBuffer out) {
    switch (types[i]) {
      case BOOLEAN:
        if (!(v instanceof Boolean)) {
          throw wrongType(i, v);
        }
        out.put((Boolean) v ? (byte) 1 : (byte) 0);
        return;
      case TINYINT:
        out.put((byte) integral(i, v, Byte.MIN_VALUE, Byte.MAX_VALUE));
        return;
      case SMALLINT:
        out.putShort((short) integral(i, v, Short.MIN_VALUE, Short.MAX_VALUE));
        return;
      case INT:
        out.putInt((int) integral(i, v, Integer.MIN_VALUE, Integer.MAX_VALUE));
        return;
      case BIGINT:
        out.putLong(integral(i, v, Long.MIN_VALUE, Long.MAX_VALUE));
        return;
      case FLOAT:
        if (!(v instanceof Float)) {
          throw wrongType(i, v);
        }
        out.putInt(Float.floatToRawIntBits((Float) v));
        return;
      case DOUBLE:
        if (v instanceof Double) {
          out.putLong(Double.doubleToRawLongBits((Double) v));
        } else if (v instanceof Float) {
          out.putLong(Double.doubleToRawLongBits((Float) v)); // widening is exact
        } else {
          throw wrongType(i, v);
        }
        return;
      case DECIMAL:
        putDecimal(i, v, out);
        return;
      case STRING:
        if (!(v instanceof String)) {
          throw wrongType(i, v);
        }
        putString(i, (String) v, out);
        return;
      case BINARY:
        if (!(v instanceof byte[])) {
          throw wrongType(i, v);
        }
        byte[] bytes = (byte[]) v;
        checkLength(i, bytes.length);
        out.putVarint(bytes.length);
        out.putBytes(bytes, 0, bytes.length);
        return;
      case DATE:
        if (!(v instanceof LocalDate)) {
          throw wrongType(i, v);
        }
        long day = ((LocalDate) v).toEpochDay();
        if (day < MIN_DATE || day > MAX_DATE) {
          throw outOfRange(i, v + " is outside 0001-01-01 to 9999-12-31");
        }
        out.putInt((int) day);
        return;
      case DATETIME:
        out.putLong(datetimeMillis(i, v));
        return;
      case TIMESTAMP:
        out.putLong(timestampNanos(i, v));
        return;
      case TIMESTAMP_LTZ: {
        long ns = timestampNanos(i, v);
        if (ns % instantUnits[i] != 0) {
          throw outOfRange(
              i, v + " has digits finer than the precision (nanoseconds must be a multiple of "
                  + instantUnits[i] + ")");
        }
        out.putLong(ns);
        return;
      }
    }
    throw new AssertionError(types[i]);
  }

  private long integral(int i, Object v, long min, long max) {
    long x;
    if (v instanceof Long) {
      x = (Long) v;
    } else if (v instanceof Integer || v instanceof Short || v instanceof Byte) {
      x = ((Number) v).longValue();
    } else {
      throw wrongType(i, v);
    }
    if (x < min || x > max) {
      throw outOfRange(i, x + " is outside " + min + " to " + max);
    }
    return x;
  }

  private void putDecimal(int i, Object v, RowBuffer out) {
    BigDecimal d;
    if (v instanceof BigDecimal) {
      d = (BigDecimal) v;
    } else if (v instanceof Long || v instanceof Integer || v instanceof Short || v instanceof Byte) {
      d = BigDecimal.valueOf(((Number) v).longValue());
    } else if (v instanceof BigInteger) {
      d = new BigDecimal((BigInteger) v);
    } else {
      throw wrongType(i, v);
    }
    BigInteger unscaled;
    try {
      unscaled = d.setScale(scales[i], RoundingMode.UNNECESSARY).unscaledValue();
    } catch (ArithmeticException e) {
      throw outOfRange(i, d.toPlainString() + " has more than " + scales[i] + " digits after the point");
    }
    if (unscaled.abs().compareTo(decimalBounds[i]) >= 0) {
      throw outOfRange(
          i, d.toPlainString() + " does not fit (unscaled " + unscaled + "; magnitude must be below 10^"
              + schema.column(i).precision() + ")");
    }
    if (unscaled.bitLength() < 64) {
      long low = unscaled.longValue();
      out.putLong(low);
      out.putLong(low < 0 ? -1L : 0L);
      return;
    }
    byte[] be = unscaled.toByteArray(); // big-endian, at most 16 bytes since |unscaled| < 10^38
    byte pad = unscaled.signum() < 0 ? (byte) 0xFF : 0;
    out.ensure(16);
    for (int k = 0; k < 16; k++) {
      out.buf[out.pos + k] = k < be.length ? be[be.length - 1 - k] : pad;
    }
    out.pos += 16;
  }

  @SuppressWarnings("deprecation") // String.getBytes(int, int, byte[], int): exact for ASCII
  private void putString(int i, String s, RowBuffer out) {
    final int n = s.length();
    int k = 0;
    while (k < n && s.charAt(k) < 0x80) {
      k++;
    }
    if (k == n) {
      // ASCII, the common case: the JDK copies the chars as bytes, faster than a loop here.
      checkLength(i, n);
      out.putVarint(n);
      out.ensure(n);
      s.getBytes(0, n, out.buf, out.pos);
      out.pos += n;
      return;
    }
    // Not ASCII: measure, refusing unpaired surrogates (String.getBytes would turn them into '?').
    long len = k;
    for (int j = k; j < n; j++) {
      char c = s.charAt(j);
      if (c < 0x80) {
        len += 1;
      } else if (c < 0x800) {
        len += 2;
      } else if (Character.isHighSurrogate(c) && j + 1 < n && Character.isLowSurrogate(s.charAt(j + 1))) {
        len += 4;
        j++;
      } else if (Character.isSurrogate(c)) {
        throw outOfRange(i, "unpaired surrogate U+" + Integer.toHexString(c).toUpperCase()
            + " at char " + j + " cannot be encoded as UTF-8");
      } else {
        len += 3;
      }
    }
    checkLength(i, len);
    out.putVarint(len);
    out.ensure((int) len);
    byte[] b = out.buf;
    int p = out.pos;
    for (int j = 0; j < n; j++) {
      char c = s.charAt(j);
      if (c < 0x80) {
        b[p++] = (byte) c;
      } else if (c < 0x800) {
        b[p++] = (byte) (0xC0 | (c >>> 6));
        b[p++] = (byte) (0x80 | (c & 0x3F));
      } else if (Character.isHighSurrogate(c)) {
        int cp = Character.toCodePoint(c, s.charAt(++j));
        b[p++] = (byte) (0xF0 | (cp >>> 18));
        b[p++] = (byte) (0x80 | ((cp >>> 12) & 0x3F));
        b[p++] = (byte) (0x80 | ((cp >>> 6) & 0x3F));
        b[p++] = (byte) (0x80 | (cp & 0x3F));
      } else {
        b[p++] = (byte) (0xE0 | (c >>> 12));
        b[p++] = (byte) (0x80 | ((c >>> 6) & 0x3F));
        b[p++] = (byte) (0x80 | (c & 0x3F));
      }
    }
    out.pos = p;
  }

  private void checkLength(int i, long len) {
    if (len > MAX_VALUE_BYTES) {
      throw outOfRange(i, "value of " + len + " bytes exceeds max_value_bytes (" + MAX_VALUE_BYTES + ")");
    }
  }

  private long datetimeMillis(int i, Object v) {
    if (!(v instanceof Instant)) {
      throw wrongType(i, v);
    }
    Instant t = (Instant) v;
    if (t.getNano() % 1_000_000 != 0) {
      throw outOfRange(i, t + " has digits below the millisecond, which DATETIME does not hold");
    }
    long ms;
    try {
      ms = t.toEpochMilli();
    } catch (ArithmeticException e) {
      ms = Long.MIN_VALUE;
    }
    if (ms < MIN_DATETIME || ms > MAX_DATETIME) {
      throw outOfRange(i, t + " is outside 0001-01-01 00:00:00.000 to 9999-12-31 23:59:59.999");
    }
    return ms;
  }

  private long timestampNanos(int i, Object v) {
    if (!(v instanceof Instant)) {
      throw wrongType(i, v);
    }
    Instant t = (Instant) v;
    long seconds = t.getEpochSecond();
    long nanos = t.getNano();
    if (seconds < 0 && nanos > 0) {
      // Borrow a second so that the product stays in range down to Long.MIN_VALUE nanoseconds.
      seconds += 1;
      nanos -= 1_000_000_000L;
    }
    try {
      return Math.addExact(Math.multiplyExact(seconds, 1_000_000_000L), nanos);
    } catch (ArithmeticException e) {
      throw outOfRange(i, t + " is outside 1677-09-21T00:12:43.145224192Z to 2262-04-11T23:47:16.854775807Z");
    }
  }

  private InvalidRecordException wrongType(int i, Object v) {
    String expected;
    switch (types[i]) {
      case TINYINT:
      case SMALLINT:
      case INT:
      case BIGINT:
        expected = types[i].javaClass().getSimpleName() + " (or another integral Byte/Short/Integer/Long in range)";
        break;
      case DOUBLE:
        expected = "Double or Float";
        break;
      case DECIMAL:
        expected = "BigDecimal (or an integral Long/Integer/Short/Byte/BigInteger)";
        break;
      case DATETIME:
      case TIMESTAMP:
      case TIMESTAMP_LTZ:
        expected = "java.time.Instant";
        break;
      case DATE:
        expected = "java.time.LocalDate";
        break;
      default:
        expected = types[i].javaClass().getSimpleName();
    }
    return new InvalidRecordException(
        labels[i] + ": expected " + expected + ", got " + v.getClass().getName());
  }

  private InvalidRecordException outOfRange(int i, String reason) {
    return new InvalidRecordException(labels[i] + ": " + reason);
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
          values[i] = getValue(i, b, at);
        }
      }
      return new Row(schema, values, false);
    }
    if (op == OP_DELETE) {
      for (int i : keyIndexes) {
        values[i] = getValue(i, b, at);
      }
      return new Row(schema, values, true);
    }
    throw malformed("unknown op byte 0x" + Integer.toHexString(op & 0xFF));
  }

  private Object getValue(int i, byte[] b, int[] at) {
    int p = at[0];
    switch (types[i]) {
      case BOOLEAN:
        at[0] = p + 1;
        return b[p] != 0;
      case TINYINT:
        at[0] = p + 1;
        return b[p];
      case SMALLINT:
        checkBounds(b, p, 2);
        at[0] = p + 2;
        return RowBuffer.getShort(b, p);
      case INT:
        checkBounds(b, p, 4);
        at[0] = p + 4;
        return RowBuffer.getInt(b, p);
      case BIGINT:
        checkBounds(b, p, 8);
        at[0] = p + 8;
        return RowBuffer.getLong(b, p);
      case FLOAT:
        checkBounds(b, p, 4);
        at[0] = p + 4;
        return Float.intBitsToFloat(RowBuffer.getInt(b, p));
      case DOUBLE:
        checkBounds(b, p, 8);
        at[0] = p + 8;
        return Double.longBitsToDouble(RowBuffer.getLong(b, p));
      case DECIMAL: {
        checkBounds(b, p, 16);
        at[0] = p + 16;
        long low = RowBuffer.getLong(b, p);
        long high = RowBuffer.getLong(b, p + 8);
        if (high == (low >> 63)) {
          return BigDecimal.valueOf(low, scales[i]);
        }
        byte[] be = new byte[16];
        for (int k = 0; k < 16; k++) {
          be[k] = b[p + 15 - k];
        }
        return new BigDecimal(new BigInteger(be), scales[i]);
      }
      case STRING:
      case BINARY: {
        long len = 0;
        int shift = 0;
        byte x;
        do {
          x = b[p++];
          len |= (long) (x & 0x7F) << shift;
          shift += 7;
        } while (x < 0 && shift < 70);
        if (len > Integer.MAX_VALUE || len < 0) {
          throw malformed(labels[i] + ": length " + len + " is too large");
        }
        checkBounds(b, p, (int) len);
        at[0] = p + (int) len;
        return types[i] == ColumnType.STRING
            ? new String(b, p, (int) len, StandardCharsets.UTF_8)
            : java.util.Arrays.copyOfRange(b, p, p + (int) len);
      }
      case DATE:
        checkBounds(b, p, 4);
        at[0] = p + 4;
        return LocalDate.ofEpochDay(RowBuffer.getInt(b, p));
      case DATETIME:
        checkBounds(b, p, 8);
        at[0] = p + 8;
        return Instant.ofEpochMilli(RowBuffer.getLong(b, p));
      case TIMESTAMP:
      case TIMESTAMP_LTZ: {
        checkBounds(b, p, 8);
        at[0] = p + 8;
        long ns = RowBuffer.getLong(b, p);
        return Instant.ofEpochSecond(Math.floorDiv(ns, 1_000_000_000L), Math.floorMod(ns, 1_000_000_000L));
      }
    }
    throw new AssertionError(types[i]);
  }

  private static void checkBounds(byte[] b, int p, int len) {
    if (p + len > b.length) {
      throw new IndexOutOfBoundsException();
    }
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
