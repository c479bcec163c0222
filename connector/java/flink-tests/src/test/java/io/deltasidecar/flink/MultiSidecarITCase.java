package io.deltasidecar.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.deltasidecar.client.DeltaSidecarClient;
import io.deltasidecar.client.RecordWriter;
import io.deltasidecar.client.Registration;
import io.deltasidecar.client.RetryableException;
import io.deltasidecar.client.WriterOptions;
import io.deltasidecar.flink.EventJob.Failure;
import io.deltasidecar.v1.Committable;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.flink.api.common.JobID;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.metrics.Gauge;
import org.apache.flink.metrics.Metric;
import org.apache.flink.metrics.MetricGroup;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Two real sidecar processes on one table root, the writers of a parallelism-4 sink spread over
 * them as two task managers with a sidecar each would spread them (the sink's {@code targets}:
 * subtasks 0 and 2 on the first, 1 and 3 on the second). The global committer sends each
 * checkpoint's committables of all four writers in one Commit to one sidecar, which publishes the
 * other's prepared checkpoints too: one APPEND snapshot per completed checkpoint, holding writers
 * of both sidecars, and the table exact ({@link TableModel}) with no identity committed twice;
 * also through a job failover, and through a SIGKILL of either sidecar (restarted on its data
 * dir while the job fails over).
 */
class MultiSidecarITCase extends SidecarITCaseBase {
  private static final int PARALLELISM = 4;

  /** The second sidecar, on the first one's table root. */
  private SidecarProcess second;

  @BeforeEach
  void startSecondSidecar() throws Exception {
    second = new SidecarProcess(dir.resolve("second"), sidecar.tableRoot).start();
  }

  @AfterEach
  void stopSecondSidecar() {
    if (second != null) {
      second.close();
    }
  }

  private DeltaSidecarSink<TableModel.Event> sink(String table) {
    return EventJob.sink(
        sidecar, table, table + "-job", b -> b.targets(List.of(sidecar.target, second.target)));
  }

  @Test
  void oneSnapshotPerCheckpointAcrossTwoSidecars() throws Exception {
    long n = 6000;
    EventJob.nanosPerRecord = 1_000_000;
    EventJob.hold(n / 4, () -> EventJob.completedCheckpointIds.size() >= 3);
    JobID job =
        EventJob.build(EventJob.config(PARALLELISM), n, sink("two"))
            .execute("two sidecars")
            .getJobID();
    assertTable("two", n, job);
    assertEquals(List.of("two-job/0", "two-job/2"), sorted(sidecar.registrationsSince(0, "two")));
    assertEquals(List.of("two-job/1", "two-job/3"), sorted(second.registrationsSince(0, "two")));
    // The committer (subtask 0) commits on its own sidecar, the first: every Commit there names
    // the second sidecar's writers too, and the second commits nothing.
    assertEquals(
        List.of("two-job/0", "two-job/1", "two-job/2", "two-job/3"),
        sorted(sidecar.commitsSince(0, "two")));
    assertEquals(List.of(), second.commitsSince(0, "two"));
  }

  /**
   * Per-subtask commits (opted into) with the writers on two sidecars: each committer commits on
   * its writer's sidecar, so both sidecars commit into the one table at once; the table is exact
   * and no identity is committed twice.
   */
  @Test
  void perSubtaskCommitsFromTwoSidecarsIntoOneTable() throws Exception {
    long n = 6000;
    EventJob.nanosPerRecord = 1_000_000;
    EventJob.hold(n / 4, () -> EventJob.completedCheckpointIds.size() >= 3);
    EventJob.build(
            EventJob.config(PARALLELISM),
            n,
            EventJob.sink(
                sidecar,
                "split",
                "split-job",
                b ->
                    b.targets(List.of(sidecar.target, second.target))
                        .commitTopology(CommitTopology.PER_SUBTASK)))
        .execute("two sidecars, per-subtask commits");
    assertSequenceTable("split", n);
    assertEquals(List.of("split-job/0", "split-job/2"), sorted(sidecar.commitsSince(0, "split")));
    assertEquals(List.of("split-job/1", "split-job/3"), sorted(second.commitsSince(0, "split")));
  }

  /** A map throws after 2 completed checkpoints; the job restarts from the last one. */
  @Test
  void oneSnapshotPerCheckpointThroughAFailover() throws Exception {
    long n = 12_000;
    EventJob.nanosPerRecord = 1_000_000;
    EventJob.failure = Failure.IN_MAP;
    EventJob.failAfterCheckpoints = 2 * PARALLELISM;
    EventJob.hold(n / 4, EventJob.failed::get);
    JobID job =
        EventJob.build(EventJob.config(PARALLELISM), n, sink("failover"))
            .execute("two sidecars, a failover")
            .getJobID();
    assertTrue(EventJob.failed.get(), "the injected failure did not happen");
    assertTrue(EventJob.maxAttempt.get() >= 1, "the job did not restart");
    assertTable("failover", n, job);
  }

  /**
   * Sidecar 0 (the committer's own, and two writers') or 1 (two writers') is SIGKILLed after two
   * completed checkpoints and restarted on its data dir once the job has failed over; the job
   * continues and the table ends exact, each checkpoint one snapshot.
   */
  @ParameterizedTest(name = "sidecar {0} killed")
  @ValueSource(ints = {0, 1})
  void oneSnapshotPerCheckpointThroughASidecarKill(int killed) throws Exception {
    SidecarProcess victim = killed == 0 ? sidecar : second;
    runThroughACrash(
        "kill" + killed,
        "two sidecars, one killed",
        victim,
        job -> {
          long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
          while (EventJob.completedCheckpointIds.size() < 2) {
            assertTrue(System.nanoTime() < deadline, "no 2 completed checkpoints in 120 s");
            assertTrue(
                !job.getJobStatus().get().isGloballyTerminalState(),
                "the job ended before 2 checkpoints");
            Thread.sleep(10);
          }
          victim.kill();
        });
  }

  /**
   * The second sidecar SIGKILLs itself after writing the table files of a sealed checkpoint and
   * before publishing its prepared checkpoint (kill point {@code prepare.after_files}, at its
   * 6th preparation, a checkpoint that may complete): the committer's Commit on the first
   * sidecar cannot publish that checkpoint until the second is back and has prepared it again.
   * The job fails over (its writers on the second fail), the second restarts on its data dir,
   * and the table ends exact, each checkpoint one snapshot.
   */
  @Test
  void oneSnapshotPerCheckpointThroughACrashBeforeAPreparedCheckpoint() throws Exception {
    second.close();
    second.armKillPoint("prepare.after_files:6").start();
    runThroughACrash(
        "unprepared",
        "two sidecars, one crashing while it prepares",
        second,
        job ->
            assertTrue(
                second.awaitExit(Duration.ofSeconds(120)),
                "the second sidecar did not reach its kill point"));
  }

  /** Brings a sidecar down while the job of {@link #runThroughACrash} runs. */
  @FunctionalInterface
  private interface Crash {
    void bringDown(JobClient job) throws Exception;
  }

  /**
   * Runs a job of 12,000 events into {@code table} at parallelism 4 over the two sidecars;
   * {@code crash} brings {@code victim} down, which restarts on its data dir once the job has
   * failed over. The job then finishes and the table ends exact, each checkpoint one snapshot.
   */
  private void runThroughACrash(String table, String jobName, SidecarProcess victim, Crash crash)
      throws Exception {
    long n = 12_000;
    EventJob.nanosPerRecord = 1_000_000;
    AtomicBoolean restarted = new AtomicBoolean();
    EventJob.hold(n / 4, restarted::get);
    JobClient job =
        EventJob.build(EventJob.config(PARALLELISM), n, sink(table)).executeAsync(jobName);
    crash.bringDown(job);
    // Down until the job has failed over (bounded, not timed: how long the writers take to
    // notice depends on the machine's load).
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
    while (EventJob.maxAttempt.get() < 1 && System.nanoTime() < deadline) {
      Thread.sleep(20);
    }
    assertTrue(EventJob.maxAttempt.get() >= 1, "the job did not fail over with a sidecar down");
    victim.start();
    restarted.set(true);
    job.getJobExecutionResult().get();
    assertTable(table, n, job.getJobID());
  }

  /**
   * The committer alone, without Flink: a checkpoint sealed on a third sidecar, which dies after
   * writing its table files and before publishing the prepared checkpoint (kill point {@code
   * prepare.after_files}). The committer's Commit on the first sidecar waits for the prepared
   * checkpoint ({@code --prepared-wait 2s}) and answers UNAVAILABLE; the committer tries the third
   * (down), backs off, and tries again, until the third, restarted on its data dir a few seconds
   * later, has prepared the checkpoint again; then one Commit on the first publishes it: one
   * snapshot, the rows exact.
   */
  @Test
  void theCommitterRetriesUntilAnotherSidecarsCheckpointIsPrepared() throws Exception {
    sidecar.close();
    sidecar.withFlags("--prepared-wait", "2s").start();
    String table = "waits";
    long n = 200;
    try (DeltaSidecarClient client = DeltaSidecarClient.connect(sidecar.target)) {
      client.createTable(table, TableModel.SCHEMA, TableModel.KEY, 4, true);
    }
    // The preparation starts as the seal answers, so the sidecar may die before its answer gets
    // out; then that seal is left behind unprepared (never committed) and a fresh sidecar and
    // writer id try again.
    SidecarProcess dying = null;
    Committable sealed = null;
    try {
      for (int attempt = 1; sealed == null; attempt++) {
        assertTrue(attempt <= 3, "the sidecar died before answering the seal 3 times");
        dying =
            new SidecarProcess(dir.resolve("dying-" + attempt), sidecar.tableRoot)
                .armKillPoint("prepare.after_files")
                .start();
        sealed = sealOrNull(dying, table, table + "-job/" + attempt, n);
        assertTrue(dying.awaitExit(Duration.ofSeconds(60)), "the sidecar did not die preparing");
      }
      long logMark = sidecar.logMark();
      SidecarProcess restarted = dying;
      Thread restarter =
          new Thread(
              () -> {
                try {
                  Thread.sleep(5000);
                  restarted.start();
                } catch (Exception e) {
                  throw new IllegalStateException(e);
                }
              });
      restarter.start();
      RecordedRequest request =
          new RecordedRequest(
              new AggregatedCommittable(
                  List.of(new StagedCommittable(SidecarLocation.of(dying.target), sealed))));
      DeltaSidecarCommitter committer =
          new DeltaSidecarCommitter(
              EventJob.sink(
                  sidecar,
                  table,
                  table + "-job",
                  b -> b.targets(List.of(sidecar.target, restarted.target))),
              0);
      try {
        committer.commit(List.of(request));
      } finally {
        committer.close();
        restarter.join();
      }
      assertTrue(dying.isRunning(), "the sidecar did not restart");
      assertEquals(TableModel.ofSequence(n).scanLines(), deltactl.scan(table));
      assertEquals(1, deltactl.appendSnapshots(table).size(), deltactl.history(table).toString());
      String log = sidecar.logText().substring((int) logMark);
      assertTrue(
          log.contains("\"event\":\"commit_failed\"")
              && log.contains("\"code\":\"UNAVAILABLE\""),
          "the first sidecar never answered UNAVAILABLE while the checkpoint was not prepared:\n"
              + log);
      assertEquals(List.of(sealed.getWriterId()), sidecar.commitsSince(logMark, table));
    } finally {
      if (dying != null) {
        dying.close();
      }
    }
  }

  /**
   * Writes the rows of sequence 1..n as writer {@code writerId} on {@code on} and seals them as
   * checkpoint 1; null when the sidecar died before it answered the seal.
   */
  private static Committable sealOrNull(SidecarProcess on, String table, String writerId, long n) {
    try (DeltaSidecarClient client = DeltaSidecarClient.connect(on.target)) {
      Registration reg = client.register(table, writerId, OptionalLong.empty());
      RecordWriter writer = client.openWriter(reg, WriterOptions.defaults());
      for (long i = 1; i <= n; i++) {
        for (TableModel.Event e : TableModel.eventsOf(i)) {
          if (e.delete()) {
            writer.delete(e.id());
          } else {
            writer.upsert(e.id(), e.name(), e.qty());
          }
        }
      }
      Committable sealed;
      try {
        sealed = writer.prepareCommit(1);
      } catch (RetryableException diedFirst) {
        return null;
      }
      try {
        writer.close();
      } catch (RuntimeException expected) {
        // The sidecar is gone, or going.
      }
      return sealed;
    }
  }

  /** A commit request that records what the committer signals. */
  private static final class RecordedRequest
      implements org.apache.flink.api.connector.sink2.Committer.CommitRequest<
          AggregatedCommittable> {
    private final AggregatedCommittable committable;
    boolean alreadyCommitted;

    RecordedRequest(AggregatedCommittable committable) {
      this.committable = committable;
    }

    @Override
    public AggregatedCommittable getCommittable() {
      return committable;
    }

    @Override
    public int getNumberOfRetries() {
      return 0;
    }

    @Override
    public void signalFailedWithKnownReason(Throwable t) {
      throw new AssertionError("signalFailedWithKnownReason", t);
    }

    @Override
    public void signalFailedWithUnknownReason(Throwable t) {
      throw new AssertionError("signalFailedWithUnknownReason", t);
    }

    @Override
    public void retryLater() {
      throw new AssertionError("retryLater");
    }

    @Override
    public void updateAndRetryLater(AggregatedCommittable committable) {
      throw new AssertionError("updateAndRetryLater");
    }

    @Override
    public void signalAlreadyCommitted() {
      alreadyCommitted = true;
    }
  }

  /**
   * The table is exact with no identity twice, each seal id is in one APPEND snapshot, some
   * snapshot holds all 4 writers (of both sidecars), and there are no more snapshots than
   * checkpoints Flink completed.
   */
  private void assertTable(String table, long n, JobID job) throws Exception {
    assertSequenceTable(table, n);
    OneSnapshotPerCheckpointITCase.assertOneSnapshotPerCheckpoint(
        deltactl, table, PARALLELISM, checkpointsTaken(job));
  }

  /** The distinct strings of {@code list}, sorted. */
  private static List<String> sorted(List<String> list) {
    return new ArrayList<>(new TreeSet<>(list));
  }

  /**
   * Flink's count of the job's checkpoints, completed or failed (all attempts, the final one
   * included). A failed checkpoint counts too: the writers sealed for it before it failed, and
   * Flink's committer commits the committables of each pending checkpoint id on its own once a
   * later one completes, so a checkpoint that fails around a failover can be a snapshot of its
   * own. Its seals are still in that one snapshot only, which {@code sealsInSeveralSnapshots}
   * checks.
   */
  private static int checkpointsTaken(JobID job) {
    long completed = jobGauge(job, "numberOfCompletedCheckpoints");
    long failed = jobGauge(job, "numberOfFailedCheckpoints");
    return (int) (completed + failed);
  }

  /** The largest value of the job-level gauge {@code name} the reporter saw for {@code job}. */
  private static long jobGauge(JobID job, String name) {
    long value = -1;
    for (Map.Entry<MetricGroup, Map<String, Metric>> group :
        REPORTER.getMetricsByGroup().entrySet()) {
      if (!job.toString().equals(group.getKey().getAllVariables().get("<job_id>"))) {
        continue;
      }
      Metric m = group.getValue().get(name);
      if (m instanceof Gauge<?> g && g.getValue() instanceof Number v) {
        value = Math.max(value, v.longValue());
      }
    }
    assertTrue(value >= 0, "Flink reported no " + name + " for job " + job);
    return value;
  }
}
