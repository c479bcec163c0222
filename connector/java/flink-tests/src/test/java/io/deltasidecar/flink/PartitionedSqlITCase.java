package io.deltasidecar.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.deltasidecar.client.DeltaSidecarClient;
import io.deltasidecar.client.TableSchema;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.runtime.util.EnvironmentInformation;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.table.api.DataTypes;
import org.apache.flink.table.api.EnvironmentSettings;
import org.apache.flink.table.api.TableEnvironment;
import org.apache.flink.table.api.Schema;
import org.apache.flink.table.api.Table;
import org.apache.flink.table.api.bridge.java.StreamTableEnvironment;
import org.apache.flink.table.connector.ChangelogMode;
import org.apache.flink.types.Row;
import org.apache.flink.types.RowKind;
import org.apache.flink.util.CloseableIterator;
import org.junit.jupiter.api.Test;

/**
 * {@code PARTITIONED BY} in the SQL connector, through Flink's real planner and a real sidecar: a
 * changelog over three days into a table the sink creates partitioned by {@code dt}; an INSERT
 * into a static partition ({@code PARTITION (dt = '...')}); an existing table whose partition
 * columns differ from the DDL's, and a PRIMARY KEY without the partition column, both refused
 * naming the problem; and a partition dropped with the Java client.
 */
class PartitionedSqlITCase extends SidecarITCaseBase {
  private static final LocalDate DAY1 = LocalDate.parse("2026-12-01");
  private static final LocalDate DAY2 = LocalDate.parse("2026-12-02");
  private static final LocalDate DAY3 = LocalDate.parse("2026-12-03");
  private static final int IDS_PER_DAY = 20;

  /** The environment of the latest {@link #tableEnv()}. */
  private StreamExecutionEnvironment env;

  /**
   * +I of ids 1..20 on each of three days; -U/+U of every fourth id of the second day; -D of
   * every fifth id of the third day (and of id 7 on the first).
   */
  private static List<Row> changelog() {
    List<Row> rows = new ArrayList<>();
    for (LocalDate day : List.of(DAY1, DAY2, DAY3)) {
      for (long id = 1; id <= IDS_PER_DAY; id++) {
        rows.add(Row.ofKind(RowKind.INSERT, day, id, "v" + id + "@" + day));
      }
    }
    for (long id = 4; id <= IDS_PER_DAY; id += 4) {
      rows.add(Row.ofKind(RowKind.UPDATE_BEFORE, DAY2, id, "v" + id + "@" + DAY2));
      rows.add(Row.ofKind(RowKind.UPDATE_AFTER, DAY2, id, "updated" + id));
    }
    for (long id = 5; id <= IDS_PER_DAY; id += 5) {
      rows.add(Row.ofKind(RowKind.DELETE, DAY3, id, "v" + id + "@" + DAY3));
    }
    rows.add(Row.ofKind(RowKind.DELETE, DAY1, 7L, "v7@" + DAY1));
    return rows;
  }

  private static String line(LocalDate dt, long id, String v) {
    return "{\"dt\":\"" + dt + "\",\"id\":" + id + ",\"v\":\"" + v + "\"}";
  }

  /** The scan lines (ordered by dt, id) the changelog leaves, computed without Flink. */
  private static TreeMap<String, String> expected() {
    TreeMap<String, String> table = new TreeMap<>();
    for (Row r : changelog()) {
      LocalDate dt = (LocalDate) r.getField(0);
      long id = (Long) r.getField(1);
      String key = dt + "/" + String.format("%05d", id);
      switch (r.getKind()) {
        case INSERT, UPDATE_AFTER -> table.put(key, line(dt, id, (String) r.getField(2)));
        case DELETE -> table.remove(key);
        case UPDATE_BEFORE -> {}
      }
    }
    return table;
  }

  /**
   * A streaming table environment with checkpoints every 100 ms and no restarts (a refused table
   * fails the job at once), with the changelog as the view {@code changes}. The source and query
   * run at parallelism 1 and the sinks at 2 ('sink.parallelism'), so the planner hashes the rows
   * by the primary key into the sink (see SqlITCase).
   */
  private StreamTableEnvironment tableEnv() {
    Configuration conf = new Configuration();
    EventJob.set(conf, "parallelism.default", "1");
    EventJob.set(conf, "execution.checkpointing.interval", "100 ms");
    EventJob.set(conf, "restart-strategy.type", "none");
    env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
    StreamTableEnvironment tEnv = StreamTableEnvironment.create(env);
    TypeInformation<Row> type =
        Types.ROW_NAMED(
            new String[] {"dt", "id", "v"}, Types.LOCAL_DATE, Types.LONG, Types.STRING);
    tEnv.createTemporaryView(
        "changes",
        tEnv.fromChangelogStream(
            env.fromData(changelog(), type),
            Schema.newBuilder()
                .column("dt", DataTypes.DATE().notNull())
                .column("id", DataTypes.BIGINT().notNull())
                .column("v", DataTypes.STRING())
                .primaryKey("dt", "id")
                .build(),
            ChangelogMode.all()));
    return tEnv;
  }

  /** {@code CREATE TABLE name (dt DATE, id BIGINT, v STRING, <key>) <partitioned> WITH (...)}. */
  private String ddl(String name, String table, String primaryKey, String partitionedBy) {
    return "CREATE TABLE " + name + " (dt DATE, id BIGINT, v STRING, PRIMARY KEY (" + primaryKey
        + ") NOT ENFORCED) " + partitionedBy + " WITH ('connector' = 'delta-sidecar', 'target' = '"
        + sidecar.target + "', 'table' = '" + table + "', 'sink.parallelism' = '2',"
        + " 'write.bucket.num' = '2')";
  }

  /** An insert-only table of (id, v) rows with the primary key id, on {@link #env}. */
  private Table keyedById(StreamTableEnvironment tEnv, Row... rows) {
    return tEnv.fromChangelogStream(
        env.fromData(
            List.of(rows), Types.ROW_NAMED(new String[] {"id", "v"}, Types.LONG, Types.STRING)),
        Schema.newBuilder()
            .column("id", DataTypes.BIGINT().notNull())
            .column("v", DataTypes.STRING())
            .primaryKey("id")
            .build(),
        ChangelogMode.insertOnly());
  }

  private DeltaSidecarClient client() {
    return DeltaSidecarClient.builder().target(sidecar.target).build();
  }

  /** The partition column values of {@code deltactl partitions}: "dt=2026-12-01", ... */
  private List<String> partitions(String table) throws Exception {
    List<String> specs = new ArrayList<>();
    for (String l : deltactl.run("partitions", table)) {
      specs.add(l.substring(0, l.indexOf(' ')));
    }
    return specs;
  }

  @Test
  void aPartitionedChangelogCreatesThePartitionsAndADroppedPartitionsRowsAreGone()
      throws Exception {
    StreamTableEnvironment tEnv = tableEnv();
    tEnv.executeSql(ddl("events", "events", "dt, id", "PARTITIONED BY (dt)"));
    tEnv.executeSql("INSERT INTO events SELECT dt, id, v FROM changes").await(5, TimeUnit.MINUTES);

    TreeMap<String, String> model = expected();
    assertEquals(new ArrayList<>(model.values()), deltactl.scan("events"));
    deltactl.assertNoIdentityTwice("events");
    assertEquals(List.of("dt=2026-12-01", "dt=2026-12-02", "dt=2026-12-03"), partitions("events"));

    try (DeltaSidecarClient client = client()) {
      TableSchema schema = client.describeTable("events");
      assertEquals(List.of("dt"), schema.partitionKeys());
      assertEquals(List.of("dt", "id"), schema.primaryKey());
      assertEquals(2, schema.buckets());

      long before = schema.latestSnapshotId();
      long dropped = client.dropPartition("events", List.of("dt=2026-12-02"));
      assertTrue(dropped > before, "drop snapshot " + dropped + " after " + before);
    }
    model.keySet().removeIf(k -> k.startsWith(DAY2 + "/"));
    assertEquals(new ArrayList<>(model.values()), deltactl.scan("events"));
    assertTrue(deltactl.scan("events").stream().noneMatch(l -> l.contains(DAY2.toString())));
    assertEquals(List.of("dt=2026-12-01", "dt=2026-12-03"), partitions("events"));

    // The SQL source reads the table through the same PARTITIONED BY DDL.
    TableEnvironment batch = TableEnvironment.create(EnvironmentSettings.inBatchMode());
    batch.executeSql(ddl("events", "events", "dt, id", "PARTITIONED BY (dt)"));
    List<String> read = new ArrayList<>();
    try (CloseableIterator<Row> it =
        batch.executeSql("SELECT dt, id, v FROM events WHERE dt >= DATE '2026-12-01'").collect()) {
      it.forEachRemaining(
          r -> read.add(line((LocalDate) r.getField(0), (Long) r.getField(1), (String) r.getField(2))));
    }
    read.sort(null);
    List<String> want = new ArrayList<>(model.values());
    want.sort(null);
    assertEquals(want, read);
  }

  /**
   * {@code INSERT INTO t PARTITION (dt = '2026-12-04') SELECT id, v ...}: the SELECT has no dt,
   * and every row lands in the named partition (the planner hands the sink rows with dt filled
   * in); the partitions written before are untouched, and a row of the static partition whose key
   * was there already replaces it.
   *
   * <p>The static INSERTs read an insert-only stream keyed by id. Flink 2.3's planner refuses an
   * INSERT into a keyed sink whose query has no key the sink's primary key contains (it asks for
   * an ON CONFLICT clause): a VALUES list has none, and neither has the updating changelog once
   * the static partition replaced its dt by a constant.
   */
  @Test
  void anInsertIntoAStaticPartitionWritesItsRowsThere() throws Exception {
    StreamTableEnvironment tEnv = tableEnv();
    tEnv.executeSql(ddl("events", "static_events", "dt, id", "PARTITIONED BY (dt)"));
    tEnv.executeSql("INSERT INTO events SELECT dt, id, v FROM changes").await(5, TimeUnit.MINUTES);
    tEnv.createTemporaryView(
        "first_batch", keyedById(tEnv, Row.of(3L, "three"), Row.of(1L, "one"), Row.of(2L, "two")));
    tEnv.createTemporaryView("second_batch", keyedById(tEnv, Row.of(2L, "two again")));
    tEnv.executeSql("INSERT INTO events PARTITION (dt = '2026-12-04') SELECT id, v FROM first_batch")
        .await(5, TimeUnit.MINUTES);
    tEnv.executeSql("INSERT INTO events PARTITION (dt = '2026-12-04') SELECT * FROM second_batch")
        .await(5, TimeUnit.MINUTES);

    LocalDate day4 = LocalDate.parse("2026-12-04");
    List<String> want = new ArrayList<>(expected().values());
    want.add(line(day4, 1, "one"));
    want.add(line(day4, 2, "two again"));
    want.add(line(day4, 3, "three"));
    assertEquals(want, deltactl.scan("static_events"));
    assertEquals(
        List.of("dt=2026-12-01", "dt=2026-12-02", "dt=2026-12-03", "dt=2026-12-04"),
        partitions("static_events"));

    // A query without a key: Flink 2.3 plans it only with an ON CONFLICT clause, 1.20 as it is.
    String keyless =
        "INSERT INTO events PARTITION (dt = '2026-12-05') SELECT id, v FROM (VALUES"
            + " (CAST(9 AS BIGINT), 'nine')) AS t(id, v)";
    String version = EnvironmentInformation.getVersion();
    if (version.startsWith("1.")) {
      tEnv.explainSql(keyless);
    } else {
      Exception e = assertThrows(Exception.class, () -> tEnv.explainSql(keyless));
      assertTrue(causes(e).contains("ON CONFLICT"), version + ": " + causes(e));
      tEnv.explainSql(keyless + " ON CONFLICT DO DEDUPLICATE");
    }
  }

  /**
   * An existing table whose partition columns are not the DDL's PARTITIONED BY columns is refused
   * when the writers open, naming both lists; nothing is written.
   */
  @Test
  void partitionKeysThatDifferFromTheTablesAreRefused() throws Exception {
    try (DeltaSidecarClient client = client()) {
      client.createTable("flat", "dt DATE, id BIGINT, v STRING", "dt, id", 2, false);
      client.createTable(
          "by_day", "dt DATE, id BIGINT, v STRING", "id", 2, false, "dt", Map.of());
    }
    StreamTableEnvironment tEnv = tableEnv();
    tEnv.executeSql(ddl("flat_as_partitioned", "flat", "dt, id", "PARTITIONED BY (dt)"));
    Exception e =
        assertThrows(
            Exception.class,
            () ->
                tEnv.executeSql("INSERT INTO flat_as_partitioned SELECT dt, id, v FROM changes")
                    .await(5, TimeUnit.MINUTES));
    assertTrue(
        causes(e).contains(
            "the partition keys are [] on the sidecar but [dt] in the DDL's PARTITIONED BY"),
        causes(e));

    tEnv.executeSql(ddl("by_day_unpartitioned", "by_day", "dt, id", ""));
    e =
        assertThrows(
            Exception.class,
            () ->
                tEnv.executeSql("INSERT INTO by_day_unpartitioned SELECT dt, id, v FROM changes")
                    .await(5, TimeUnit.MINUTES));
    assertTrue(
        causes(e).contains(
            "the partition keys are [dt] on the sidecar but [] in the DDL's PARTITIONED BY"),
        causes(e));
    assertTrue(causes(e).contains("PARTITIONED BY (dt)"), causes(e));
    assertEquals(List.of(), deltactl.scan("flat"));
    assertEquals(List.of(), deltactl.scan("by_day"));
  }

  /**
   * {@code PRIMARY KEY (id) PARTITIONED BY (dt)} is refused when the INSERT is planned, asking for
   * {@code PRIMARY KEY (dt, id)}; so is a key that has the partition column but not first, and
   * a key of the partition column alone. No table is created.
   */
  @Test
  void aPrimaryKeyThatDoesNotLeadWithThePartitionColumnsIsRefused() throws Exception {
    StreamTableEnvironment tEnv = tableEnv();
    tEnv.executeSql(ddl("keyed_by_id", "keyed_by_id", "id", "PARTITIONED BY (dt)"));
    Exception e =
        assertThrows(
            Exception.class,
            () -> tEnv.explainSql("INSERT INTO keyed_by_id SELECT dt, id, v FROM changes"));
    assertTrue(causes(e).contains("declare PRIMARY KEY (dt, id) NOT ENFORCED"), causes(e));
    assertTrue(causes(e).contains("PARTITIONED BY (dt) with PRIMARY KEY (id)"), causes(e));

    tEnv.executeSql(ddl("keyed_id_dt", "keyed_id_dt", "id, dt", "PARTITIONED BY (dt)"));
    e =
        assertThrows(
            Exception.class,
            () -> tEnv.executeSql("INSERT INTO keyed_id_dt SELECT dt, id, v FROM changes"));
    assertTrue(causes(e).contains("declare PRIMARY KEY (dt, id) NOT ENFORCED"), causes(e));

    tEnv.executeSql(ddl("keyed_by_dt", "keyed_by_dt", "dt", "PARTITIONED BY (dt)"));
    e =
        assertThrows(
            Exception.class,
            () -> tEnv.explainSql("INSERT INTO keyed_by_dt SELECT dt, id, v FROM changes"));
    assertTrue(
        causes(e).contains("PRIMARY KEY (dt) has no column besides the PARTITIONED BY columns"),
        causes(e));
    assertEquals(List.of(), deltactl.run("list"));
  }
}
