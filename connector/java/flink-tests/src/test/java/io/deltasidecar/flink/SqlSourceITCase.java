package io.deltasidecar.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.time.Duration;
import java.util.List;
import org.apache.flink.table.api.EnvironmentSettings;
import org.apache.flink.table.api.TableEnvironment;
import org.apache.flink.table.api.TableResult;
import org.apache.flink.types.Row;
import org.apache.flink.util.CloseableIterator;
import org.junit.jupiter.api.Test;

/**
 * A streaming SQL SELECT ('scan.mode' = 'latest', with a projection) reads the table's snapshot and
 * then its changes as an upsert changelog: applying the rows it returns gives the table as {@code
 * deltactl scan} prints it after the last commit.
 */
class SqlSourceITCase extends SidecarITCaseBase {
  @Test
  void streamingSelectFollowsCommitsAsAnUpsertChangelog() throws Exception {
    try (TableWriterClient writer = new TableWriterClient(sidecar.target, "live", 3)) {
      writer.commitRound(1, 1, 300, 0);
      TableEnvironment t = TableEnvironment.create(EnvironmentSettings.inStreamingMode());
      t.getConfig().set("parallelism.default", "2");
      t.executeSql(
          "CREATE TABLE live (id BIGINT, name STRING, qty INT, PRIMARY KEY (id) NOT ENFORCED)"
              + " WITH ('connector' = 'delta-sidecar', 'target' = '" + sidecar.target
              + "', 'table' = 'live', 'scan.mode' = 'latest', 'scan.poll-interval' = '20 ms',"
              + " 'consumer-id' = 'sql-test')");
      TableResult result = t.executeSql("SELECT name, id FROM live");
      ChangeLines.View view = new ChangeLines.View();
      try (CloseableIterator<Row> it = result.collect()) {
        for (int round = 2; round <= 6; round++) {
          writer.commitRound(round, round * 40, round * 40 + 200, 3);
        }
        List<String> expected = deltactl.scan("live").stream()
            .map(line -> line.substring(0, line.indexOf(",\"qty\"")) + "}")
            .toList();
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (!view.lines().equals(expected) && System.nanoTime() < deadline) {
          Row r = it.next();
          String name = (String) r.getField(0);
          long id = (Long) r.getField(1);
          String kind = switch (r.getKind()) {
            case INSERT, UPDATE_AFTER -> "+U";
            case UPDATE_BEFORE, DELETE -> "-D";
          };
          // -U is followed by the +U of the same key, so dropping the row in between is fine.
          view.apply(kind + "|0|{\"id\":" + id + ",\"name\":\"" + name + "\"}");
        }
        assertEquals(expected, view.lines());
      }
    }
  }
}
