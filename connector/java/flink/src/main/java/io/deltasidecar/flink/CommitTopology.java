package io.deltasidecar.flink;

/**
 * How the sink commits completed checkpoints (docs/connectors.md, "The committer").
 *
 * <p>The names are the option values of {@code sink.commit.topology}: Flink's enum options match
 * {@link #toString()} ignoring case.
 */
public enum CommitTopology {
  /**
   * The default. One committer for the whole sink: a parallelism-1 aggregator gathers every
   * writer's seals of a checkpoint, and the committer sends them in one Commit call to one
   * sidecar of the table root, which publishes the seals of every sidecar: a checkpoint is one
   * table snapshot whatever the parallelism and however many sidecars the writers used.
   */
  GLOBAL("global"),
  /**
   * A committer per writer subtask, chained to it: each writer's seals are committed alone, so a
   * checkpoint of a sink with parallelism P is up to P snapshots, and a reader can see some
   * writers' rows of a checkpoint without the others'. It saves the aggregator task and lets
   * each writer's rows become visible without waiting for the other writers' sidecars.
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
