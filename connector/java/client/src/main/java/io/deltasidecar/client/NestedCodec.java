package io.deltasidecar.client;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * ARRAY, MAP and STRUCT values in a packed row: a length, then the nested encoding of
 * docs/table-format.md §7.4, each child encoded as a value of its type ({@link ValueCodec}):
 *
 * <pre>
 *   array  = count:varint  bitmap(count)  element*        (the non-NULL elements)
 *   map    = count:varint  bitmap(count)  (key value?)*   (bitmap over the values)
 *   struct = bitmap(fields)  field*                       (the non-NULL fields)
 * </pre>
 *
 * <p>Java values: an ARRAY is a {@link List}; a MAP a {@link Map} (no null key), read back as a
 * {@link LinkedHashMap} in stored order (a stored map that repeats a key, which only another
 * packed-row writer can store, keeps the last); a STRUCT a {@link Map} of field name to value (a
 * missing field is NULL, an unknown one is refused), read back as a {@link LinkedHashMap} of
 * every field in order. Stateless.
 */
final class NestedCodec {
  private NestedCodec() {}

  /**
   * Appends the length and encoding of one non-NULL value of nested type {@code s}. A value that
   * does not fit throws InvalidRecordException naming the column and the place inside it, in the
   * sidecar's style: {@code column 'm' (MAP<STRING,ARRAY<INT>>): {k}[1] (INT): expected ...}.
   */
  static void put(ValueSpec s, Object v, RowBuffer out) {
    RowBuffer body = new RowBuffer(64);
    try {
      putBody(s, v, body);
    } catch (InvalidRecordException e) {
      if (!s.topLevel) {
        throw e;
      }
      String m = e.description();
      throw new InvalidRecordException(m.startsWith(s.label) ? m : s.label + ": " + m);
    }
    if (s.topLevel && body.pos > RowCodec.MAX_VALUE_BYTES) {
      throw ValueCodec.outOfRange(
          s, "value of " + body.pos + " bytes exceeds max_value_bytes (" + RowCodec.MAX_VALUE_BYTES + ")");
    }
    out.putVarint(body.pos);
    out.putBytes(body.buf, 0, body.pos);
  }

  private static void putBody(ValueSpec s, Object v, RowBuffer out) {
    switch (s.type) {
      case ARRAY -> {
        if (!(v instanceof List<?> list)) {
          throw refused(s, "expected a java.util.List, got " + v.getClass().getName());
        }
        out.putVarint(list.size());
        putBitmap(list, out);
        int i = 0;
        for (Object x : list) {
          if (x != null) {
            putChild(s.children[0], x, "[" + i + "]", out);
          }
          i++;
        }
      }
      case MAP -> {
        if (!(v instanceof Map<?, ?> map)) {
          throw refused(s, "expected a java.util.Map, got " + v.getClass().getName());
        }
        out.putVarint(map.size());
        putBitmap(map.values(), out);
        int i = 0;
        for (Map.Entry<?, ?> e : map.entrySet()) {
          if (e.getKey() == null) {
            throw refused(s, "{key " + i + "}: a MAP key cannot be NULL");
          }
          putChild(s.children[0], e.getKey(), "{key " + i + "}", out);
          if (e.getValue() != null) {
            putChild(s.children[1], e.getValue(), "{" + e.getKey() + "}", out);
          }
          i++;
        }
      }
      case STRUCT -> {
        if (!(v instanceof Map<?, ?> fields)) {
          throw refused(
              s, "expected a java.util.Map of field name to value, got " + v.getClass().getName());
        }
        Set<String> names = new HashSet<>(List.of(s.fieldNames));
        for (Object name : fields.keySet()) {
          if (!names.contains(name)) {
            throw refused(s, "no field '" + name + "' (fields: " + String.join(", ", s.fieldNames) + ")");
          }
        }
        List<Object> values = new ArrayList<>(s.fieldNames.length);
        for (String name : s.fieldNames) {
          values.add(fields.get(name));
        }
        putBitmap(values, out);
        for (int f = 0; f < s.fieldNames.length; f++) {
          if (values.get(f) != null) {
            putChild(s.children[f], values.get(f), "." + s.fieldNames[f], out);
          }
        }
      }
      default -> throw new AssertionError(s.type);
    }
  }

  private static void putChild(ValueSpec child, Object x, String place, RowBuffer out) {
    try {
      ValueCodec.put(child, x, out);
    } catch (InvalidRecordException e) {
      String m = e.description();
      // A leaf says "(INT): reason", a nested child "[1] (INT): reason".
      throw new InvalidRecordException(place + (m.startsWith("(") ? " " : "") + m);
    }
  }

  private static InvalidRecordException refused(ValueSpec s, String reason) {
    return new InvalidRecordException(s.label + ": " + reason);
  }

  private static void putBitmap(Iterable<?> entries, RowBuffer out) {
    List<Object> all = new ArrayList<>();
    entries.forEach(all::add);
    int bytes = (all.size() + 7) >>> 3;
    out.ensure(bytes);
    for (int b = 0; b < bytes; b++) {
      out.buf[out.pos + b] = 0;
    }
    for (int i = 0; i < all.size(); i++) {
      if (all.get(i) == null) {
        out.buf[out.pos + (i >>> 3)] |= (byte) (1 << (i & 7));
      }
    }
    out.pos += bytes;
  }

  /**
   * Reads one non-NULL value of nested type {@code s} (its length, then its encoding) at {@code
   * at[0]} and moves past it. Throws IndexOutOfBoundsException or MalformedValueException on bytes
   * that do not parse.
   */
  static Object get(ValueSpec s, byte[] b, int[] at) {
    long n = readVarint(b, at);
    if (n > b.length - at[0]) {
      throw new ValueCodec.MalformedValueException(s.label + ": value runs past the end");
    }
    int end = at[0] + (int) n;
    Object v = getBody(s, b, at, end);
    if (at[0] != end) {
      throw new ValueCodec.MalformedValueException(
          s.label + (at[0] > end ? ": contents run past the value's length"
              : ": " + (end - at[0]) + " bytes left over in the value"));
    }
    return v;
  }

  private static Object getBody(ValueSpec s, byte[] b, int[] at, int end) {
    switch (s.type) {
      case ARRAY -> {
        int count = count(s, b, at, end);
        boolean[] nulls = bitmap(b, at, count, end);
        List<Object> out = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
          out.add(nulls[i] ? null : ValueCodec.get(s.children[0], b, at));
        }
        return Collections.unmodifiableList(out);
      }
      case MAP -> {
        int count = count(s, b, at, end);
        boolean[] nulls = bitmap(b, at, count, end);
        Map<Object, Object> out = new LinkedHashMap<>();
        for (int i = 0; i < count; i++) {
          Object key = ValueCodec.get(s.children[0], b, at);
          out.put(key, nulls[i] ? null : ValueCodec.get(s.children[1], b, at));
        }
        return Collections.unmodifiableMap(out);
      }
      case STRUCT -> {
        boolean[] nulls = bitmap(b, at, s.fieldNames.length, end);
        Map<String, Object> out = new LinkedHashMap<>();
        for (int f = 0; f < s.fieldNames.length; f++) {
          out.put(s.fieldNames[f], nulls[f] ? null : ValueCodec.get(s.children[f], b, at));
        }
        return Collections.unmodifiableMap(out);
      }
      default -> throw new AssertionError(s.type);
    }
  }

  private static int count(ValueSpec s, byte[] b, int[] at, int end) {
    long count = readVarint(b, at);
    // Every entry costs at least a bitmap bit.
    if (count > 8L * (end - at[0])) {
      throw new ValueCodec.MalformedValueException(s.label + ": count " + count + " exceeds the bytes left");
    }
    return (int) count;
  }

  private static boolean[] bitmap(byte[] b, int[] at, int count, int end) {
    int bytes = (count + 7) >>> 3;
    if (bytes > end - at[0]) {
      throw new IndexOutOfBoundsException();
    }
    boolean[] nulls = new boolean[count];
    for (int i = 0; i < count; i++) {
      nulls[i] = (b[at[0] + (i >>> 3)] & (1 << (i & 7))) != 0;
    }
    at[0] += bytes;
    return nulls;
  }

  private static long readVarint(byte[] b, int[] at) {
    long n = 0;
    int shift = 0;
    byte x;
    do {
      x = b[at[0]++];
      n |= (long) (x & 0x7F) << shift;
      shift += 7;
    } while (x < 0 && shift < 70);
    if (n < 0 || n > Integer.MAX_VALUE) {
      throw new ValueCodec.MalformedValueException("length or count " + n + " is too large");
    }
    return n;
  }
}
