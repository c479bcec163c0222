package io.deltasidecar.flink.source;

import io.deltasidecar.client.DeltaSidecarClient;
import io.deltasidecar.client.TableSchema;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import org.apache.flink.api.connector.source.SplitEnumerator;
import org.apache.flink.api.connector.source.SplitEnumeratorContext;
import org.apache.flink.api.connector.source.SplitsAssignment;

/**
 * Makes the splits of a {@link DeltaSidecarSource} once, when the job first starts (so a restore
 * reads the same snapshot), and hands them to readers.
 *
 * <ul>
 *   <li>Bounded (scan mode snapshot): one split per bucket of the snapshot, one at a time to
 *       whichever reader asks, then "no more splits".
 *   <li>Unbounded (latest, from-snapshot): the snapshot's bucket splits (latest only), then the
 *       changelog split that follows from that snapshot, all to reader 0, which reads them in
 *       that order; the other readers get "no more splits" and finish. One reader keeps each
 *       key's order: a key's snapshot row is emitted before its later changes. (FollowChanges is
 *       one stream for the whole table, so the changelog is one reader's anyway.)
 * </ul>
 *
 * <p>Runs on the coordinator thread; not thread-safe.
 */
final class DeltaSplitEnumerator implements SplitEnumerator<DeltaSourceSplit, EnumeratorState> {
  /** The reader of every split of an unbounded read. */
  static final int UNBOUNDED_READER = 0;

  private final SplitEnumeratorContext<DeltaSourceSplit> context;
  private final SourceConfig config;
  private final ArrayDeque<DeltaSourceSplit> unassigned;
  private boolean splitsCreated;

  DeltaSplitEnumerator(
      SplitEnumeratorContext<DeltaSourceSplit> context, SourceConfig config, EnumeratorState state) {
    this.context = context;
    this.config = config;
    this.unassigned = new ArrayDeque<>(state.unassigned());
    this.splitsCreated = state.splitsCreated();
  }

  @Override
  public void start() {
    if (!splitsCreated) {
      unassigned.addAll(createSplits());
      splitsCreated = true;
    }
  }

  /** The splits of the read, from the table's bucket count and latest snapshot. */
  private List<DeltaSourceSplit> createSplits() {
    List<DeltaSourceSplit> splits = new ArrayList<>();
    if (config.mode() == ScanMode.FROM_SNAPSHOT) {
      splits.add(DeltaSourceSplit.changelog(config.snapshotId()));
      return splits;
    }
    TableSchema schema;
    try (DeltaSidecarClient client =
        DeltaSidecarClient.builder()
            .target(config.targets().get(0))
            .callTimeout(config.callTimeout())
            .build()) {
      schema = client.describeTable(config.table());
    }
    long snapshot = config.snapshotId() != null ? config.snapshotId() : schema.latestSnapshotId();
    for (int b = 0; b < schema.buckets(); b++) {
      splits.add(DeltaSourceSplit.snapshot(snapshot, b));
    }
    if (config.mode() == ScanMode.LATEST) {
      splits.add(DeltaSourceSplit.changelog(snapshot));
    }
    return splits;
  }

  @Override
  public void handleSplitRequest(int subtask, String requesterHostname) {
    if (config.mode().isBounded()) {
      DeltaSourceSplit next = unassigned.poll();
      if (next == null) {
        context.signalNoMoreSplits(subtask);
      } else {
        context.assignSplit(next, subtask);
      }
    } else if (subtask == UNBOUNDED_READER) {
      assignAllToUnboundedReader();
    } else {
      context.signalNoMoreSplits(subtask);
    }
  }

  private void assignAllToUnboundedReader() {
    if (unassigned.isEmpty() || !context.registeredReaders().containsKey(UNBOUNDED_READER)) {
      return;
    }
    List<DeltaSourceSplit> all = new ArrayList<>(unassigned);
    unassigned.clear();
    context.assignSplits(new SplitsAssignment<>(java.util.Map.of(UNBOUNDED_READER, all)));
  }

  @Override
  public void addSplitsBack(List<DeltaSourceSplit> splits, int subtask) {
    // Back in front, in their order: a failed reader's splits since its last checkpoint.
    for (int i = splits.size() - 1; i >= 0; i--) {
      unassigned.addFirst(splits.get(i));
    }
  }

  @Override
  public void addReader(int subtask) {
    if (!config.mode().isBounded() && subtask == UNBOUNDED_READER) {
      assignAllToUnboundedReader();
    }
  }

  @Override
  public EnumeratorState snapshotState(long checkpointId) {
    return new EnumeratorState(splitsCreated, new ArrayList<>(unassigned));
  }

  @Override
  public void close() {}
}
