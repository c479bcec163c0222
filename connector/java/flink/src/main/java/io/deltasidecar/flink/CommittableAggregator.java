package io.deltasidecar.flink;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.flink.streaming.api.connector.sink2.CommittableMessage;
import org.apache.flink.streaming.api.connector.sink2.CommittableSummary;
import org.apache.flink.streaming.api.connector.sink2.CommittableWithLineage;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.BoundedOneInput;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;

/**
 * The sink's pre-commit step in the {@link CommitTopology#GLOBAL} topology, run at parallelism 1:
 * gathers the staged committables of all writer subtasks and hands them to the committer as one
 * {@link AggregatedCommittable} per checkpoint, which the committer commits with one call.
 *
 * <p>Flink disables unaligned checkpoints on every edge of a sink's topology, so all writers'
 * committables of checkpoint N (emitted before their barrier N) are here before this operator's
 * barrier N. It therefore emits everything it holds just before that barrier ({@link
 * #prepareSnapshotPreBarrier}), and at the end of input (a bounded job, whose writers emit their
 * last committables at {@code endInput}): the committer then has them in its checkpoint N state,
 * and this operator has no state of its own. What it holds at a barrier is normally the
 * committables of that one checkpoint; it may also hold those of a checkpoint that was aborted
 * before its barrier got here, and the last ones of writers that finished early (tagged with
 * their last checkpoint id + 1). They all go into the one aggregate, tagged with the highest
 * checkpoint id among them, so that a completed checkpoint is one commit: a Commit naming a
 * writer's later seal commits its earlier ones in the same snapshot anyway.
 *
 * <p>Each aggregate goes out as a summary of one committable from subtask 0 of 1, followed by the
 * committable, which is what Flink's committer counts on. A checkpoint in which no writer sealed
 * anything sends nothing. Writers' summaries are checked against the committables received:
 * fewer would mean a checkpoint split across two aggregates, and fails the task instead.
 */
final class CommittableAggregator
    extends AbstractStreamOperator<CommittableMessage<AggregatedCommittable>>
    implements OneInputStreamOperator<
            CommittableMessage<StagedCommittable>, CommittableMessage<AggregatedCommittable>>,
        BoundedOneInput {
  private static final long serialVersionUID = 1L;

  /** Per checkpoint id: the committables received, in arrival order. */
  private transient TreeMap<Long, List<StagedCommittable>> received;
  /** Per checkpoint id: the committables the writers' summaries announced. */
  private transient TreeMap<Long, Long> announced;

  @Override
  public void open() throws Exception {
    super.open();
    received = new TreeMap<>();
    announced = new TreeMap<>();
  }

  @Override
  public void processElement(StreamRecord<CommittableMessage<StagedCommittable>> element) {
    CommittableMessage<StagedCommittable> message = element.getValue();
    // Through the interface: getCheckpointIdOrEOI() is on CommittableMessage in Flink 1.20 and 2.
    long checkpointId = message.getCheckpointIdOrEOI();
    if (message instanceof CommittableSummary<StagedCommittable> summary) {
      announced.merge(checkpointId, (long) summary.getNumberOfCommittables(), Long::sum);
    } else if (message instanceof CommittableWithLineage<StagedCommittable> committable) {
      received
          .computeIfAbsent(checkpointId, id -> new ArrayList<>())
          .add(committable.getCommittable());
    }
  }

  @Override
  public void prepareSnapshotPreBarrier(long checkpointId) throws Exception {
    super.prepareSnapshotPreBarrier(checkpointId);
    emitAll();
  }

  @Override
  public void endInput() {
    emitAll();
  }

  private void emitAll() {
    for (Map.Entry<Long, Long> a : announced.entrySet()) {
      List<StagedCommittable> got = received.getOrDefault(a.getKey(), List.of());
      if (got.size() != a.getValue()) {
        throw new IllegalStateException(
            "delta-sidecar: the writers announced "
                + a.getValue()
                + " committables of checkpoint "
                + a.getKey()
                + " but the aggregator received "
                + got.size()
                + " before the barrier; refusing to commit the checkpoint in parts");
      }
    }
    if (!received.isEmpty()) {
      List<StagedCommittable> all = new ArrayList<>();
      received.values().forEach(all::addAll);
      long checkpointId = received.lastKey();
      output.collect(
          new StreamRecord<>(new CommittableSummary<>(0, 1, checkpointId, 1, 1, 0)));
      output.collect(
          new StreamRecord<>(
              new CommittableWithLineage<>(
                  new AggregatedCommittable(all), checkpointId, 0)));
    }
    received.clear();
    announced.clear();
  }
}
