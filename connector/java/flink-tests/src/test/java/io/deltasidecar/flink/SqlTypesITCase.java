package io.deltasidecar.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.deltasidecar.client.DeltaSidecarClient;
import io.deltasidecar.client.TableSchema;
import java.time.Instant;
import java.time.LocalDateTime;
import java.time.ZoneId;
import java.util.ArrayList;
import java.util.List;
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
import org.apache.flink.types.Row;
import org.apache.flink.types.RowKind;
import org.apache.flink.util.CloseableIterator;
import org.junit.jupiter.api.Test;

/**
 * The SQL type mapping of the time types, both ways: Flink's TIMESTAMP_LTZ(p) is the table's
 * TIMESTAMP_LTZ(p) (an instant, whatever the session time zone), Flink's TIMESTAMP(p) the table's
 * DATETIME or TIMESTAMP (the wall-clock time stored as if it were UTC); and a TIMESTAMP_LTZ(p)
 * column still writes a table that earlier builds created with DATETIME or TIMESTAMP for it.
 */
class SqlTypesITCase extends SidecarITCaseBase {
  private static final String COLUMNS =
      "id BIGINT, at3 TIMESTAMP_LTZ(3), at9 TIMESTAMP_LTZ(9), wall TIMESTAMP(6),"
          + " PRIMARY KEY (id) NOT ENFORCED";

  private String with(String table) {
    return " WITH ('connector' = 'delta-sidecar', 'target' = '" + sidecar.target
        + "', 'table' = '" + table + "')";
  }

  /** Inserts three rows through a streaming INSERT, in a session whose time zone is +08:00. */
  private void insert(String table) throws Exception {
    Configuration conf = new Configuration();
    EventJob.set(conf, "parallelism.default", "1");
    EventJob.set(conf, "execution.checkpointing.interval", "100 ms");
    StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
    StreamTableEnvironment t = StreamTableEnvironment.create(env);
    t.getConfig().setLocalTimeZone(ZoneId.of("Asia/Shanghai"));
    // A keyed source (the sink's primary key is then the query's upsert key) of epoch
    // milliseconds and texts that the INSERT turns into the time types.
    List<Row> source =
        List.of(
            Row.ofKind(RowKind.INSERT, 1L, 1709210096123L, "2024-02-29 20:34:56.123456789",
                "2024-02-29 12:34:56.123456"),
            Row.ofKind(RowKind.INSERT, 2L, -1L, "1970-01-01 08:00:00", "1969-12-31 23:59:59.999999"),
            Row.ofKind(RowKind.INSERT, 3L, null, null, null));
    TypeInformation<Row> type =
        Types.ROW_NAMED(
            new String[] {"id", "ms", "text9", "wall"},
            Types.LONG, Types.LONG, Types.STRING, Types.STRING);
    t.createTemporaryView(
        "src",
        t.fromChangelogStream(
            env.fromData(source, type),
            Schema.newBuilder()
                .column("id", DataTypes.BIGINT().notNull())
                .column("ms", DataTypes.BIGINT())
                .column("text9", DataTypes.STRING())
                .column("wall", DataTypes.STRING())
                .primaryKey("id")
                .build(),
            ChangelogMode.insertOnly()));
    t.executeSql("CREATE TABLE " + table + " (" + COLUMNS + ")" + with(table));
    // A string cast to TIMESTAMP_LTZ is read in the session time zone: 20:34 in Shanghai is
    // 12:34 UTC. TIMESTAMP is a wall-clock time and keeps its 12:34.
    t.executeSql(
            "INSERT INTO " + table + " SELECT id, TO_TIMESTAMP_LTZ(ms, 3),"
                + " CAST(text9 AS TIMESTAMP_LTZ(9)), CAST(wall AS TIMESTAMP(6)) FROM src")
        .await(5, TimeUnit.MINUTES);
  }

  /** The rows a batch SELECT reads back, in a session whose time zone is -05:00. */
  private List<Row> select(String table) throws Exception {
    TableEnvironment t = TableEnvironment.create(EnvironmentSettings.inBatchMode());
    t.getConfig().setLocalTimeZone(ZoneId.of("America/New_York"));
    t.executeSql("CREATE TABLE " + table + " (" + COLUMNS + ")" + with(table));
    List<Row> rows = new ArrayList<>();
    try (CloseableIterator<Row> it =
        t.executeSql("SELECT id, at3, at9, wall FROM " + table + " ORDER BY id").collect()) {
      it.forEachRemaining(rows::add);
    }
    return rows;
  }

  private static void assertReadBack(List<Row> rows) {
    assertEquals(3, rows.size(), rows.toString());
    assertEquals(Instant.parse("2024-02-29T12:34:56.123Z"), rows.get(0).getField(1));
    assertEquals(Instant.parse("2024-02-29T12:34:56.123456789Z"), rows.get(0).getField(2));
    assertEquals(LocalDateTime.parse("2024-02-29T12:34:56.123456"), rows.get(0).getField(3));
    assertEquals(Instant.parse("1969-12-31T23:59:59.999Z"), rows.get(1).getField(1));
    assertEquals(Instant.parse("1970-01-01T00:00:00Z"), rows.get(1).getField(2));
    assertEquals(LocalDateTime.parse("1969-12-31T23:59:59.999999"), rows.get(1).getField(3));
    assertEquals(null, rows.get(2).getField(1));
  }

  @Test
  void timestampLtzIsTheTablesTimestampLtzBothWays() throws Exception {
    insert("events");
    try (DeltaSidecarClient client = DeltaSidecarClient.builder().target(sidecar.target).build()) {
      assertEquals(
          "id BIGINT NOT NULL, at3 TIMESTAMP_LTZ(3), at9 TIMESTAMP_LTZ(9), wall TIMESTAMP",
          client.describeTable("events").columnsString());
    }
    assertEquals(
        List.of(
            "{\"id\":1,\"at3\":\"2024-02-29T12:34:56.123Z\","
                + "\"at9\":\"2024-02-29T12:34:56.123456789Z\","
                + "\"wall\":\"2024-02-29 12:34:56.123456000\"}",
            "{\"id\":2,\"at3\":\"1969-12-31T23:59:59.999Z\",\"at9\":\"1970-01-01T00:00:00.000000000Z\","
                + "\"wall\":\"1969-12-31 23:59:59.999999000\"}",
            "{\"id\":3,\"at3\":null,\"at9\":null,\"wall\":null}"),
        deltactl.scan("events"));
    assertReadBack(select("events"));
  }

  @Test
  void timestampLtzStillWritesTablesOfTheEarlierMapping() throws Exception {
    try (DeltaSidecarClient client = DeltaSidecarClient.builder().target(sidecar.target).build()) {
      client.createTable("earlier", "id BIGINT, at3 DATETIME, at9 TIMESTAMP, wall TIMESTAMP", "id", 2,
          false);
    }
    insert("earlier");
    List<String> lines = deltactl.scan("earlier");
    assertTrue(
        lines.get(0).startsWith(
            "{\"id\":1,\"at3\":\"2024-02-29 12:34:56.123\",\"at9\":\"2024-02-29 12:34:56.123456789\""),
        lines.toString());
    assertReadBack(select("earlier"));
  }
}
