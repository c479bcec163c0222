package io.deltasidecar.client;

import io.deltasidecar.v1.DescribeTableResponse;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A table's columns in schema order, its primary key in key order, its bucket count and the
 * latest snapshot when it was described. Immutable; safe to share between threads.
 */
public final class TableSchema {
  /** The deepest nesting of ARRAY/MAP/STRUCT in one column type, as on the sidecar. */
  public static final int MAX_NESTING_DEPTH = 32;

  /** One column: its name, its type as the sidecar spells it ("DECIMAL(10,2)"), nullability. */
  public static final class Column {
    private static final Pattern DECIMAL =
        Pattern.compile("DECIMAL\\s*\\(\\s*(\\d+)\\s*,\\s*(\\d+)\\s*\\)", Pattern.CASE_INSENSITIVE);
    private static final Pattern TIMESTAMP_LTZ =
        Pattern.compile("TIMESTAMP_LTZ\\s*\\(\\s*(\\d+)\\s*\\)", Pattern.CASE_INSENSITIVE);

    private final String name;
    private final String typeName;
    private final boolean nullable;
    private static final Pattern NESTED =
        Pattern.compile("(ARRAY|MAP|STRUCT)\\s*<(.*)>", Pattern.CASE_INSENSITIVE | Pattern.DOTALL);
    private static final Pattern FIELD =
        Pattern.compile("([A-Za-z_][A-Za-z0-9_]*)\\s*(?::\\s*|\\s+)(.+)", Pattern.DOTALL);

    private final ColumnType type;
    private final int precision;
    private final int scale;
    private final List<Column> children;

    public Column(String name, String typeName, boolean nullable) {
      this(name, typeName, nullable, 1);
    }

    private Column(String name, String typeName, boolean nullable, int depth) {
      this.name = name;
      this.typeName = typeName;
      this.nullable = nullable;
      Matcher nested = NESTED.matcher(typeName.trim());
      if (nested.matches()) {
        type = ColumnType.parse(nested.group(1));
        precision = 0;
        scale = 0;
        children = List.copyOf(nestedChildren(name, type, nested.group(2), depth));
        return;
      }
      children = List.of();
      Matcher m = DECIMAL.matcher(typeName.trim());
      Matcher ltz = TIMESTAMP_LTZ.matcher(typeName.trim());
      if (ltz.matches()) {
        type = ColumnType.TIMESTAMP_LTZ;
        precision = Integer.parseInt(ltz.group(1));
        scale = 0;
        if (precision > 9) {
          throw new IllegalArgumentException(
              "column '" + name + "': " + typeName + " needs 0 <= precision <= 9");
        }
      } else if (m.matches()) {
        type = ColumnType.DECIMAL;
        precision = Integer.parseInt(m.group(1));
        scale = Integer.parseInt(m.group(2));
        if (precision < 1 || precision > 38 || scale > precision) {
          throw new IllegalArgumentException(
              "column '" + name + "': " + typeName + " needs 1 <= precision <= 38 and scale <= precision");
        }
      } else {
        type = ColumnType.parse(typeName);
        if (type.isNested()) {
          throw new IllegalArgumentException(
              "column '" + name + "': " + typeName + " needs its parameters, e.g. ARRAY<INT>");
        }
        // Plain DECIMAL is DECIMAL(38,18), plain TIMESTAMP_LTZ is TIMESTAMP_LTZ(6), as in
        // docs/protocol.md.
        precision = type == ColumnType.DECIMAL ? 38 : type == ColumnType.TIMESTAMP_LTZ ? 6 : 0;
        scale = type == ColumnType.DECIMAL ? 18 : 0;
      }
    }

    /** The children of a nested type: ARRAY {"element"}, MAP {"key", "value"}, STRUCT its fields. */
    private static List<Column> nestedChildren(String name, ColumnType type, String inner, int depth) {
      if (depth > MAX_NESTING_DEPTH) {
        throw new IllegalArgumentException(
            "column '" + name + "': type nests deeper than " + MAX_NESTING_DEPTH + " levels");
      }
      List<String> parts = splitTopLevel(inner);
      List<Column> out = new ArrayList<>();
      if (type == ColumnType.ARRAY && parts.size() == 1) {
        out.add(new Column("element", parts.get(0), true, depth + 1));
      } else if (type == ColumnType.MAP && parts.size() == 2) {
        Column key = new Column("key", parts.get(0), false, depth + 1);
        if (key.type().isNested()) {
          throw new IllegalArgumentException(
              "column '" + name + "': a MAP key cannot be of a nested type");
        }
        out.add(key);
        out.add(new Column("value", parts.get(1), true, depth + 1));
      } else if (type == ColumnType.STRUCT && !inner.isBlank()) {
        for (String part : parts) {
          Matcher f = FIELD.matcher(part);
          if (!f.matches()) {
            throw new IllegalArgumentException(
                "column '" + name + "': STRUCT field '" + part + "' is not 'name:TYPE'");
          }
          out.add(new Column(f.group(1), f.group(2).trim(), true, depth + 1));
        }
      } else {
        throw new IllegalArgumentException(
            "column '" + name + "': malformed " + type + " type '" + inner + "'");
      }
      return out;
    }

    /** {@code text} cut at the commas outside any {@code <...>} or {@code (...)}, trimmed. */
    private static List<String> splitTopLevel(String text) {
      List<String> parts = new ArrayList<>();
      int depth = 0;
      int start = 0;
      for (int i = 0; i < text.length(); i++) {
        char c = text.charAt(i);
        if (c == '<' || c == '(') {
          depth++;
        } else if (c == '>' || c == ')') {
          depth--;
        } else if (c == ',' && depth == 0) {
          parts.add(text.substring(start, i).trim());
          start = i + 1;
        }
      }
      parts.add(text.substring(start).trim());
      return parts;
    }

    public String name() {
      return name;
    }

    /**
     * A nested type's children: an ARRAY's "element", a MAP's "key" (never NULL) and "value", a
     * STRUCT's fields in order; every child but a MAP key is nullable. Empty for other types.
     */
    public List<Column> children() {
      return children;
    }

    /** The type as the sidecar reports it, e.g. "BIGINT" or "DECIMAL(10,2)". */
    public String typeName() {
      return typeName;
    }

    public ColumnType type() {
      return type;
    }

    public boolean nullable() {
      return nullable;
    }

    /**
     * DECIMAL: the number of digits; TIMESTAMP_LTZ: the digits of a second kept (0 to 9); 0 for
     * other types.
     */
    public int precision() {
      return precision;
    }

    /** DECIMAL only: digits after the point; 0 for other types. */
    public int scale() {
      return scale;
    }

    @Override
    public String toString() {
      return name + " " + typeName + (nullable ? "" : " NOT NULL");
    }
  }

  private final String table;
  private final List<Column> columns;
  private final List<String> primaryKey;
  private final int buckets;
  private final long latestSnapshotId;
  private final long schemaId;
  private final List<String> partitionKeys;
  private final Map<String, Integer> indexByName;
  private final int[] keyIndexes;
  private final boolean[] isKey;

  public TableSchema(
      String table, List<Column> columns, List<String> primaryKey, int buckets, long latestSnapshotId) {
    this(table, columns, primaryKey, buckets, latestSnapshotId, 0);
  }

  public TableSchema(
      String table,
      List<Column> columns,
      List<String> primaryKey,
      int buckets,
      long latestSnapshotId,
      long schemaId) {
    this(table, columns, primaryKey, buckets, latestSnapshotId, schemaId, List.of());
  }

  public TableSchema(
      String table,
      List<Column> columns,
      List<String> primaryKey,
      int buckets,
      long latestSnapshotId,
      long schemaId,
      List<String> partitionKeys) {
    if (columns.isEmpty()) {
      throw new IllegalArgumentException("table '" + table + "' has no columns");
    }
    this.table = table;
    this.columns = List.copyOf(columns);
    this.primaryKey = List.copyOf(primaryKey);
    this.buckets = buckets;
    this.latestSnapshotId = latestSnapshotId;
    this.schemaId = schemaId;
    this.partitionKeys = List.copyOf(partitionKeys);
    if (!primaryKey.subList(0, Math.min(primaryKey.size(), partitionKeys.size())).equals(partitionKeys)) {
      throw new IllegalArgumentException(
          "table '" + table + "': partition columns " + partitionKeys + " must lead the primary key "
              + primaryKey);
    }
    Map<String, Integer> index = new HashMap<>();
    for (int i = 0; i < columns.size(); i++) {
      index.put(columns.get(i).name(), i);
    }
    this.indexByName = Collections.unmodifiableMap(index);
    this.keyIndexes = new int[primaryKey.size()];
    this.isKey = new boolean[columns.size()];
    for (int k = 0; k < primaryKey.size(); k++) {
      Integer i = index.get(primaryKey.get(k));
      if (i == null) {
        throw new IllegalArgumentException(
            "table '" + table + "': primary-key column '" + primaryKey.get(k) + "' is not a column");
      }
      keyIndexes[k] = i;
      isKey[i] = true;
    }
  }

  /** The schema in a DescribeTable answer. */
  public static TableSchema fromProto(DescribeTableResponse r) {
    List<Column> cols = new ArrayList<>(r.getColumnsCount());
    for (io.deltasidecar.v1.Column c : r.getColumnsList()) {
      cols.add(new Column(c.getName(), c.getType(), c.getNullable()));
    }
    return new TableSchema(
        r.getTable(),
        cols,
        r.getPrimaryKeyList(),
        r.getBuckets(),
        r.getLatestSnapshotId(),
        r.getSchemaId(),
        r.getPartitionKeysList());
  }

  public String table() {
    return table;
  }

  /** The columns in schema order (the order of upsert values). */
  public List<Column> columns() {
    return columns;
  }

  public Column column(int index) {
    return columns.get(index);
  }

  public int columnCount() {
    return columns.size();
  }

  /** The primary-key column names in key order (the order of delete and get key values). */
  public List<String> primaryKey() {
    return primaryKey;
  }

  /** The schema index of the {@code k}-th primary-key column. */
  public int keyColumnIndex(int k) {
    return keyIndexes[k];
  }

  public boolean isKeyColumn(int index) {
    return isKey[index];
  }

  public int buckets() {
    return buckets;
  }

  /**
   * The table's schema version these columns are (0 until the table is first altered). Rows
   * packed for them are sent with it; the sidecar refuses rows of an older version.
   */
  public long schemaId() {
    return schemaId;
  }

  /**
   * The partition columns: the leading primary-key columns, in key order (empty when the table is
   * not partitioned). Each partition has its own data files; a read filtered on them reads only
   * theirs, and {@link DeltaSidecarClient#dropPartition} drops one.
   */
  public List<String> partitionKeys() {
    return partitionKeys;
  }

  /** The latest snapshot when the table was described. */
  public long latestSnapshotId() {
    return latestSnapshotId;
  }

  public OptionalInt columnIndex(String name) {
    Integer i = indexByName.get(name);
    return i == null ? OptionalInt.empty() : OptionalInt.of(i);
  }

  /** The column list as CreateTable takes it: "id BIGINT NOT NULL, name STRING". */
  public String columnsString() {
    StringBuilder b = new StringBuilder();
    for (Column c : columns) {
      if (b.length() > 0) {
        b.append(", ");
      }
      b.append(c);
    }
    return b.toString();
  }

  @Override
  public String toString() {
    return table + "(" + columnsString() + ", PRIMARY KEY (" + String.join(", ", primaryKey)
        + "), " + buckets + " buckets)";
  }
}
