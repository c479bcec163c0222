package io.deltasidecar.client;

import java.io.IOException;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The shared nested-value vectors (tests/vectors/nested_values.json: a type, the JSON text form,
 * the encoding), with the little JSON reader they need and their values as the client carries
 * them. The file is found through the system property {@code delta.vectors} (CTest sets it).
 */
final class NestedVectors {
  record Vector(String type, Object json, byte[] encoding) {}

  /** A JSON number, kept as its text so that it compares exactly. */
  record Num(String text) {}

  private NestedVectors() {}

  static List<Vector> load() {
    String dir = System.getProperty("delta.vectors", "tests/vectors");
    try {
      String text = Files.readString(Path.of(dir, "nested_values.json"), StandardCharsets.UTF_8);
      @SuppressWarnings("unchecked")
      Map<String, Object> doc = (Map<String, Object>) parse(text);
      List<Vector> out = new ArrayList<>();
      for (Object o : (List<?>) doc.get("vectors")) {
        Map<?, ?> v = (Map<?, ?>) o;
        out.add(new Vector((String) v.get("type"), v.get("json"),
            HexFormat.of().parseHex((String) v.get("hex"))));
      }
      return out;
    } catch (IOException e) {
      throw new IllegalStateException("cannot read the vectors in " + dir + " (-Ddelta.vectors)", e);
    }
  }

  /** The client's value of column {@code c} for the JSON form {@code j}. */
  static Object fromJson(TableSchema.Column c, Object j) {
    if (j == null) {
      return null;
    }
    switch (c.type()) {
      case ARRAY: {
        List<Object> out = new ArrayList<>();
        for (Object x : (List<?>) j) {
          out.add(fromJson(c.children().get(0), x));
        }
        return out;
      }
      case MAP: {
        Map<Object, Object> out = new LinkedHashMap<>();
        for (Map.Entry<?, ?> e : ((Map<?, ?>) j).entrySet()) {
          String key = (String) e.getKey();
          TableSchema.Column k = c.children().get(0);
          Object keyJson = switch (k.type()) {
            case TINYINT, SMALLINT, INT, BIGINT, FLOAT, DOUBLE -> new Num(key);
            case BOOLEAN -> Boolean.valueOf(key);
            default -> key;
          };
          out.put(fromJson(k, keyJson), fromJson(c.children().get(1), e.getValue()));
        }
        return out;
      }
      case STRUCT: {
        Map<String, Object> out = new LinkedHashMap<>();
        for (TableSchema.Column f : c.children()) {
          out.put(f.name(), fromJson(f, ((Map<?, ?>) j).get(f.name())));
        }
        return out;
      }
      case TINYINT:
        return Byte.valueOf(((Num) j).text());
      case SMALLINT:
        return Short.valueOf(((Num) j).text());
      case INT:
        return Integer.valueOf(((Num) j).text());
      case BIGINT:
        return Long.valueOf(((Num) j).text());
      case FLOAT:
        return Float.valueOf(((Num) j).text());
      case DOUBLE:
        return Double.valueOf(((Num) j).text());
      case DECIMAL:
        return new BigDecimal((String) j).setScale(c.scale());
      case BINARY:
        return Base64.getDecoder().decode((String) j);
      case DATE:
        return LocalDate.parse((String) j);
      case DATETIME:
      case TIMESTAMP:
        return Instant.parse(((String) j).replace(' ', 'T') + "Z");
      case TIMESTAMP_LTZ:
        return Instant.parse((String) j);
      default:
        return j; // BOOLEAN, STRING
    }
  }

  /** Equality that compares byte arrays by content, inside lists and maps too. */
  static boolean deepEquals(Object a, Object b) {
    if (a instanceof byte[] x && b instanceof byte[] y) {
      return Arrays.equals(x, y);
    }
    if (a instanceof List<?> x && b instanceof List<?> y) {
      if (x.size() != y.size()) {
        return false;
      }
      for (int i = 0; i < x.size(); i++) {
        if (!deepEquals(x.get(i), y.get(i))) {
          return false;
        }
      }
      return true;
    }
    if (a instanceof Map<?, ?> x && b instanceof Map<?, ?> y) {
      if (x.size() != y.size()) {
        return false;
      }
      Iterator<? extends Map.Entry<?, ?>> i = x.entrySet().iterator();
      Iterator<? extends Map.Entry<?, ?>> k = y.entrySet().iterator();
      while (i.hasNext()) {
        Map.Entry<?, ?> e = i.next();
        Map.Entry<?, ?> f = k.next();
        if (!deepEquals(e.getKey(), f.getKey()) || !deepEquals(e.getValue(), f.getValue())) {
          return false;
        }
      }
      return true;
    }
    return Objects.equals(a, b);
  }

  // --- a JSON reader: objects as LinkedHashMap, arrays as ArrayList, numbers as Num -------------

  static Object parse(String text) {
    int[] at = {0};
    Object v = value(text, at);
    skip(text, at);
    if (at[0] != text.length()) {
      throw new IllegalArgumentException("JSON: text after the value at " + at[0]);
    }
    return v;
  }

  private static void skip(String s, int[] at) {
    while (at[0] < s.length() && Character.isWhitespace(s.charAt(at[0]))) {
      at[0]++;
    }
  }

  private static Object value(String s, int[] at) {
    skip(s, at);
    char c = s.charAt(at[0]);
    if (c == '{') {
      Map<String, Object> m = new LinkedHashMap<>();
      at[0]++;
      skip(s, at);
      if (s.charAt(at[0]) == '}') {
        at[0]++;
        return m;
      }
      while (true) {
        skip(s, at);
        String key = string(s, at);
        skip(s, at);
        expect(s, at, ':');
        m.put(key, value(s, at));
        skip(s, at);
        if (s.charAt(at[0]++) == '}') {
          return m;
        }
      }
    }
    if (c == '[') {
      List<Object> l = new ArrayList<>();
      at[0]++;
      skip(s, at);
      if (s.charAt(at[0]) == ']') {
        at[0]++;
        return l;
      }
      while (true) {
        l.add(value(s, at));
        skip(s, at);
        if (s.charAt(at[0]++) == ']') {
          return l;
        }
      }
    }
    if (c == '"') {
      return string(s, at);
    }
    for (String word : new String[] {"true", "false", "null"}) {
      if (s.startsWith(word, at[0])) {
        at[0] += word.length();
        return word.equals("null") ? null : Boolean.valueOf(word);
      }
    }
    int start = at[0];
    while (at[0] < s.length() && "+-0123456789.eE".indexOf(s.charAt(at[0])) >= 0) {
      at[0]++;
    }
    return new Num(s.substring(start, at[0]));
  }

  private static void expect(String s, int[] at, char c) {
    if (s.charAt(at[0]++) != c) {
      throw new IllegalArgumentException("JSON: expected '" + c + "' at " + (at[0] - 1));
    }
  }

  private static String string(String s, int[] at) {
    expect(s, at, '"');
    StringBuilder b = new StringBuilder();
    while (true) {
      char c = s.charAt(at[0]++);
      if (c == '"') {
        return b.toString();
      }
      if (c != '\\') {
        b.append(c);
        continue;
      }
      char e = s.charAt(at[0]++);
      switch (e) {
        case 'n' -> b.append('\n');
        case 't' -> b.append('\t');
        case 'r' -> b.append('\r');
        case 'b' -> b.append('\b');
        case 'f' -> b.append('\f');
        case 'u' -> {
          b.append((char) Integer.parseInt(s.substring(at[0], at[0] + 4), 16));
          at[0] += 4;
        }
        default -> b.append(e);
      }
    }
  }
}
