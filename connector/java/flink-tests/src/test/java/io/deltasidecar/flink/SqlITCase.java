package io.deltasidecar.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.deltasidecar.flink.Deltactl.Identity;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.table.api.DataTypes;
import org.apache.flink.table.api.Schema;
import org.apache.flink.table.api.StatementSet;
import org.apache.flink.table.api.bridge.java.StreamTableEnvironment;
import org.apache.flink.table.connector.ChangelogMode;
import org.apache.flink.types.Row;
import org.apache.flink.types.RowKind;
import org.junit.jupiter.api.Test;

/**
 * The SQL connector through Flink's real planner: {@code CREATE TABLE ... WITH ('connector' =
 * 'delta-sidecar')} and bounded INSERTs from a changelog stream (+I, -U, +U, -D) that finish and
 * commit with their final checkpoint. Uses only Flink's API and SQL, so CTest also runs it with
 * the shaded connector jar as the only jar of ours on the class path.
 */
class SqlITCase extends SidecarITCaseBase {
  private static final int KEYS = 300;

  /** +I of every key; -U/+U of every third; -D of every fifth, in that order. */
  private static List<Row> changelog() {
    List<Row> rows = new ArrayList<>();
    for (long k = 1; k <= KEYS; k++) {
      rows.add(Row.ofKind(RowKind.INSERT, k, "n" + k, (int) k));
    }
    for (long k = 3; k <= KEYS; k += 3) {
      rows.add(Row.ofKind(RowKind.UPDATE_BEFORE, k, "n" + k, (int) k));
      rows.add(Row.ofKind(RowKind.UPDATE_AFTER, k, "u" + k, (int) k * 10));
    }
    for (long k = 5; k <= KEYS; k += 5) {
      rows.add(Row.ofKind(RowKind.DELETE, k, k % 3 == 0 ? "u" + k : "n" + k, (int) k));
    }
    return rows;
  }

  /** The scan lines the changelog must leave, computed without Flink. */
  private static List<String> expected() {
    TreeMap<Long, String> table = new TreeMap<>();
    for (Row r : changelog()) {
      long id = (Long) r.getField(0);
      switch (r.getKind()) {
        case INSERT, UPDATE_AFTER -> table.put(id, TableModel.line(id, (String) r.getField(1), (Integer) r.getField(2)));
        case DELETE -> table.remove(id);
        case UPDATE_BEFORE -> {}
      }
    }
    return new ArrayList<>(table.values());
  }

  private StreamTableEnvironment tableEnv() {
    return tableEnv(true);
  }

  private StreamTableEnvironment tableEnv(boolean checkpointing) {
    Configuration conf = new Configuration();
    // The changelog source and the query run at parallelism 1, the sink at 2 ('sink.parallelism'):
    // the planner then hashes the rows by the primary key into the sink, keeping each key's
    // changes in order. (At equal parallelism, a query step after the single-subtask source would
    // take them round-robin and could reorder a key's -U/+U/-D.)
    EventJob.set(conf, "parallelism.default", "1");
    if (checkpointing) {
      EventJob.set(conf, "execution.checkpointing.interval", "100 ms");
    }
    StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
    StreamTableEnvironment tEnv = StreamTableEnvironment.create(env);
    TypeInformation<Row> type =
        Types.ROW_NAMED(new String[] {"id", "name", "qty"}, Types.LONG, Types.STRING, Types.INT);
    DataStream<Row> changes = env.fromData(changelog(), type);
    tEnv.createTemporaryView(
        "changes",
        tEnv.fromChangelogStream(
            changes,
            Schema.newBuilder()
                .column("id", DataTypes.BIGINT().notNull())
                .column("name", DataTypes.STRING())
                .column("qty", DataTypes.INT())
                .primaryKey("id")
                .build(),
            ChangelogMode.all()));
    return tEnv;
  }

  private String ddl(String name, String table, String... options) {
    return ddlOn(sidecar.target, name, table, options);
  }

  private static String ddlOn(String target, String name, String table, String... options) {
    StringBuilder with = new StringBuilder();
    with.append("'connector' = 'delta-sidecar', 'target' = '").append(target)
        .append("', 'table' = '").append(table).append("', 'sink.parallelism' = '2'");
    for (String o : options) {
      with.append(", ").append(o);
    }
    return "CREATE TABLE " + name + " (id BIGINT, name STRING, qty INT, PRIMARY KEY (id) NOT ENFORCED)"
        + " WITH (" + with + ")";
  }

  @Test
  void boundedChangelogInsertCommitsWithItsFinalCheckpoint() throws Exception {
    StreamTableEnvironment tEnv = tableEnv();
    tEnv.executeSql(
        ddl("orders", "orders", "'sink.linger' = '500 millis'", "'sink.call-timeout' = '1 min'",
            "'write.bucket.num' = '4'"));
    tEnv.executeSql("INSERT INTO orders SELECT id, name, qty FROM changes").await(5, TimeUnit.MINUTES);
    assertEquals(expected(), deltactl.scan("orders"));
    List<Identity> ids = deltactl.assertNoIdentityTwice("orders");
    Set<String> writers = new TreeSet<>();
    ids.forEach(id -> writers.add(id.writer()));
    assertTrue(writers.stream().allMatch(w -> w.startsWith("flink-sql/orders/")), writers.toString());
  }

  /**
   * Two INSERTs into one DDL table in one statement set get writer ids of their own: one prefix
   * per sink operator the planner makes (Flink 1.20 makes two; Flink 2 may merge INSERTs into one
   * table into one sink, which then has one prefix). Either way nothing is fenced.
   */
  @Test
  void twoInsertsIntoOneTableDoNotFenceEachOther() throws Exception {
    StreamTableEnvironment tEnv = tableEnv();
    tEnv.executeSql(ddl("orders", "both"));
    StatementSet set = tEnv.createStatementSet();
    set.addInsertSql("INSERT INTO orders SELECT id, name, qty FROM changes WHERE id <= 150");
    set.addInsertSql("INSERT INTO orders SELECT id, name, qty FROM changes WHERE id > 150");
    String plan = set.explain();
    String optimized = plan.substring(plan.lastIndexOf("== Optimized Execution Plan =="));
    int sinks = optimized.split("Sink\\(table=\\[default_catalog\\.default_database\\.orders\\]", -1).length - 1;
    set.execute().await(5, TimeUnit.MINUTES);
    assertEquals(expected(), deltactl.scan("both"));
    Set<String> prefixes = new TreeSet<>();
    for (Identity id : deltactl.assertNoIdentityTwice("both")) {
      prefixes.add(id.writer().substring(0, id.writer().lastIndexOf('/')));
    }
    assertTrue(sinks >= 1, plan);
    assertEquals(sinks, prefixes.size(), "one writer-id prefix per sink, got " + prefixes + " for:\n" + optimized);
  }

  /**
   * Two sidecars on one table root in 'target', separated by ';': subtask i writes to the (i mod
   * 2)-th, and one Commit on the first publishes what both staged.
   */
  @Test
  void twoTargetsSpreadTheWritersOverTwoSidecars() throws Exception {
    try (SidecarProcess second =
        new SidecarProcess(dir.resolve("second"), sidecar.tableRoot).start()) {
      StreamTableEnvironment tEnv = tableEnv();
      tEnv.executeSql(
          ddlOn(sidecar.target + ";" + second.target, "orders", "spread",
              "'sink.writer-id-prefix' = 'spread'"));
      tEnv.executeSql("INSERT INTO orders SELECT id, name, qty FROM changes")
          .await(5, TimeUnit.MINUTES);
      assertEquals(expected(), deltactl.scan("spread"));
      deltactl.assertNoIdentityTwice("spread");
      assertEquals(List.of("spread/0"), sidecar.registrationsSince(0, "spread"));
      assertEquals(List.of("spread/1"), second.registrationsSince(0, "spread"));
      assertEquals(List.of(), second.commitsSince(0, "spread"));
    }
  }

  /** Options go through Flink's validation: its duration spellings, and errors at planning. */
  @Test
  void optionsAreValidatedWhenTheStatementIsPlanned() {
    StreamTableEnvironment tEnv = tableEnv();
    tEnv.executeSql(ddl("good", "good", "'sink.linger' = '2 s'", "'sink.call-timeout' = '1 min'",
        "'sink.commit.topology' = 'per-subtask'"));
    tEnv.explainSql("INSERT INTO good SELECT id, name, qty FROM changes");

    tEnv.executeSql(ddl("badtopology", "bad", "'sink.commit.topology' = 'sometimes'"));
    Exception topology =
        assertThrows(
            Exception.class,
            () -> tEnv.explainSql("INSERT INTO badtopology SELECT id, name, qty FROM changes"));
    assertTrue(allMessages(topology).contains("sink.commit.topology"), allMessages(topology));

    tEnv.executeSql(ddl("badlinger", "bad", "'sink.linger' = 'soon'"));
    Exception e =
        assertThrows(
            Exception.class,
            () -> tEnv.explainSql("INSERT INTO badlinger SELECT id, name, qty FROM changes"));
    assertTrue(allMessages(e).contains("sink.linger"), allMessages(e));

    tEnv.executeSql(ddl("unknownoption", "bad", "'sink.no-such-option' = '1'"));
    e =
        assertThrows(
            Exception.class,
            () -> tEnv.explainSql("INSERT INTO unknownoption SELECT id, name, qty FROM changes"));
    assertTrue(allMessages(e).contains("sink.no-such-option"), allMessages(e));
  }

  /** A streaming INSERT without checkpointing is refused when it is submitted, saying why. */
  @Test
  void streamingInsertWithoutCheckpointingIsRefused() {
    StreamTableEnvironment tEnv = tableEnv(false);
    tEnv.executeSql(ddl("orders", "nocp"));
    Exception e =
        assertThrows(
            Exception.class,
            () -> tEnv.executeSql("INSERT INTO orders SELECT id, name, qty FROM changes").await(5, TimeUnit.MINUTES));
    assertTrue(allMessages(e).contains("needs checkpointing"), allMessages(e));
  }

  private static String allMessages(Throwable t) {
    return causes(t);
  }
}
