package io.deltasidecar.flink;

import java.util.List;
import java.util.Objects;

/**
 * What the committer commits: the seals of one checkpoint of the whole sink, from every writer
 * that had rows in it (see {@link CommittableAggregator}), or of one writer when the sink commits
 * per subtask ({@link CommitTopology#PER_SUBTASK}). Committing it again changes nothing.
 */
public record AggregatedCommittable(List<StagedCommittable> committables) {
  public AggregatedCommittable {
    committables = List.copyOf(Objects.requireNonNull(committables, "committables"));
  }

  static AggregatedCommittable of(StagedCommittable one) {
    return new AggregatedCommittable(List.of(one));
  }
}
