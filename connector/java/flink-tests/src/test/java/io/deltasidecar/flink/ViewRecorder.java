package io.deltasidecar.flink;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.flink.api.common.functions.RichMapFunction;
import org.apache.flink.api.common.state.CheckpointListener;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.runtime.state.FunctionInitializationContext;
import org.apache.flink.runtime.state.FunctionSnapshotContext;
import org.apache.flink.streaming.api.checkpoint.CheckpointedFunction;

/**
 * Materialises a view (key -> row) from the {@link ChangeLines} records of a source, with the
 * number of records seen of each snapshot, in checkpointed state; at each completed checkpoint
 * it publishes what the state held ({@link #completed}) for the test to compare with the table.
 * Can fail once, as soon as the latest completed checkpoint matches {@link #failAfter}. Run at parallelism 1; the hooks are static (the
 * MiniCluster runs in the test's JVM).
 */
final class ViewRecorder extends RichMapFunction<String, String>
    implements CheckpointedFunction, CheckpointListener {
  /** What the state held at a checkpoint: the view and the records per snapshot. */
  record Recorded(long checkpointId, List<String> view, TreeMap<Long, Long> perSnapshot) {
    long lastSnapshot() {
      return perSnapshot.isEmpty() ? -1 : perSnapshot.lastKey();
    }
  }

  static final ConcurrentLinkedQueue<Recorded> completed = new ConcurrentLinkedQueue<>();
  private static final Map<Long, Recorded> taken = new ConcurrentHashMap<>();
  static final AtomicBoolean failed = new AtomicBoolean();
  /** Fail once when the latest completed checkpoint's state matches this. */
  static volatile java.util.function.Predicate<Recorded> failAfter = r -> false;
  private static volatile Recorded latestCompleted;
  /** Time spent per record, so that checkpoints fall inside a snapshot's changes. */
  static volatile long nanosPerRecord;

  private final ChangeLines.View view = new ChangeLines.View();
  private final TreeMap<Long, Long> perSnapshot = new TreeMap<>();
  private transient ListState<String> viewState;
  private transient ListState<String> countState;

  static void reset() {
    completed.clear();
    taken.clear();
    failed.set(false);
    failAfter = r -> false;
    latestCompleted = null;
    nanosPerRecord = 0;
  }

  @Override
  public String map(String record) {
    Recorded latest = latestCompleted;
    if (latest != null && failAfter.test(latest) && failed.compareAndSet(false, true)) {
      throw new IllegalStateException(
          "injected failure after checkpoint " + latest.checkpointId() + " " + latest.perSnapshot());
    }
    if (nanosPerRecord > 0) {
      java.util.concurrent.locks.LockSupport.parkNanos(nanosPerRecord);
    }
    view.apply(record);
    perSnapshot.merge(ChangeLines.snapshot(record), 1L, Long::sum);
    return record;
  }

  @Override
  public void snapshotState(FunctionSnapshotContext context) throws Exception {
    List<String> lines = new ArrayList<>(view.rows.size());
    view.rows.forEach((id, line) -> lines.add(id + "\t" + line));
    viewState.update(lines);
    List<String> counts = new ArrayList<>();
    perSnapshot.forEach((s, n) -> counts.add(s + "\t" + n));
    countState.update(counts);
    long cp = context.getCheckpointId();
    taken.put(cp, new Recorded(cp, view.lines(), new TreeMap<>(perSnapshot)));
  }

  @Override
  public void initializeState(FunctionInitializationContext context) throws Exception {
    viewState =
        context.getOperatorStateStore()
            .getListState(new ListStateDescriptor<>("view", Types.STRING));
    countState =
        context.getOperatorStateStore()
            .getListState(new ListStateDescriptor<>("per-snapshot", Types.STRING));
    for (String s : viewState.get()) {
      int tab = s.indexOf('\t');
      view.rows.put(Long.parseLong(s.substring(0, tab)), s.substring(tab + 1));
    }
    for (String s : countState.get()) {
      int tab = s.indexOf('\t');
      perSnapshot.put(Long.parseLong(s.substring(0, tab)), Long.parseLong(s.substring(tab + 1)));
    }
  }

  @Override
  public void notifyCheckpointComplete(long checkpointId) {
    Recorded r = taken.remove(checkpointId);
    if (r != null) {
      completed.add(r);
      latestCompleted = r;
    }
  }
}
