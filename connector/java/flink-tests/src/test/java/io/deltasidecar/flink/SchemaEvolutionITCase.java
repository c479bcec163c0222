package io.deltasidecar.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.deltasidecar.client.DeltaSidecarClient;
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
 * A Flink SQL job whose DDL predates an ALTER of its table: after a nullable column is added it
 * still writes (the new column NULL) and reads (the column not read); after a column of its DDL
 * is dropped, it fails naming the column instead of dropping its values.
 */
class SchemaEvolutionITCase extends SidecarITCaseBase {
  private static final String DDL_COLUMNS =
      "id BIGINT, name STRING, qty INT, PRIMARY KEY (id) NOT ENFORCED";

  private String ddl(String table) {
    return "CREATE TABLE " + table + " (" + DDL_COLUMNS + ") WITH ('connector' = 'delta-sidecar',"
        + " 'target' = '" + sidecar.target + "', 'table' = '" + table + "')";
  }

  /** A streaming INSERT of {@code rows} (id, name, qty) with checkpoints. */
  private void insert(String table, List<Row> rows) throws Exception {
    Configuration conf = new Configuration();
    EventJob.set(conf, "parallelism.default", "1");
    EventJob.set(conf, "execution.checkpointing.interval", "100 ms");
    // A DDL that no longer matches the table fails the job at once, not in a restart loop.
    EventJob.set(conf, "restart-strategy.type", "none");
    StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
    StreamTableEnvironment t = StreamTableEnvironment.create(env);
    TypeInformation<Row> type =
        Types.ROW_NAMED(new String[] {"id", "name", "qty"}, Types.LONG, Types.STRING, Types.INT);
    t.createTemporaryView(
        "src",
        t.fromChangelogStream(
            env.fromData(rows, type),
            Schema.newBuilder()
                .column("id", DataTypes.BIGINT().notNull())
                .column("name", DataTypes.STRING())
                .column("qty", DataTypes.INT())
                .primaryKey("id")
                .build(),
            ChangelogMode.insertOnly()));
    t.executeSql(ddl(table));
    t.executeSql("INSERT INTO " + table + " SELECT id, name, qty FROM src")
        .await(5, TimeUnit.MINUTES);
  }

  private List<Row> select(String table) throws Exception {
    TableEnvironment t = TableEnvironment.create(EnvironmentSettings.inBatchMode());
    t.executeSql(ddl(table));
    List<Row> rows = new ArrayList<>();
    try (CloseableIterator<Row> it =
        t.executeSql("SELECT id, name, qty FROM " + table + " ORDER BY id").collect()) {
      it.forEachRemaining(rows::add);
    }
    return rows;
  }

  @Test
  void aJobKeepsWritingAfterAColumnIsAddedAndFailsClearlyAfterOneOfItsColumnsIsDropped()
      throws Exception {
    insert("evolving", List.of(Row.ofKind(RowKind.INSERT, 1L, "a", 1), Row.ofKind(RowKind.INSERT, 2L, "b", 2)));
    try (DeltaSidecarClient client = DeltaSidecarClient.builder().target(sidecar.target).build()) {
      assertEquals(
          1, client.alterTable("evolving", List.of("ADD COLUMN note STRING AFTER name")).schemaId());
    }
    insert("evolving", List.of(Row.ofKind(RowKind.INSERT, 1L, "a2", 10), Row.ofKind(RowKind.INSERT, 3L, "c", 3)));
    assertEquals(
        List.of(
            "{\"id\":1,\"name\":\"a2\",\"note\":null,\"qty\":10}",
            "{\"id\":2,\"name\":\"b\",\"note\":null,\"qty\":2}",
            "{\"id\":3,\"name\":\"c\",\"note\":null,\"qty\":3}"),
        deltactl.scan("evolving"));
    assertEquals(
        List.of(Row.of(1L, "a2", 10), Row.of(2L, "b", 2), Row.of(3L, "c", 3)), select("evolving"));

    try (DeltaSidecarClient client = DeltaSidecarClient.builder().target(sidecar.target).build()) {
      client.alterTable("evolving", List.of("DROP COLUMN qty"));
    }
    Exception e =
        assertThrows(
            Exception.class,
            () -> insert("evolving", List.of(Row.ofKind(RowKind.INSERT, 4L, "d", 4))));
    assertTrue(
        causes(e).contains("the DDL's column 'qty' is not in the table"), causes(e));
    assertEquals(3, deltactl.scan("evolving").size());
  }
}
