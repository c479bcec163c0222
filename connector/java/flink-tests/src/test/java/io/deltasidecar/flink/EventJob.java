package io.deltasidecar.flink;

import io.deltasidecar.flink.TableModel.Event;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;
import java.util.function.UnaryOperator;
import org.apache.flink.api.common.functions.FlatMapFunction;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.functions.RichMapFunction;
import org.apache.flink.api.common.state.CheckpointListener;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.util.Collector;

/**
 * The DataStream job of the integration tests: {@code fromSequence(1, n)} (a source that replays
 * exactly from a checkpoint), throttled so that it spans many 100 ms checkpoints, expanded into
 * the {@link TableModel} events, keyed by id and written by a {@link DeltaSidecarSink}. Between
 * keyBy and the sink (chained with the writer and the committer) sits an operator that can fail
 * once on demand. The hooks are static: the MiniCluster runs the tasks in the test's JVM.
 */
final class EventJob {
  private EventJob() {}

  enum Failure {
    NONE,
    /** Throw from map() once, after this many completed checkpoints. */
    IN_MAP,
    /**
     * Throw from notifyCheckpointComplete once, after this many completed checkpoints: the
     * committer (later in the chain, notified first) has committed the checkpoint, and the
     * restored committer sends it again.
     */
    IN_NOTIFY
  }

  static final AtomicLong processed = new AtomicLong();
  static final AtomicInteger maxAttempt = new AtomicInteger();
  static final AtomicInteger completedCheckpoints = new AtomicInteger();
  static final AtomicBoolean failed = new AtomicBoolean();
  /** The ids of the checkpoints whose completion reached a fail-once subtask. */
  static final java.util.Set<Long> completedCheckpointIds =
      new java.util.concurrent.ConcurrentSkipListSet<>();
  static volatile Failure failure = Failure.NONE;
  static volatile int failAfterCheckpoints = 2;
  static volatile long nanosPerRecord = 200_000;

  /**
   * The pace of a held source: once {@link #processed} reaches {@link #holdAfter}, every record
   * takes this long (per subtask) for as long as {@link #holdWhile} is true.
   */
  static final long HOLD_NANOS_PER_RECORD = 50_000_000;
  /** Records processed (all subtasks and attempts) before the source is held; none by default. */
  static volatile long holdAfter = Long.MAX_VALUE;
  /** Whether a source past {@link #holdAfter} is still held. */
  static volatile BooleanSupplier holdWhile = () -> true;

  /**
   * Holds the source after {@code afterRecords} until {@code until} is true, so that a job
   * cannot run out of input before what a test waits for (completed checkpoints, the injected
   * failure, a stop-with-savepoint). How much input a job consumes before its first checkpoint
   * depends on the machine's load: the sources run as soon as their own tasks do, while the
   * checkpoint coordinator waits for every task, and the writers' first connection to the
   * sidecar can take seconds on a loaded machine. The held source is slowed, never stopped: a
   * source blocked in map() could not take the checkpoints the test waits for.
   */
  static void hold(long afterRecords, BooleanSupplier until) {
    holdWhile = () -> !until.getAsBoolean();
    holdAfter = afterRecords;
  }

  static void releaseHold() {
    holdAfter = Long.MAX_VALUE;
  }

  static void reset() {
    processed.set(0);
    maxAttempt.set(0);
    completedCheckpoints.set(0);
    failed.set(false);
    completedCheckpointIds.clear();
    failure = Failure.NONE;
    failAfterCheckpoints = 2;
    nanosPerRecord = 200_000;
    holdAfter = Long.MAX_VALUE;
    holdWhile = () -> true;
  }

  /** Checkpoints every 100 ms, restarts without end 100 ms apart. */
  static Configuration config(int parallelism) {
    Configuration conf = new Configuration();
    set(conf, "parallelism.default", Integer.toString(parallelism));
    set(conf, "execution.checkpointing.interval", "100 ms");
    set(conf, "restart-strategy.type", "fixed-delay");
    set(conf, "restart-strategy.fixed-delay.attempts", "100000");
    set(conf, "restart-strategy.fixed-delay.delay", "100 ms");
    return conf;
  }

  /** Restores the job from a savepoint (the option's key differs between Flink 1.20 and 2). */
  static Configuration fromSavepoint(Configuration conf, String savepoint) {
    set(conf, "execution.savepoint.path", savepoint);
    set(conf, "execution.state-recovery.path", savepoint);
    return conf;
  }

  static void set(Configuration conf, String key, String value) {
    conf.set(ConfigOptions.key(key).stringType().noDefaultValue(), value);
  }

  static DeltaSidecarSink<Event> sink(
      SidecarProcess sidecar,
      String table,
      String prefix,
      UnaryOperator<DeltaSidecarSink.Builder<Event>> more) {
    DeltaSidecarSink.Builder<Event> b =
        DeltaSidecarSink.<Event>builder()
            .target(sidecar.target)
            .table(table)
            .writerIdPrefix(prefix)
            .recordConverter(new EventConverter())
            .lingerTime(Duration.ofMillis(20))
            .callTimeout(Duration.ofSeconds(20))
            .createTableIfMissing(TableModel.SCHEMA, TableModel.KEY, 4);
    return more.apply(b).build();
  }

  /** The job: sequence 1..n into {@code sink}. */
  static StreamExecutionEnvironment build(
      Configuration conf, long n, DeltaSidecarSink<Event> sink) {
    StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
    env.fromSequence(1, n)
        .uid("sequence")
        .map(new Throttle())
        .uid("throttle")
        .flatMap(new Expand())
        .uid("expand")
        .keyBy(new ById())
        .map(new FailOnce())
        .uid("fail-once")
        .sinkTo(sink)
        .uid("delta-sidecar-sink");
    return env;
  }

  static final class ById implements org.apache.flink.api.java.functions.KeySelector<Event, Long> {
    private static final long serialVersionUID = 1L;

    @Override
    public Long getKey(Event e) {
      return e.id;
    }
  }

  static final class EventConverter implements RecordConverter<Event> {
    private static final long serialVersionUID = 1L;

    @Override
    public void convert(Event e, RowOutput out) {
      if (e.delete()) {
        out.delete(e.id());
      } else {
        out.upsert(e.id(), e.name(), e.qty());
      }
    }
  }

  static final class Throttle extends RichMapFunction<Long, Long> {
    private static final long serialVersionUID = 1L;

    @Override
    public void open(OpenContext context) {
      maxAttempt.accumulateAndGet(getRuntimeContext().getTaskInfo().getAttemptNumber(), Math::max);
    }

    @Override
    public Long map(Long i) {
      long nanos = nanosPerRecord;
      if (processed.get() >= holdAfter && holdWhile.getAsBoolean()) {
        nanos = Math.max(nanos, HOLD_NANOS_PER_RECORD);
      }
      if (nanos > 0) {
        LockSupport.parkNanos(nanos);
      }
      processed.incrementAndGet();
      return i;
    }
  }

  static final class Expand implements FlatMapFunction<Long, Event> {
    private static final long serialVersionUID = 1L;

    @Override
    public void flatMap(Long i, Collector<Event> out) {
      for (Event e : TableModel.eventsOf(i)) {
        out.collect(e);
      }
    }
  }

  static final class FailOnce extends RichMapFunction<Event, Event> implements CheckpointListener {
    private static final long serialVersionUID = 1L;

    @Override
    public void open(OpenContext context) {
      maxAttempt.accumulateAndGet(getRuntimeContext().getTaskInfo().getAttemptNumber(), Math::max);
    }

    @Override
    public Event map(Event e) {
      if (failure == Failure.IN_MAP
          && completedCheckpoints.get() >= failAfterCheckpoints
          && failed.compareAndSet(false, true)) {
        throw new IllegalStateException("injected failure in map after "
            + completedCheckpoints.get() + " completed checkpoints");
      }
      return e;
    }

    @Override
    public void notifyCheckpointComplete(long checkpointId) {
      completedCheckpointIds.add(checkpointId);
      int done = completedCheckpoints.incrementAndGet();
      if (failure == Failure.IN_NOTIFY
          && done >= failAfterCheckpoints
          && failed.compareAndSet(false, true)) {
        throw new IllegalStateException(
            "injected failure in notifyCheckpointComplete(" + checkpointId + ")");
      }
    }
  }
}
