package io.deltasidecar.flink;

/**
 * How the sink commits completed checkpoints (docs/connectors.md, "The committer").
 *
 * <p>The names are the option values of {@code sink.commit.topology}: Flink's enum options match
 * {@link #toString()} ignoring case.
 */
public enum CommitTopology {
  /**
   * One committer for the whole sink: a parallelism-1 aggregator gathers every writer's seals of a
   * checkpoint, and the committer sends them in one Commit per sidecar, so a checkpoint is one
   * table snapshot whatever the parallelism (one per sidecar when the writers used several).
   */
  GLOBAL("global"),
  /**
   * A committer per writer subtask, chained to it: each writer's seals are committed alone, so a
   * checkpoint of a sink with parallelism P is up to P snapshots, and a reader can see some
   * writers' rows of a checkpoint without the others'. For jobs whose writers use machine-local
   * sidecars on several task managers that the single committer cannot reach.
   */
  PER_SUBTASK("per-subtask");

  private final String optionValue;

  CommitTopology(String optionValue) {
    this.optionValue = optionValue;
  }

  @Override
  public String toString() {
    return optionValue;
  }
}
