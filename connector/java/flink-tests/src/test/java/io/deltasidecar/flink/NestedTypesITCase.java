package io.deltasidecar.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.deltasidecar.client.DeltaSidecarClient;
import java.math.BigDecimal;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.table.api.DataTypes;
import org.apache.flink.table.api.EnvironmentSettings;
import org.apache.flink.table.api.Schema;
import org.apache.flink.table.api.TableEnvironment;
import org.apache.flink.table.api.bridge.java.StreamTableEnvironment;
import org.apache.flink.table.connector.ChangelogMode;
import org.apache.flink.table.types.DataType;
import org.apache.flink.types.Row;
import org.apache.flink.util.CloseableIterator;
import org.junit.jupiter.api.Test;

/**
 * Nested SQL types both ways on a MiniCluster: a table auto-created from Flink DDL with ARRAY,
 * MAP and ROW columns (nested three deep) gets ARRAY, MAP and STRUCT columns; an INSERT writes
 * them, deltactl reads them from the table files, a batch SELECT reads them back; a DDL whose MAP
 * key is nested is refused, naming the column.
 */
class NestedTypesITCase extends SidecarITCaseBase {
  private static final String COLUMNS =
      "id BIGINT, tags ARRAY<STRING>, attrs MAP<STRING, INT>,"
          + " pt ROW<x DOUBLE, seen TIMESTAMP_LTZ(3), d DECIMAL(10, 2)>,"
          + " deep ARRAY<MAP<INT, ROW<a BOOLEAN, b ARRAY<BIGINT>>>>,"
          + " PRIMARY KEY (id) NOT ENFORCED";

  private String with(String table) {
    return " WITH ('connector' = 'delta-sidecar', 'target' = '" + sidecar.target
        + "', 'table' = '" + table + "')";
  }

  // The ROW types of pt and of deep's map values, as the DDL declares them.
  private static final DataType PT =
      DataTypes.ROW(
          DataTypes.FIELD("x", DataTypes.DOUBLE()),
          DataTypes.FIELD("seen", DataTypes.TIMESTAMP_LTZ(3)),
          DataTypes.FIELD("d", DataTypes.DECIMAL(10, 2)));
  private static final DataType INNER =
      DataTypes.ROW(
          DataTypes.FIELD("a", DataTypes.BOOLEAN()),
          DataTypes.FIELD("b", DataTypes.ARRAY(DataTypes.BIGINT())));

  /**
   * Inserts {@code rows} through a streaming INSERT with checkpoints (the sink commits on them),
   * from a changelog stream keyed by id (the sink's primary key is then the query's upsert key).
   */
  private void insert(String table, Row... rows) throws Exception {
    Configuration conf = new Configuration();
    EventJob.set(conf, "parallelism.default", "1");
    EventJob.set(conf, "execution.checkpointing.interval", "100 ms");
    StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
    StreamTableEnvironment t = StreamTableEnvironment.create(env);
    TypeInformation<Row> type =
        Types.ROW_NAMED(
            new String[] {"id", "tags", "attrs", "pt", "deep"},
            Types.LONG,
            Types.OBJECT_ARRAY(Types.STRING),
            Types.MAP(Types.STRING, Types.INT),
            Types.ROW_NAMED(new String[] {"x", "seen", "d"}, Types.DOUBLE, Types.INSTANT, Types.BIG_DEC),
            Types.OBJECT_ARRAY(
                Types.MAP(
                    Types.INT,
                    Types.ROW_NAMED(
                        new String[] {"a", "b"}, Types.BOOLEAN, Types.OBJECT_ARRAY(Types.LONG)))));
    t.createTemporaryView(
        "src",
        t.fromChangelogStream(
            env.fromData(List.of(rows), type),
            Schema.newBuilder()
                .column("id", DataTypes.BIGINT().notNull())
                .column("tags", DataTypes.ARRAY(DataTypes.STRING()))
                .column("attrs", DataTypes.MAP(DataTypes.STRING(), DataTypes.INT()))
                .column("pt", PT)
                .column("deep", DataTypes.ARRAY(DataTypes.MAP(DataTypes.INT(), INNER)))
                .primaryKey("id")
                .build(),
            ChangelogMode.insertOnly()));
    t.executeSql("CREATE TABLE " + table + " (" + COLUMNS + ")" + with(table));
    t.executeSql("INSERT INTO " + table + " SELECT * FROM src").await(5, TimeUnit.MINUTES);
  }

  private List<Row> select(String table, String columns) throws Exception {
    TableEnvironment t = TableEnvironment.create(EnvironmentSettings.inBatchMode());
    t.executeSql("CREATE TABLE " + table + " (" + COLUMNS + ")" + with(table));
    List<Row> rows = new ArrayList<>();
    try (CloseableIterator<Row> it =
        t.executeSql("SELECT " + columns + " FROM " + table + " ORDER BY id").collect()) {
      it.forEachRemaining(rows::add);
    }
    return rows;
  }

  @Test
  void arrayMapAndRowColumnsRoundTrip() throws Exception {
    Map<String, Integer> attrs = new LinkedHashMap<>();
    attrs.put("k1", 1);
    attrs.put("k2", null);
    Row pt = Row.of(1.5, Instant.parse("2024-02-29T12:34:56.123Z"), new BigDecimal("12.30"));
    Map<Integer, Row> deep = Map.of(-2, Row.of(true, new Long[] {7L, null}));
    Row first = Row.of(1L, new String[] {"a", null, ""}, attrs, pt, new Map<?, ?>[] {deep, null});
    insert("nested", first, Row.of(2L, new String[] {"x", null}, null, Row.of(null, null, null), null));
    try (DeltaSidecarClient client = DeltaSidecarClient.builder().target(sidecar.target).build()) {
      assertEquals(
          "id BIGINT NOT NULL, tags ARRAY<STRING>, attrs MAP<STRING,INT>,"
              + " pt STRUCT<x:DOUBLE,seen:TIMESTAMP_LTZ(3),d:DECIMAL(10,2)>,"
              + " deep ARRAY<MAP<INT,STRUCT<a:BOOLEAN,b:ARRAY<BIGINT>>>>",
          client.describeTable("nested").columnsString());
    }
    // deltactl reads the table files. A MAP keeps the entry order Flink's MapData has, which
    // Flink does not promise: either order of attrs' two entries is right.
    String line1 = "{\"id\":1,\"tags\":[\"a\",null,\"\"],\"attrs\":ATTRS,"
        + "\"pt\":{\"x\":1.5,\"seen\":\"2024-02-29T12:34:56.123Z\",\"d\":\"12.30\"},"
        + "\"deep\":[{\"-2\":{\"a\":true,\"b\":[7,null]}},null]}";
    List<String> lines = deltactl.scan("nested");
    assertEquals(2, lines.size(), lines.toString());
    assertTrue(lines.get(0).equals(line1.replace("ATTRS", "{\"k1\":1,\"k2\":null}"))
        || lines.get(0).equals(line1.replace("ATTRS", "{\"k2\":null,\"k1\":1}")), lines.get(0));
    assertEquals(
        "{\"id\":2,\"tags\":[\"x\",null],\"attrs\":null,\"pt\":{\"x\":null,\"seen\":null,\"d\":null},"
            + "\"deep\":null}",
        lines.get(1));

    List<Row> rows = select("nested", "id, tags, attrs, pt, deep");
    assertEquals(2, rows.size(), rows.toString());
    assertTrue(first.equals(rows.get(0)), first + " != " + rows.get(0));
    assertEquals(Row.of(2L, new String[] {"x", null}, null, Row.of(null, null, null), null).toString(),
        rows.get(1).toString());
    // A projection reads the nested column alone.
    assertEquals(pt, select("nested", "id, pt").get(0).getField(1));
  }

  @Test
  void aNestedMapKeyIsRefusedNamingTheColumn() {
    TableEnvironment t = TableEnvironment.create(EnvironmentSettings.inBatchMode());
    t.executeSql(
        "CREATE TABLE bad (id BIGINT, m MAP<ARRAY<INT>, INT>, PRIMARY KEY (id) NOT ENFORCED)"
            + with("bad"));
    Exception e = assertThrows(Exception.class,
        () -> t.executeSql("INSERT INTO bad VALUES (1, CAST(NULL AS MAP<ARRAY<INT>, INT>))").await());
    assertTrue(causes(e).contains("column 'm': type MAP<ARRAY<INT>, INT> has no delta-sidecar column type"),
        causes(e));
  }
}
