package io.deltasidecar.flink.table;

import io.deltasidecar.client.ColumnType;
import io.deltasidecar.client.TableSchema;
import io.deltasidecar.flink.RecordConverter;
import java.io.Serializable;
import java.time.Instant;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.regex.Pattern;
import org.apache.flink.table.api.ValidationException;
import org.apache.flink.table.catalog.Column;
import org.apache.flink.table.catalog.ResolvedSchema;
import org.apache.flink.table.catalog.UniqueConstraint;
import org.apache.flink.table.data.DecimalData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.TimestampData;
import org.apache.flink.table.types.logical.ArrayType;
import org.apache.flink.table.types.logical.DecimalType;
import org.apache.flink.table.types.logical.LocalZonedTimestampType;
import org.apache.flink.table.types.logical.LogicalType;
import org.apache.flink.table.types.logical.MapType;
import org.apache.flink.table.types.logical.RowType;
import org.apache.flink.table.types.logical.TimestampType;

/**
 * Writes the {@link RowData} of a SQL/Table API sink: INSERT and UPDATE_AFTER rows are upserts,
 * DELETE rows delete by the primary key, UPDATE_BEFORE rows are dropped (the UPDATE_AFTER that
 * follows replaces the row). The row holds the DDL's physical columns in DDL order.
 *
 * <p>Type mapping (Flink DDL → sidecar column): BOOLEAN, TINYINT, SMALLINT, INT, BIGINT, FLOAT,
 * DOUBLE, DATE as themselves; DECIMAL(p,s) → DECIMAL(p,s); CHAR/VARCHAR/STRING → STRING;
 * BINARY/VARBINARY/BYTES → BINARY; TIMESTAMP(p) → DATETIME (milliseconds) when p ≤ 3, TIMESTAMP
 * (nanoseconds) when p > 3, stored as if its wall-clock time were UTC; TIMESTAMP_LTZ(p) →
 * TIMESTAMP_LTZ(p), an instant; ARRAY&lt;T&gt; → ARRAY&lt;T&gt;, MAP&lt;K,V&gt; → MAP&lt;K,V&gt; and
 * ROW&lt;name T, ...&gt; → STRUCT&lt;name:T,...&gt;, their children mapped the same way to any
 * depth (values through {@link NestedData}). A TIMESTAMP_LTZ(p) column also writes and reads a
 * table column of the type earlier builds mapped it to (DATETIME when p ≤ 3, TIMESTAMP when p >
 * 3). Other types (and a MAP whose key is nested, a ROW field whose name the sidecar does not
 * accept) are refused when the sink is created.
 */
public final class RowDataConverter implements RecordConverter<RowData> {
  private static final long serialVersionUID = 1L;
  private static final Pattern COLUMN_NAME = Pattern.compile("[A-Za-z_][A-Za-z0-9_]{0,127}");

  /**
   * One physical DDL column, or a child of a nested one (an ARRAY's element, a MAP's key or
   * value, a ROW's field): the sidecar type it maps to, and its Flink type.
   */
  record FlinkColumn(
      String name,
      String flinkType,
      ColumnType type,
      int precision,
      int scale,
      boolean nullable,
      LogicalType logicalType,
      List<FlinkColumn> children)
      implements Serializable {
    String sidecarType() {
      return switch (type) {
        case DECIMAL -> "DECIMAL(" + precision + "," + scale + ")";
        case TIMESTAMP_LTZ -> "TIMESTAMP_LTZ(" + precision + ")";
        case ARRAY -> "ARRAY<" + children.get(0).sidecarType() + ">";
        case MAP -> "MAP<" + children.get(0).sidecarType() + "," + children.get(1).sidecarType() + ">";
        case STRUCT -> {
          List<String> fields = new ArrayList<>();
          for (FlinkColumn f : children) {
            fields.add(f.name() + ":" + f.sidecarType());
          }
          yield "STRUCT<" + String.join(",", fields) + ">";
        }
        default -> type.name();
      };
    }

    /**
     * Whether the sidecar column {@code sc} holds this column's values: the mapped type (with its
     * precision and scale), or for TIMESTAMP_LTZ(p) also the DATETIME or TIMESTAMP column that
     * builds before TIMESTAMP_LTZ mapped it to.
     */
    boolean matches(TableSchema.Column sc) {
      return switch (type) {
        case ARRAY, MAP, STRUCT -> sc.type() == type && childrenMatch(sc.children());
        case DECIMAL ->
            sc.type() == type && sc.precision() == precision && sc.scale() == scale;
        case TIMESTAMP_LTZ ->
            (sc.type() == type && sc.precision() == precision)
                || sc.type() == (precision <= 3 ? ColumnType.DATETIME : ColumnType.TIMESTAMP);
        default -> sc.type() == type;
      };
    }

    private boolean childrenMatch(List<TableSchema.Column> sc) {
      if (sc.size() != children.size()) {
        return false;
      }
      for (int k = 0; k < children.size(); k++) {
        FlinkColumn c = children.get(k);
        boolean sameName = type != ColumnType.STRUCT || c.name().equalsIgnoreCase(sc.get(k).name());
        if (!sameName || !c.matches(sc.get(k))) {
          return false;
        }
      }
      return true;
    }

    String definition() {
      return name + " " + sidecarType() + (nullable ? "" : " NOT NULL");
    }
  }

  private final String table;
  private final List<FlinkColumn> columns;
  private final List<String> primaryKey;
  /** The DDL's PARTITIONED BY columns, leading {@link #primaryKey}; empty when not partitioned. */
  private final List<String> partitionKeys;
  // Set by open(): the RowData position of each sidecar column, and of each key column.
  private int[] schemaToRow;
  private int[] keyToRow;

  private RowDataConverter(
      String table, List<FlinkColumn> columns, List<String> primaryKey, List<String> partitionKeys) {
    this.table = table;
    this.columns = List.copyOf(columns);
    this.primaryKey = List.copyOf(primaryKey);
    this.partitionKeys = List.copyOf(partitionKeys);
  }

  /**
   * The converter for a DDL's resolved schema. Throws {@link ValidationException} naming the
   * problem when the schema has no primary key, a column type without a sidecar counterpart, or a
   * column name the sidecar does not accept.
   */
  public static RowDataConverter forSchema(String table, ResolvedSchema schema) {
    return forSchema(table, schema, List.of());
  }

  /**
   * The converter for a DDL's resolved schema and its {@code PARTITIONED BY} columns ({@code
   * partitionKeys}, empty when the DDL has none). Besides the checks of {@link
   * #forSchema(String, ResolvedSchema)}, the partition columns must lead the PRIMARY KEY in their
   * PARTITIONED BY order, as they lead the key of a partitioned table on the sidecar: {@code
   * PRIMARY KEY (id) PARTITIONED BY (dt)} is refused, asking for {@code PRIMARY KEY (dt, id)}; and
   * the key needs a column that is not a partition column ({@code PRIMARY KEY (dt)} is refused).
   */
  public static RowDataConverter forSchema(
      String table, ResolvedSchema schema, List<String> partitionKeys) {
    List<FlinkColumn> columns = new ArrayList<>();
    List<String> problems = new ArrayList<>();
    for (Column c : schema.getColumns()) {
      if (!c.isPhysical()) {
        continue;
      }
      if (!COLUMN_NAME.matcher(c.getName()).matches()) {
        problems.add(
            "column '" + c.getName() + "': the sidecar needs names of 1-128 characters matching"
                + " [A-Za-z_][A-Za-z0-9_]*");
        continue;
      }
      LogicalType t = c.getDataType().getLogicalType();
      Optional<FlinkColumn> mapped = map(c.getName(), t);
      if (mapped.isEmpty()) {
        problems.add(
            "column '" + c.getName() + "': type " + t.asSummaryString()
                + " has no delta-sidecar column type (supported: BOOLEAN, TINYINT, SMALLINT, INT,"
                + " BIGINT, FLOAT, DOUBLE, DECIMAL, CHAR, VARCHAR, STRING, BINARY, VARBINARY,"
                + " BYTES, DATE, TIMESTAMP, TIMESTAMP_LTZ, and ARRAY, MAP (of a key that is not"
                + " nested) and ROW (of field names the sidecar accepts) of these)");
      } else {
        columns.add(mapped.get());
      }
    }
    Optional<UniqueConstraint> pk = schema.getPrimaryKey();
    if (pk.isEmpty()) {
      problems.add(
          "the table has no PRIMARY KEY; delta-sidecar tables are keyed (the sink writes and the"
              + " source reads upserts by key), so declare one, e.g. PRIMARY KEY (id) NOT ENFORCED");
    }
    if (pk.isPresent() && !partitionKeys.isEmpty()) {
      List<String> key = pk.get().getColumns();
      if (!startsWith(key, partitionKeys)) {
        List<String> suggested = new ArrayList<>(partitionKeys);
        for (String k : key) {
          if (!containsIgnoreCase(partitionKeys, k)) {
            suggested.add(k);
          }
        }
        problems.add(
            "PARTITIONED BY (" + String.join(", ", partitionKeys) + ") with PRIMARY KEY ("
                + String.join(", ", key) + "): the partition columns must lead the primary key,"
                + " in their PARTITIONED BY order (a partitioned delta-sidecar table is keyed by"
                + " its partition columns first), so declare PRIMARY KEY ("
                + String.join(", ", suggested) + ") NOT ENFORCED");
      } else if (key.size() == partitionKeys.size()) {
        problems.add(
            "PRIMARY KEY (" + String.join(", ", key) + ") has no column besides the PARTITIONED"
                + " BY columns; a partitioned delta-sidecar table needs at least one more key"
                + " column (else each partition holds one row)");
      }
    }
    if (!problems.isEmpty()) {
      throw new ValidationException(
          "cannot use the DDL for delta-sidecar table '" + table + "': "
              + String.join("; ", problems));
    }
    return new RowDataConverter(table, columns, pk.get().getColumns(), partitionKeys);
  }

  /** Whether {@code list} begins with {@code prefix}, names compared case-insensitively. */
  private static boolean startsWith(List<String> list, List<String> prefix) {
    if (list.size() < prefix.size()) {
      return false;
    }
    for (int i = 0; i < prefix.size(); i++) {
      if (!list.get(i).equalsIgnoreCase(prefix.get(i))) {
        return false;
      }
    }
    return true;
  }

  private static boolean containsIgnoreCase(List<String> names, String name) {
    return names.stream().anyMatch(name::equalsIgnoreCase);
  }

  private static Optional<FlinkColumn> map(String name, LogicalType t) {
    String flinkType = t.asSummaryString();
    boolean nullable = t.isNullable();
    ColumnType type;
    int precision = 0;
    int scale = 0;
    List<FlinkColumn> children = new ArrayList<>();
    switch (t.getTypeRoot()) {
      case BOOLEAN -> type = ColumnType.BOOLEAN;
      case TINYINT -> type = ColumnType.TINYINT;
      case SMALLINT -> type = ColumnType.SMALLINT;
      case INTEGER -> type = ColumnType.INT;
      case BIGINT -> type = ColumnType.BIGINT;
      case FLOAT -> type = ColumnType.FLOAT;
      case DOUBLE -> type = ColumnType.DOUBLE;
      case DATE -> type = ColumnType.DATE;
      case CHAR, VARCHAR -> type = ColumnType.STRING;
      case BINARY, VARBINARY -> type = ColumnType.BINARY;
      case DECIMAL -> {
        DecimalType d = (DecimalType) t;
        type = ColumnType.DECIMAL;
        precision = d.getPrecision();
        scale = d.getScale();
      }
      case TIMESTAMP_WITHOUT_TIME_ZONE -> {
        precision = ((TimestampType) t).getPrecision();
        type = precision <= 3 ? ColumnType.DATETIME : ColumnType.TIMESTAMP;
      }
      case TIMESTAMP_WITH_LOCAL_TIME_ZONE -> {
        precision = ((LocalZonedTimestampType) t).getPrecision();
        type = ColumnType.TIMESTAMP_LTZ;
      }
      case ARRAY -> {
        type = ColumnType.ARRAY;
        Optional<FlinkColumn> element = map("element", ((ArrayType) t).getElementType());
        if (element.isEmpty()) {
          return Optional.empty();
        }
        children.add(element.get());
      }
      case MAP -> {
        type = ColumnType.MAP;
        Optional<FlinkColumn> key = map("key", ((MapType) t).getKeyType());
        Optional<FlinkColumn> value = map("value", ((MapType) t).getValueType());
        if (key.isEmpty() || value.isEmpty() || key.get().type().isNested()) {
          return Optional.empty();
        }
        children.add(key.get());
        children.add(value.get());
      }
      case ROW -> {
        type = ColumnType.STRUCT;
        for (RowType.RowField f : ((RowType) t).getFields()) {
          Optional<FlinkColumn> field = map(f.getName(), f.getType());
          if (!COLUMN_NAME.matcher(f.getName()).matches() || field.isEmpty()) {
            return Optional.empty();
          }
          children.add(field.get());
        }
      }
      default -> {
        return Optional.empty();
      }
    }
    return Optional.of(
        new FlinkColumn(name, flinkType, type, precision, scale, nullable, t, List.copyOf(children)));
  }

  /** The column list for CreateTable: "id BIGINT NOT NULL, name STRING, ...", in DDL order. */
  public String sidecarSchema() {
    List<String> defs = new ArrayList<>();
    for (FlinkColumn c : columns) {
      defs.add(c.definition());
    }
    return String.join(", ", defs);
  }

  /** The primary key for CreateTable: "region, id". */
  public String sidecarPrimaryKey() {
    return String.join(", ", primaryKey);
  }

  /** The partition columns for CreateTable: "dt" or "dt, region"; empty when not partitioned. */
  public String sidecarPartitionBy() {
    return String.join(", ", partitionKeys);
  }

  /**
   * Checks that the sidecar's table has the DDL's columns (names compared case-insensitively, as
   * the sidecar does), with the mapped types, no NOT NULL column the DDL may leave NULL, and the
   * same primary key in the same order; then resolves where each value comes from. A nullable
   * value column of the table that the DDL does not declare (one added by an ALTER since the job
   * was written) is written as NULL; every DDL column must still be in the table, so no value is
   * ever dropped. The table's partition columns ({@link TableSchema#partitionKeys()}) must be the
   * DDL's PARTITIONED BY columns, in the same order (none for a table without partitions).
   */
  @Override
  public void open(TableSchema schema) {
    schemaToRow = resolve(schema, true);
    int[] keys = new int[primaryKey.size()];
    for (int k = 0; k < keys.length; k++) {
      keys[k] = indexOf(primaryKey.get(k));
    }
    keyToRow = keys;
  }

  /**
   * The checks of {@link #open}, for reading ({@code writing} false) or writing: the DDL position
   * of each sidecar column, -1 for a column the DDL does not declare (not read; written as NULL,
   * which writing allows only for a nullable value column). Reading allows a nullable DDL column
   * for a NOT NULL sidecar column, and does not compare the partition columns.
   */
  int[] resolve(TableSchema schema, boolean writing) {
    List<String> problems = new ArrayList<>();
    int[] toRow = new int[schema.columnCount()];
    boolean[] used = new boolean[columns.size()];
    for (int i = 0; i < schema.columnCount(); i++) {
      TableSchema.Column sc = schema.column(i);
      int pos = indexOf(sc.name());
      toRow[i] = pos;
      if (pos < 0) {
        if (writing && (!sc.nullable() || schema.isKeyColumn(i))) {
          problems.add(
              "column '" + sc.name() + "' (" + sc.typeName() + ") is not in the DDL and cannot be"
                  + " left NULL");
        }
        continue;
      }
      used[pos] = true;
      FlinkColumn fc = columns.get(pos);
      if (!fc.matches(sc)) {
        problems.add(
            "column '" + sc.name() + "' is " + sc.typeName() + " on the sidecar but the DDL's "
                + fc.flinkType() + " maps to " + fc.sidecarType());
      } else if (writing && !sc.nullable() && fc.nullable() && !schema.isKeyColumn(i)) {
        problems.add(
            "column '" + sc.name() + "' is NOT NULL on the sidecar but nullable in the DDL");
      }
    }
    for (int p = 0; p < columns.size(); p++) {
      if (!used[p]) {
        problems.add("the DDL's column '" + columns.get(p).name() + "' is not in the table");
      }
    }
    List<String> sidecarKey = schema.primaryKey();
    boolean sameKey = sidecarKey.size() == primaryKey.size();
    for (int k = 0; sameKey && k < primaryKey.size(); k++) {
      sameKey = sidecarKey.get(k).equalsIgnoreCase(primaryKey.get(k));
    }
    if (!sameKey) {
      problems.add(
          "the primary key is (" + String.join(", ", sidecarKey) + ") on the sidecar but ("
              + String.join(", ", primaryKey) + ") in the DDL");
    }
    List<String> sidecarPartitions = schema.partitionKeys();
    if (writing
        && !(sidecarPartitions.size() == partitionKeys.size()
            && startsWith(sidecarPartitions, partitionKeys))) {
      problems.add(
          "the partition keys are " + sidecarPartitions + " on the sidecar but " + partitionKeys
              + " in the DDL's PARTITIONED BY");
    }
    if (!problems.isEmpty()) {
      throw new IllegalStateException(
          "table '" + table + "' on the sidecar does not match the DDL: "
              + String.join("; ", problems) + ". The sidecar has: " + schema.columnsString()
              + ", PRIMARY KEY (" + String.join(", ", sidecarKey) + ")"
              + (sidecarPartitions.isEmpty()
                  ? ""
                  : ", PARTITIONED BY (" + String.join(", ", sidecarPartitions) + ")"));
    }
    return toRow;
  }

  /** The physical DDL columns, in DDL order. */
  List<FlinkColumn> columns() {
    return columns;
  }

  private int indexOf(String name) {
    for (int p = 0; p < columns.size(); p++) {
      if (columns.get(p).name().equalsIgnoreCase(name)) {
        return p;
      }
    }
    return -1;
  }

  @Override
  public void convert(RowData row, RowOutput out) {
    if (schemaToRow == null) {
      throw new IllegalStateException("RowDataConverter.convert called before open");
    }
    switch (row.getRowKind()) {
      case INSERT, UPDATE_AFTER -> {
        Object[] values = new Object[schemaToRow.length];
        for (int i = 0; i < values.length; i++) {
          values[i] = schemaToRow[i] < 0 ? null : value(row, schemaToRow[i]);
        }
        out.upsert(values);
      }
      case DELETE -> {
        Object[] key = new Object[keyToRow.length];
        for (int k = 0; k < key.length; k++) {
          key[k] = value(row, keyToRow[k]);
        }
        out.delete(key);
      }
      case UPDATE_BEFORE -> {
        // The UPDATE_AFTER of the same key follows and replaces the whole row.
      }
    }
  }

  private Object value(RowData row, int pos) {
    if (row.isNullAt(pos)) {
      return null;
    }
    FlinkColumn c = columns.get(pos);
    return switch (c.type()) {
      case BOOLEAN -> row.getBoolean(pos);
      case TINYINT -> row.getByte(pos);
      case SMALLINT -> row.getShort(pos);
      case INT -> row.getInt(pos);
      case BIGINT -> row.getLong(pos);
      case FLOAT -> row.getFloat(pos);
      case DOUBLE -> row.getDouble(pos);
      case DECIMAL -> {
        DecimalData d = row.getDecimal(pos, c.precision(), c.scale());
        yield d == null ? null : d.toBigDecimal();
      }
      case STRING -> row.getString(pos).toString();
      case BINARY -> row.getBinary(pos);
      case DATE -> LocalDate.ofEpochDay(row.getInt(pos));
      case DATETIME, TIMESTAMP, TIMESTAMP_LTZ -> {
        TimestampData ts = row.getTimestamp(pos, c.precision());
        yield Instant.ofEpochMilli(ts.getMillisecond()).plusNanos(ts.getNanoOfMillisecond());
      }
      case ARRAY, MAP, STRUCT ->
          NestedData.toClient(c, RowData.createFieldGetter(c.logicalType(), pos).getFieldOrNull(row));
    };
  }

  @Override
  public String toString() {
    return "RowDataConverter{" + table + ": " + sidecarSchema() + "}";
  }
}
