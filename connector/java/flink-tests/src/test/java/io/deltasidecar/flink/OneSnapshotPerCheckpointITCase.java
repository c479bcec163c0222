package io.deltasidecar.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;
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
 * committer), also through a failover; the per-subtask committer (the default for the tests'
 * loopback target) makes one snapshot per writer. Read from the table's history ({@code deltactl history}): each APPEND snapshot
 * records the (writer identity, seal id) it committed, and the writers of one checkpoint seal
 * with the same id.
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

  /**
   * The default for a machine-local target (auto resolves to per-subtask): each writer's seal of a
   * checkpoint is a snapshot of its own.
   */
  @Test
  void perSubtaskCommitsMakeASnapshotPerWriter() throws Exception {
    long n = 3000;
    EventJob.nanosPerRecord = 1_000_000;
    EventJob.build(
            EventJob.config(PARALLELISM),
            n,
            EventJob.sink(sidecar, "split", "split-job", b -> b))
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
   * Each seal id (the checkpoint the writers sealed for) is in exactly one APPEND snapshot, at
   * least one snapshot holds all writers, and there are no more snapshots than completed
   * checkpoints (those the tasks were told of, and the final one after they finished).
   */
  private void assertOneSnapshotPerCheckpoint(String table) throws Exception {
    List<List<Identity>> snapshots = deltactl.appendSnapshots(table);
    String history = String.join("\n", deltactl.history(table));
    assertEquals(Map.of(), sealsInSeveralSnapshots(snapshots), "checkpoints split:\n" + history);
    assertTrue(snapshots.size() >= 3, "too few commits to tell:\n" + history);
    assertTrue(
        snapshots.stream().anyMatch(ids -> writers(ids).size() == PARALLELISM),
        "no snapshot holds the seals of all " + PARALLELISM + " writers:\n" + history);
    int completed = EventJob.completedCheckpointIds.size();
    assertTrue(
        snapshots.size() <= completed + 1,
        snapshots.size() + " APPEND snapshots for " + completed + " completed checkpoints (+1 final):\n"
            + history);
  }

  /** Seal ids whose identities are in more than one snapshot, with those snapshots' indexes. */
  private static Map<Long, Set<Integer>> sealsInSeveralSnapshots(List<List<Identity>> snapshots) {
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

  private static Set<String> writers(List<Identity> ids) {
    Set<String> writers = new TreeSet<>();
    ids.forEach(id -> writers.add(id.writer()));
    return writers;
  }

  @Test
  void autoIsGlobalOnlyForATargetEveryTaskManagerReaches() {
    for (String local :
        new String[] {"127.0.0.1:7543", "localhost:7543", "unix:/run/ds.sock", "[::1]:7543"}) {
      assertEquals(CommitTopology.PER_SUBTASK, CommitTopology.AUTO.resolve(local), local);
    }
    for (String shared : new String[] {"sidecar.prod:7543", "10.0.0.7:7543", "dns:///ds:7543"}) {
      assertEquals(CommitTopology.GLOBAL, CommitTopology.AUTO.resolve(shared), shared);
    }
    assertEquals(CommitTopology.GLOBAL, CommitTopology.GLOBAL.resolve("127.0.0.1:7543"));
    assertEquals(CommitTopology.PER_SUBTASK, CommitTopology.PER_SUBTASK.resolve("ds:7543"));
  }
}
