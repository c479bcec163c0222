package io.deltasidecar.flink;

import java.nio.file.Path;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.runtime.testutils.InMemoryReporter;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * What every integration test class shares: a Flink MiniCluster (one task manager with 4 slots,
 * metrics kept in {@link #REPORTER}), and per test a fresh real delta-sidecar process on its own
 * directories ({@link #sidecar}) with {@code deltactl} on its table root ({@link #deltactl}), and
 * the {@link EventJob} hooks reset. Uses only Flink's API and the test helpers, so that the SQL
 * test also runs with the shaded connector jar alone.
 */
abstract class SidecarITCaseBase {
  static final InMemoryReporter REPORTER = InMemoryReporter.createWithRetainedMetrics();

  @RegisterExtension
  static final MiniClusterExtension FLINK =
      new MiniClusterExtension(
          new MiniClusterResourceConfiguration.Builder()
              .setNumberTaskManagers(1)
              .setNumberSlotsPerTaskManager(4)
              .setConfiguration(REPORTER.addToConfiguration(new Configuration()))
              .build());

  @TempDir Path dir;
  SidecarProcess sidecar;
  Deltactl deltactl;

  @BeforeEach
  void startSidecar() throws Exception {
    EventJob.reset();
    sidecar = new SidecarProcess(dir).start();
    deltactl = new Deltactl(sidecar);
  }

  @AfterEach
  void stopSidecar() {
    sidecar.close();
  }

  /** The table holds exactly what {@link TableModel#ofSequence} says, each identity once. */
  void assertSequenceTable(String table, long n) throws Exception {
    org.junit.jupiter.api.Assertions.assertEquals(
        TableModel.ofSequence(n).scanLines(), deltactl.scan(table));
    deltactl.assertNoIdentityTwice(table);
  }

  /** Every message of {@code t} and its causes, one a line. */
  static String causes(Throwable t) {
    StringBuilder sb = new StringBuilder();
    for (; t != null; t = t.getCause()) {
      sb.append(t).append('\n');
    }
    return sb.toString();
  }
}
