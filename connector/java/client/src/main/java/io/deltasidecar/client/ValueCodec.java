package io.deltasidecar.client;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.math.RoundingMode;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.LocalDate;

/**
 * One value of the packed row encoding (docs/protocol.md, "Values"): {@link #put} checks a Java
 * value against its type and appends its bytes, {@link #get} reads one back. Nested types go to
 * {@link NestedCodec}, which comes back here for their children. Stateless.
 */
final class ValueCodec {
  static final long MIN_DATE = -719_162L; // 0001-01-01
  static final long MAX_DATE = 2_932_896L; // 9999-12-31
  static final long MIN_DATETIME = -62_135_596_800_000L; // 0001-01-01 00:00:00.000
  static final long MAX_DATETIME = 253_402_300_799_999L; // 9999-12-31 23:59:59.999

  private ValueCodec() {}

  /**
   * Appends one non-NULL value of {@code s}. Throws InvalidRecordException naming the column (or,
   * for a child of a nested type, its type; the parent adds the place) when the value does not fit.
   */
  static void put(ValueSpec s, Object v, RowBuffer out) {
    switch (s.type) {
      case BOOLEAN:
        if (!(v instanceof Boolean)) {
          throw wrongType(s, v);
        }
        out.put((Boolean) v ? (byte) 1 : (byte) 0);
        return;
      case TINYINT:
        out.put((byte) integral(s, v, Byte.MIN_VALUE, Byte.MAX_VALUE));
        return;
      case SMALLINT:
        out.putShort((short) integral(s, v, Short.MIN_VALUE, Short.MAX_VALUE));
        return;
      case INT:
        out.putInt((int) integral(s, v, Integer.MIN_VALUE, Integer.MAX_VALUE));
        return;
      case BIGINT:
        out.putLong(integral(s, v, Long.MIN_VALUE, Long.MAX_VALUE));
        return;
      case FLOAT:
        if (!(v instanceof Float)) {
          throw wrongType(s, v);
        }
        out.putInt(Float.floatToRawIntBits((Float) v));
        return;
      case DOUBLE:
        if (v instanceof Double) {
          out.putLong(Double.doubleToRawLongBits((Double) v));
        } else if (v instanceof Float) {
          out.putLong(Double.doubleToRawLongBits((Float) v)); // widening is exact
        } else {
          throw wrongType(s, v);
        }
        return;
      case DECIMAL:
        putDecimal(s, v, out);
        return;
      case STRING:
        if (!(v instanceof String)) {
          throw wrongType(s, v);
        }
        putString(s, (String) v, out);
        return;
      case BINARY:
        if (!(v instanceof byte[])) {
          throw wrongType(s, v);
        }
        byte[] bytes = (byte[]) v;
        checkLength(s, bytes.length);
        out.putVarint(bytes.length);
        out.putBytes(bytes, 0, bytes.length);
        return;
      case DATE:
        if (!(v instanceof LocalDate)) {
          throw wrongType(s, v);
        }
        long day = ((LocalDate) v).toEpochDay();
        if (day < MIN_DATE || day > MAX_DATE) {
          throw outOfRange(s, v + " is outside 0001-01-01 to 9999-12-31");
        }
        out.putInt((int) day);
        return;
      case DATETIME:
        out.putLong(datetimeMillis(s, v));
        return;
      case TIMESTAMP:
        out.putLong(timestampNanos(s, v));
        return;
      case TIMESTAMP_LTZ: {
        long ns = timestampNanos(s, v);
        if (ns % s.instantUnit != 0) {
          throw outOfRange(
              s, v + " has digits finer than the precision (nanoseconds must be a multiple of "
                  + s.instantUnit + ")");
        }
        out.putLong(ns);
        return;
      }
      case ARRAY:
      case MAP:
      case STRUCT:
        NestedCodec.put(s, v, out);
        return;
    }
    throw new AssertionError(s.type);
  }

  private static long integral(ValueSpec s, Object v, long min, long max) {
    long x;
    if (v instanceof Long) {
      x = (Long) v;
    } else if (v instanceof Integer || v instanceof Short || v instanceof Byte) {
      x = ((Number) v).longValue();
    } else {
      throw wrongType(s, v);
    }
    if (x < min || x > max) {
      throw outOfRange(s, x + " is outside " + min + " to " + max);
    }
    return x;
  }

  private static void putDecimal(ValueSpec s, Object v, RowBuffer out) {
    BigDecimal d;
    if (v instanceof BigDecimal) {
      d = (BigDecimal) v;
    } else if (v instanceof Long || v instanceof Integer || v instanceof Short || v instanceof Byte) {
      d = BigDecimal.valueOf(((Number) v).longValue());
    } else if (v instanceof BigInteger) {
      d = new BigDecimal((BigInteger) v);
    } else {
      throw wrongType(s, v);
    }
    BigInteger unscaled;
    try {
      unscaled = d.setScale(s.scale, RoundingMode.UNNECESSARY).unscaledValue();
    } catch (ArithmeticException e) {
      throw outOfRange(s, d.toPlainString() + " has more than " + s.scale + " digits after the point");
    }
    if (unscaled.abs().compareTo(s.decimalBound) >= 0) {
      throw outOfRange(
          s, d.toPlainString() + " does not fit (unscaled " + unscaled + "; magnitude must be below 10^"
              + s.precision + ")");
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
  private static void putString(ValueSpec spec, String s, RowBuffer out) {
    final int n = s.length();
    int k = 0;
    while (k < n && s.charAt(k) < 0x80) {
      k++;
    }
    if (k == n) {
      // ASCII, the common case: the JDK copies the chars as bytes, faster than a loop here.
      checkLength(spec, n);
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
        throw outOfRange(spec, "unpaired surrogate U+" + Integer.toHexString(c).toUpperCase()
            + " at char " + j + " cannot be encoded as UTF-8");
      } else {
        len += 3;
      }
    }
    checkLength(spec, len);
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

  private static void checkLength(ValueSpec s, long len) {
    if (len > RowCodec.MAX_VALUE_BYTES) {
      throw outOfRange(s, "value of " + len + " bytes exceeds max_value_bytes (" + RowCodec.MAX_VALUE_BYTES + ")");
    }
  }

  private static long datetimeMillis(ValueSpec s, Object v) {
    if (!(v instanceof Instant)) {
      throw wrongType(s, v);
    }
    Instant t = (Instant) v;
    if (t.getNano() % 1_000_000 != 0) {
      throw outOfRange(s, t + " has digits below the millisecond, which DATETIME does not hold");
    }
    long ms;
    try {
      ms = t.toEpochMilli();
    } catch (ArithmeticException e) {
      ms = Long.MIN_VALUE;
    }
    if (ms < MIN_DATETIME || ms > MAX_DATETIME) {
      throw outOfRange(s, t + " is outside 0001-01-01 00:00:00.000 to 9999-12-31 23:59:59.999");
    }
    return ms;
  }

  private static long timestampNanos(ValueSpec s, Object v) {
    if (!(v instanceof Instant)) {
      throw wrongType(s, v);
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
      throw outOfRange(s, t + " is outside 1677-09-21T00:12:43.145224192Z to 2262-04-11T23:47:16.854775807Z");
    }
  }

  private static InvalidRecordException wrongType(ValueSpec s, Object v) {
    String expected;
    switch (s.type) {
      case TINYINT:
      case SMALLINT:
      case INT:
      case BIGINT:
        expected = s.type.javaClass().getSimpleName() + " (or another integral Byte/Short/Integer/Long in range)";
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
        expected = s.type.javaClass().getSimpleName();
    }
    return new InvalidRecordException(
        s.label + ": expected " + expected + ", got " + v.getClass().getName());
  }

  static InvalidRecordException outOfRange(ValueSpec s, String reason) {
    return new InvalidRecordException(s.label + ": " + reason);
  }

  /**
   * Reads one non-NULL value of {@code s} at {@code at[0]} and moves {@code at[0]} past it. Throws
   * IndexOutOfBoundsException at the end of the bytes and MalformedValueException on bytes that do
   * not parse.
   */
  static Object get(ValueSpec s, byte[] b, int[] at) {
    int p = at[0];
    switch (s.type) {
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
          return BigDecimal.valueOf(low, s.scale);
        }
        byte[] be = new byte[16];
        for (int k = 0; k < 16; k++) {
          be[k] = b[p + 15 - k];
        }
        return new BigDecimal(new BigInteger(be), s.scale);
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
          throw new MalformedValueException(s.label + ": length " + len + " is too large");
        }
        checkBounds(b, p, (int) len);
        at[0] = p + (int) len;
        return s.type == ColumnType.STRING
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
      case ARRAY:
      case MAP:
      case STRUCT:
        return NestedCodec.get(s, b, at);
    }
    throw new AssertionError(s.type);
  }

  static void checkBounds(byte[] b, int p, int len) {
    if (p + len > b.length) {
      throw new IndexOutOfBoundsException();
    }
  }

  /** Bytes from the sidecar that do not parse as a value of their type. */
  static final class MalformedValueException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    MalformedValueException(String message) {
      super(message);
    }
  }
}
