package io.deltasidecar.flink.source;

import java.util.List;

/**
 * What the split enumerator checkpoints: whether it has made the source's splits yet (it does
 * once, when the job first starts, fixing the snapshot read), and the splits it has not assigned
 * (in assignment order). Assigned splits are in the readers' state.
 */
public record EnumeratorState(boolean splitsCreated, List<DeltaSourceSplit> unassigned) {
  public EnumeratorState {
    unassigned = List.copyOf(unassigned);
  }

  static final EnumeratorState INITIAL = new EnumeratorState(false, List.of());
}
