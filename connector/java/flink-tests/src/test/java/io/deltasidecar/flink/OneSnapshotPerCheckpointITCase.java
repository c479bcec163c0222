package io.deltasidecar.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.deltasidecar.flink.Deltactl.Identity;
import io.deltasidecar.flink.EventJob.Failure;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

/**
 * The sink at parallelism 4 commits each completed checkpoint as ONE table snapshot (the global
 * committer, the default), also through a failover; the per-subtask committer makes one snapshot
 * per writer. Read from the table's history ({@code deltactl history}): each APPEND snapshot
 * records the (writer identity, seal id) it committed, and the writers of one checkpoint seal
 * with the same id. {@link MultiSidecarITCase} does the same with the writers on two sidecars.
 */
class OneSnapshotPerCheckpointITCase extends SidecarITCaseBase {
  private static final int PARALLELISM = 4;

  @Test
  void everyCheckpointIsOneSnapshot() throws Exception {
    long n = 6000;
    EventJob.nanosPerRecord = 1_000_000;
    // Three checkpoints complete before the input ends, however slowly the job starts.
    EventJob.hold(n / 4, () -> EventJob.completedCheckpointIds.size() >= 3);
    EventJob.build(
            EventJob.config(PARALLELISM),
            n,
            EventJob.sink(sidecar, "one", "one-job", b -> b.commitTopology(CommitTopology.GLOBAL)))
        .execute("one snapshot per checkpoint");
    assertSequenceTable("one", n);
    assertOneSnapshotPerCheckpoint("one");
  }

  /** A map throws after 2 completed checkpoints; the job restarts from the last one. */
  @Test
  void everyCheckpointIsOneSnapshotThroughAFailover() throws Exception {
    long n = 12_000;
    EventJob.nanosPerRecord = 1_000_000;
    EventJob.failure = Failure.IN_MAP;
    EventJob.failAfterCheckpoints = 2 * PARALLELISM;
    // The failure comes before the input ends, however slowly the job gets to two checkpoints.
    EventJob.hold(n / 4, EventJob.failed::get);
    EventJob.build(
            EventJob.config(PARALLELISM),
            n,
            EventJob.sink(
                sidecar,
                "failover",
                "failover-job",
                b -> b.commitTopology(CommitTopology.GLOBAL)))
        .execute("one snapshot per checkpoint, with a failover");
    assertTrue(EventJob.failed.get(), "the injected failure did not happen");
    assertTrue(EventJob.maxAttempt.get() >= 1, "the job did not restart");
    assertSequenceTable("failover", n);
    assertOneSnapshotPerCheckpoint("failover");
  }

  /** Per-subtask commits (opted into): each writer's seal of a checkpoint is a snapshot of its own. */
  @Test
  void perSubtaskCommitsMakeASnapshotPerWriter() throws Exception {
    long n = 3000;
    EventJob.nanosPerRecord = 1_000_000;
    EventJob.build(
            EventJob.config(PARALLELISM),
            n,
            EventJob.sink(
                sidecar, "split", "split-job", b -> b.commitTopology(CommitTopology.PER_SUBTASK)))
        .execute("per-subtask commits");
    assertSequenceTable("split", n);
    List<List<Identity>> snapshots = deltactl.appendSnapshots("split");
    assertTrue(
        snapshots.stream().allMatch(ids -> writers(ids).size() == 1),
        "a per-subtask commit holds one writer's seals: " + snapshots);
    assertTrue(
        sealsInSeveralSnapshots(snapshots).size() > 0,
        "no checkpoint was split over several snapshots: " + snapshots);
  }

  /**
   * ... and there are no more snapshots than completed checkpoints: those the tasks were told of,
   * and the final one after they finished.
   */
  private void assertOneSnapshotPerCheckpoint(String table) throws Exception {
    assertOneSnapshotPerCheckpoint(
        deltactl, table, PARALLELISM, EventJob.completedCheckpointIds.size() + 1);
  }

  /**
   * Each seal id (the checkpoint the writers sealed for) is in exactly one APPEND snapshot, at
   * least one snapshot holds all writers, and there are at most {@code checkpoints} snapshots.
   */
  static void assertOneSnapshotPerCheckpoint(
      Deltactl deltactl, String table, int writers, int checkpoints) throws Exception {
    List<List<Identity>> snapshots = deltactl.appendSnapshots(table);
    String history = String.join("\n", deltactl.history(table));
    assertEquals(Map.of(), sealsInSeveralSnapshots(snapshots), "checkpoints split:\n" + history);
    assertTrue(snapshots.size() >= 3, "too few commits to tell:\n" + history);
    assertTrue(
        snapshots.stream().anyMatch(ids -> writers(ids).size() == writers),
        "no snapshot holds the seals of all " + writers + " writers:\n" + history);
    assertTrue(
        snapshots.size() <= checkpoints,
        snapshots.size() + " APPEND snapshots for " + checkpoints + " checkpoints:\n"
            + history);
  }

  /** Seal ids whose identities are in more than one snapshot, with those snapshots' indexes. */
  static Map<Long, Set<Integer>> sealsInSeveralSnapshots(List<List<Identity>> snapshots) {
    Map<Long, Set<Integer>> where = new TreeMap<>();
    for (int i = 0; i < snapshots.size(); i++) {
      for (Identity id : snapshots.get(i)) {
        where.computeIfAbsent(id.checkpoint(), c -> new TreeSet<>()).add(i);
      }
    }
    Map<Long, Set<Integer>> split = new HashMap<>();
    where.forEach((seal, in) -> {
      if (in.size() > 1) {
        split.put(seal, in);
      }
    });
    return split;
  }

  static Set<String> writers(List<Identity> ids) {
    Set<String> writers = new TreeSet<>();
    ids.forEach(id -> writers.add(id.writer()));
    return writers;
  }

  /**
   * Global commits are the default; with several targets, subtask i writes to the (i mod n)-th,
   * and the committer tries its own sidecar first, then the reachable ones the committables were
   * staged on, then the sink's other targets.
   */
  @Test
  void globalByDefaultAndSubtasksSpreadOverTheTargets() {
    DeltaSidecarSink<TableModel.Event> one = EventJob.sink(sidecar, "t", "t-job", b -> b);
    assertEquals(CommitTopology.GLOBAL, one.commitTopology());
    assertEquals(List.of(sidecar.target), one.targets());
    assertEquals(sidecar.target, one.target(3));

    DeltaSidecarSink<TableModel.Event> two =
        EventJob.sink(sidecar, "t", "t-job", b -> b.targets(List.of("a:1", "b:2")));
    assertEquals("a:1", two.target(0));
    assertEquals("b:2", two.target(1));
    assertEquals("a:1", two.target(2));
    assertEquals("b:2", two.target(3));

    SidecarLocation here = SidecarLocation.of("127.0.0.1:9");
    SidecarLocation elsewhere = new SidecarLocation("another-host", "127.0.0.1:8");
    assertEquals(
        List.of("b:2", "c:3", "127.0.0.1:9", "a:1"),
        new DeltaSidecarCommitter(two, 1)
            .candidates(
                List.of(new SidecarLocation("", "c:3"), elsewhere, here, SidecarLocation.UNKNOWN)));

    for (List<String> bad : List.of(List.<String>of(), List.of("a:1", "a:1"), List.of(" "))) {
      assertThrows(
          IllegalArgumentException.class,
          () -> DeltaSidecarSink.<TableModel.Event>builder().targets(bad),
          bad.toString());
    }
  }
}
