package io.deltasidecar.flink;

/**
 * How the sink commits completed checkpoints (docs/connectors.md, "The committer").
 *
 * <p>The names are the option values of {@code sink.commit.topology}: Flink's enum options match
 * {@link #toString()} ignoring case.
 */
public enum CommitTopology {
  /**
   * The default: {@link #GLOBAL} when the sink's target reaches one sidecar from every task
   * manager (a host name or address that is not loopback), {@link #PER_SUBTASK} when it reaches
   * only a sidecar on the writer's own machine (loopback, {@code localhost}, a unix socket: the
   * sidecar-per-TaskManager deployment of deploy/kubernetes), where the single committer could
   * not reach the other task managers' sidecars.
   */
  AUTO("auto"),
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

  /** The topology a sink with this setting and {@code target} runs: never {@link #AUTO}. */
  public CommitTopology resolve(String target) {
    if (this != AUTO) {
      return this;
    }
    return SidecarLocation.isMachineLocal(target) ? PER_SUBTASK : GLOBAL;
  }

  @Override
  public String toString() {
    return optionValue;
  }
}
