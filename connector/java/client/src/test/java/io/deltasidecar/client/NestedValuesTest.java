package io.deltasidecar.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.deltasidecar.v1.Committable;
import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import org.junit.jupiter.api.Test;

/**
 * ARRAY, MAP and STRUCT columns: the shared vectors (tests/vectors/nested_values.json) through the
 * row codec, every vector through a real sidecar (write, commit, Scan, Get, deltactl), and the
 * errors for values that do not fit.
 */
class NestedValuesTest extends SidecarFixture {
  private static final List<NestedVectors.Vector> VECTORS = NestedVectors.load();

  private static TableSchema schema(String... columns) {
    List<TableSchema.Column> cols = new ArrayList<>();
    cols.add(new TableSchema.Column("id", "BIGINT", false));
    for (int i = 0; i < columns.length; i++) {
      cols.add(new TableSchema.Column("v" + i, columns[i], true));
    }
    return new TableSchema("n", cols, List.of("id"), 2, 0);
  }

  private static String varint(int n) {
    RowBuffer b = new RowBuffer(4);
    b.putVarint(n);
    return HexFormat.of().formatHex(b.array(), 0, b.size());
  }

  @Test
  void everyVectorEncodesToItsBytesAndDecodesBack() {
    for (NestedVectors.Vector v : VECTORS) {
      TableSchema s = schema(v.type());
      Object value = NestedVectors.fromJson(s.column(1), v.json());
      RowCodec codec = new RowCodec(s);
      RowBuffer b = new RowBuffer(8);
      codec.encodeUpsert(new Object[] {1L, value}, b);
      String hex = HexFormat.of().formatHex(v.encoding());
      assertEquals("0100" + "0100000000000000" + varint(v.encoding().length) + hex,
          HexFormat.of().formatHex(b.array(), 0, b.size()), v.type());
      List<Row> rows = codec.decode(Arrays.copyOf(b.array(), b.size()), 1);
      Object back = rows.get(0).get("v0");
      assertTrue(NestedVectors.deepEquals(value, back), v.type() + ": " + value + " != " + back);
    }
  }

  @Test
  void valuesThatDoNotFitNameTheColumnAndThePlace() {
    Object[][] cases = {
      {"ARRAY<INT>", "x", "column 'v0' (ARRAY<INT>): expected a java.util.List, got java.lang.String"},
      {"ARRAY<INT>", Arrays.asList(1, "x"), "column 'v0' (ARRAY<INT>): [1] (INT): expected Integer"},
      {"MAP<STRING,ARRAY<INT>>", Map.of("k", List.of(1, 2L << 40)),
        "column 'v0' (MAP<STRING,ARRAY<INT>>): {k}[1] (INT): 2199023255552 is outside"},
      {"MAP<INT,INT>", Map.of("1", 1), "column 'v0' (MAP<INT,INT>): {key 0} (INT): expected Integer"},
      {"STRUCT<a:INT,b:DECIMAL(4,2)>", Map.of("c", 1), "no field 'c' (fields: a, b)"},
      {"STRUCT<a:INT,b:DECIMAL(4,2)>", Map.of("b", new BigDecimal("1.234")),
        "column 'v0' (STRUCT<a:INT,b:DECIMAL(4,2)>): .b (DECIMAL(4,2)): 1.234 has more than 2 digits"},
      {"ARRAY<ARRAY<STRING>>", List.of(List.of("a"), List.of(7)),
        "column 'v0' (ARRAY<ARRAY<STRING>>): [1][0] (STRING): expected String"},
      {"ARRAY<ARRAY<STRING>>", List.of("a"),
        "column 'v0' (ARRAY<ARRAY<STRING>>): [0] (ARRAY<STRING>): expected a java.util.List"},
    };
    for (Object[] c : cases) {
      RowCodec codec = new RowCodec(schema((String) c[0]));
      RowBuffer b = new RowBuffer(8);
      InvalidRecordException e = assertThrows(InvalidRecordException.class,
          () -> codec.encodeUpsert(new Object[] {1L, c[1]}, b));
      assertTrue(e.description().contains((String) c[2]), e.description());
      assertEquals(0, b.size());
    }
    Map<String, Integer> nullKey = new LinkedHashMap<>();
    nullKey.put(null, 1);
    RowCodec codec = new RowCodec(schema("MAP<STRING,INT>"));
    InvalidRecordException e = assertThrows(InvalidRecordException.class,
        () -> codec.encodeUpsert(new Object[] {1L, nullKey}, new RowBuffer(8)));
    assertTrue(e.description().contains("{key 0}: a MAP key cannot be NULL"), e.description());
    IllegalArgumentException nested = assertThrows(IllegalArgumentException.class,
        () -> new TableSchema.Column("m", "MAP<ARRAY<INT>,INT>", true));
    assertTrue(nested.getMessage().contains("a MAP key cannot be of a nested type"));
    assertThrows(IllegalArgumentException.class,
        () -> new TableSchema.Column("a", "ARRAY<".repeat(33) + "INT" + ">".repeat(33), true));
  }

  @Test
  void everyVectorThroughASidecar() {
    String[] types = VECTORS.stream().map(NestedVectors.Vector::type).toArray(String[]::new);
    StringBuilder ddl = new StringBuilder("id BIGINT");
    for (int i = 0; i < types.length; i++) {
      ddl.append(", v").append(i).append(' ').append(types[i]);
    }
    client.createTable("nested", ddl.toString(), "id", 2, false);
    Registration reg = client.register("nested", "n/0", OptionalLong.empty());
    TableSchema s = reg.schema();
    Object[] row = new Object[types.length + 1];
    row[0] = 1L;
    for (int i = 0; i < types.length; i++) {
      assertEquals(types[i], s.column(i + 1).typeName());
      row[i + 1] = NestedVectors.fromJson(s.column(i + 1), VECTORS.get(i).json());
    }
    Object[] nulls = new Object[types.length + 1];
    nulls[0] = 2L;
    Committable c;
    try (RecordWriter w = client.openWriter(reg, WriterOptions.defaults())) {
      w.upsert(row);
      w.upsert(nulls);
      c = w.prepareCommit(1);
    }
    client.commit(List.of(c));
    List<Row> rows = new ArrayList<>();
    try (CloseableIterator<Row> it = client.scan("nested", OptionalLong.empty())) {
      it.forEachRemaining(rows::add);
    }
    assertEquals(2, rows.size());
    Optional<Row> got = client.get("nested", 1L);
    assertTrue(got.isPresent());
    for (int i = 1; i < row.length; i++) {
      String name = "v" + (i - 1);
      assertTrue(NestedVectors.deepEquals(row[i], rows.get(0).get(name)), name);
      assertTrue(NestedVectors.deepEquals(row[i], got.get().get(name)), name);
      assertEquals(null, rows.get(1).get(name));
    }
    // deltactl reads the table files: each value in the vectors' JSON form.
    List<String> lines = sidecar.deltactlScan("nested");
    Map<?, ?> scanned = (Map<?, ?>) NestedVectors.parse(lines.get(0));
    for (int i = 0; i < types.length; i++) {
      assertEquals(VECTORS.get(i).json(), scanned.get("v" + i), types[i]);
    }
  }
}
