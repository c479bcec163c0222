package io.deltasidecar.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.deltasidecar.flink.source.DeltaSidecarSource;
import io.deltasidecar.flink.source.ScanMode;
import java.util.ArrayList;
import java.util.List;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.table.api.EnvironmentSettings;
import org.apache.flink.table.api.TableEnvironment;
import org.apache.flink.table.api.ValidationException;
import org.apache.flink.types.Row;
import org.apache.flink.util.CloseableIterator;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Bounded reads of a snapshot, split by bucket over several readers: through the DataStream
 * source and SQL (with a projection the planner pushes into the source) each equals what {@code
 * deltactl scan} prints for that snapshot.
 */
class BoundedSourceITCase extends SidecarITCaseBase {
  private static final String TABLE = "items";
  private long first;
  private long last;

  @BeforeEach
  void fill() throws Exception {
    try (TableWriterClient w = new TableWriterClient(sidecar.target, TABLE, 5)) {
      first = w.commitRound(1, 1, 2000, 0);
      w.commitRound(2, 500, 2500, 3);
      last = w.commitRound(3, 1, 3000, 11);
    }
  }

  private List<String> readDataStream(ScanMode mode, Long snapshot) throws Exception {
    StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
    env.setParallelism(3);
    DeltaSidecarSource.Builder<String> b =
        DeltaSidecarSource.<String>builder()
            .target(sidecar.target)
            .table(TABLE)
            .mode(mode)
            .converter(new ChangeLines(), Types.STRING);
    if (snapshot != null) {
      b.snapshotId(snapshot);
    }
    List<String> out = new ArrayList<>();
    try (CloseableIterator<String> it =
        env.fromSource(b.build(), WatermarkStrategy.noWatermarks(), "items").executeAndCollect()) {
      it.forEachRemaining(out::add);
    }
    return out;
  }

  /** The scan lines of the records, in key order, checking each is an INSERT of {@code snap}. */
  private static List<String> insertsOf(List<String> records, long snap) {
    ChangeLines.View view = new ChangeLines.View();
    for (String r : records) {
      assertEquals("+I", ChangeLines.kind(r), r);
      assertEquals(snap, ChangeLines.snapshot(r), r);
      view.apply(r);
    }
    assertEquals(records.size(), view.rows.size(), "a key was emitted twice");
    return view.lines();
  }

  @Test
  void dataStreamReadOfTheLatestSnapshotEqualsDeltactlScan() throws Exception {
    List<String> expected = deltactl.scan(TABLE);
    assertTrue(expected.size() > 2000, "the table has rows: " + expected.size());
    assertEquals(expected, insertsOf(readDataStream(ScanMode.SNAPSHOT, null), last));
  }

  @Test
  void dataStreamReadOfAnOlderSnapshotEqualsDeltactlScanOfIt() throws Exception {
    List<String> expected = deltactl.run("scan", TABLE, "--snapshot", Long.toString(first));
    assertEquals(1999, expected.size());
    assertEquals(expected, insertsOf(readDataStream(ScanMode.SNAPSHOT, first), first));
  }

  private TableEnvironment batchSql() {
    TableEnvironment t = TableEnvironment.create(EnvironmentSettings.inBatchMode());
    t.getConfig().set("parallelism.default", "3");
    t.executeSql(
        "CREATE TABLE items (id BIGINT, name STRING, qty INT, PRIMARY KEY (id) NOT ENFORCED)"
            + " WITH ('connector' = 'delta-sidecar', 'target' = '" + sidecar.target
            + "', 'table' = '" + TABLE + "')");
    return t;
  }

  private static List<Row> collect(TableEnvironment t, String query) throws Exception {
    List<Row> rows = new ArrayList<>();
    try (CloseableIterator<Row> it = t.executeSql(query).collect()) {
      it.forEachRemaining(rows::add);
    }
    return rows;
  }

  @Test
  void sqlSelectEqualsDeltactlScan() throws Exception {
    List<String> got = new ArrayList<>();
    for (Row r : collect(batchSql(), "SELECT * FROM items ORDER BY id")) {
      got.add(TableModel.line((Long) r.getField(0), (String) r.getField(1), (Integer) r.getField(2)));
    }
    assertEquals(deltactl.scan(TABLE), got);
  }

  @Test
  void sqlProjectionIsPushedIntoTheSource() throws Exception {
    TableEnvironment t = batchSql();
    String query = "SELECT qty, id FROM items WHERE qty > 50";
    String plan = t.explainSql(query);
    // The source reads only id and qty (in table order); Calc reorders them.
    assertTrue(plan.contains("project=[id, qty]"), plan);
    ChangeLines.View expected = new ChangeLines.View();
    for (String line : deltactl.scan(TABLE)) {
      long id = Long.parseLong(line.substring(6, line.indexOf(',')));
      int qty = Integer.parseInt(line.substring(line.lastIndexOf(':') + 1, line.length() - 1));
      if (qty > 50) {
        expected.rows.put(id, qty + "," + id);
      }
    }
    List<String> got = new ArrayList<>();
    for (Row r : collect(t, query + " ORDER BY id")) {
      assertEquals(2, r.getArity());
      got.add(r.getField(0) + "," + r.getField(1));
    }
    assertEquals(expected.lines(), got);
  }

  @Test
  void invalidScanOptionsAreRefusedWithTheirReason() {
    TableEnvironment t = TableEnvironment.create(EnvironmentSettings.inStreamingMode());
    String ddl =
        "CREATE TABLE bad (id BIGINT, name STRING, qty INT, PRIMARY KEY (id) NOT ENFORCED)"
            + " WITH ('connector' = 'delta-sidecar', 'target' = '" + sidecar.target
            + "', 'table' = '" + TABLE + "', %s)";
    t.executeSql(String.format(ddl, "'scan.mode' = 'from-snapshot'"));
    ValidationException e =
        assertThrows(ValidationException.class, () -> t.explainSql("SELECT * FROM bad"));
    assertTrue(causes(e).contains("needs 'scan.snapshot-id'"), causes(e));
    t.executeSql("DROP TABLE bad");
    t.executeSql(String.format(ddl, "'scan.mode' = 'everything'"));
    e = assertThrows(ValidationException.class, () -> t.explainSql("SELECT * FROM bad"));
    assertTrue(causes(e).contains("unknown scan mode 'everything'"), causes(e));
    t.executeSql("DROP TABLE bad");
    t.executeSql(String.format(ddl, "'scan.mode' = 'snapshot', 'consumer-id' = 'c1'"));
    e = assertThrows(ValidationException.class, () -> t.explainSql("SELECT * FROM bad"));
    assertTrue(causes(e).contains("scan mode snapshot does not follow"), causes(e));
  }
}
