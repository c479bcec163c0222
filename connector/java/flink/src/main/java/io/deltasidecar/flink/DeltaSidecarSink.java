package io.deltasidecar.flink;

import io.deltasidecar.client.DeltaSidecarClient;
import io.deltasidecar.client.WriterOptions;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Collection;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Objects;
import org.apache.flink.api.common.RuntimeExecutionMode;
import org.apache.flink.api.common.functions.MapFunction;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.connector.sink2.CommitterInitContext;
import org.apache.flink.api.connector.sink2.Sink;
import org.apache.flink.api.connector.sink2.StatefulSinkWriter;
import org.apache.flink.api.connector.sink2.SupportsCommitter;
import org.apache.flink.api.connector.sink2.SupportsWriterState;
import org.apache.flink.api.connector.sink2.WriterInitContext;
import org.apache.flink.configuration.ExecutionOptions;
import org.apache.flink.core.io.SimpleVersionedSerializer;
import org.apache.flink.streaming.api.connector.sink2.CommittableMessage;
import org.apache.flink.streaming.api.connector.sink2.CommittableMessageTypeInfo;
import org.apache.flink.streaming.api.connector.sink2.CommittableSummary;
import org.apache.flink.streaming.api.connector.sink2.CommittableWithLineage;
import org.apache.flink.streaming.api.connector.sink2.SupportsPreCommitTopology;
import org.apache.flink.streaming.api.connector.sink2.SupportsPreWriteTopology;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;

/**
 * An exactly-once Flink (Sink V2) sink into one delta-sidecar table.
 *
 * <p>Each parallel writer stages its records on the sidecar under the writer id {@code
 * <writerIdPrefix>/<subtask index>} and seals them on every checkpoint ({@code PrepareCommit}).
 * In the {@link CommitTopology#GLOBAL} topology (the default) a {@link CommittableAggregator} of
 * parallelism 1 gathers all writers' seals of a checkpoint and one {@link DeltaSidecarCommitter}
 * commits them with one Commit call once the checkpoint is complete: one table snapshot per
 * checkpoint, also when the writers staged on several sidecars sharing the table root. After a
 * failover the writers register with the restored checkpoint id, which drops whatever they staged
 * after it; the source replays those records. See docs/connectors.md, "Flink sink".
 *
 * <p>Set {@link Builder#writerIdPrefix} to the operator's uid: it must stay the same across
 * restarts of the job and differ between sinks (and jobs) writing through the same sidecar.
 *
 * <p>The sink is serialized with the job graph; its writers and committers are created on the
 * task managers and talk to the sidecar at {@link Builder#target} (subtask i to the i-th of
 * {@link Builder#targets}, modulo their number).
 *
 * <p>It implements only Sink API that Flink 1.20 and Flink 2 both have ({@code
 * createWriter(WriterInitContext)}, {@link SupportsWriterState}, {@link SupportsCommitter}, {@link
 * SupportsPreCommitTopology}), so one jar runs on both lines. A streaming job must have checkpointing enabled: the sink commits
 * on completed checkpoints, and building the job graph fails at once without them (see {@link
 * #addPreWriteTopology}).
 */
public final class DeltaSidecarSink<IN>
    implements Sink<IN>,
        SupportsCommitter<AggregatedCommittable>,
        SupportsWriterState<IN, DeltaWriterState>,
        SupportsPreWriteTopology<IN>,
        SupportsPreCommitTopology<StagedCommittable, AggregatedCommittable> {
  private static final long serialVersionUID = 1L;

  /** Writer ids are 1-512 bytes; the prefix leaves room for "/" and the subtask index. */
  static final int MAX_PREFIX_BYTES = 500;

  /** Commit attempts when {@link Builder#maxCommitAttempts} is not set (the client's default). */
  static final int DEFAULT_COMMIT_ATTEMPTS = 10;

  /** The sidecars, at least one; subtask i writes to {@code targets[i % targets.size()]}. */
  private final List<String> targets;
  private final String table;
  private final String writerIdPrefix;
  private final RecordConverter<IN> converter;
  private final int maxBatchBytes;
  private final Duration lingerTime;
  private final int maxInFlightBatches;
  private final Duration callTimeout;
  private final int maxCommitAttempts;
  private final TableSpec createTable;
  private final CommitTopology commitTopology;

  private DeltaSidecarSink(Builder<IN> b) {
    targets = b.targets;
    table = b.table;
    writerIdPrefix = b.writerIdPrefix;
    converter = b.converter;
    maxBatchBytes = b.maxBatchBytes;
    lingerTime = b.lingerTime;
    maxInFlightBatches = b.maxInFlightBatches;
    callTimeout = b.callTimeout;
    maxCommitAttempts = b.maxCommitAttempts;
    createTable = b.createTable;
    commitTopology = b.commitTopology;
  }

  public static <IN> Builder<IN> builder() {
    return new Builder<>();
  }

  @Override
  public DeltaSidecarWriter<IN> createWriter(WriterInitContext context) throws IOException {
    return new DeltaSidecarWriter<>(this, context, List.of());
  }

  @Override
  public StatefulSinkWriter<IN, DeltaWriterState> restoreWriter(
      WriterInitContext context, Collection<DeltaWriterState> recoveredState) throws IOException {
    return new DeltaSidecarWriter<>(this, context, recoveredState);
  }

  /**
   * Adds nothing; refuses a streaming job without checkpointing while the job graph is built (at
   * {@code execute()}), because such a job would never commit. Batch jobs commit at the end of
   * their input and need no checkpoints.
   */
  @Override
  public DataStream<IN> addPreWriteTopology(DataStream<IN> input) {
    StreamExecutionEnvironment env = input.getExecutionEnvironment();
    RuntimeExecutionMode mode = env.getConfiguration().get(ExecutionOptions.RUNTIME_MODE);
    if (mode != RuntimeExecutionMode.BATCH && !env.getCheckpointConfig().isCheckpointingEnabled()) {
      throw new IllegalStateException(
          "the delta-sidecar sink of table '"
              + table
              + "' needs checkpointing: it commits what a checkpoint covers once the checkpoint"
              + " completes, so a "
              + mode
              + " job without checkpoints would never commit anything. Enable it (e.g."
              + " env.enableCheckpointing(10_000), or 'execution.checkpointing.interval' = '10 s')"
              + " or run the job in BATCH mode.");
    }
    return input;
  }

  @Override
  public SimpleVersionedSerializer<DeltaWriterState> getWriterStateSerializer() {
    return new DeltaWriterStateSerializer();
  }

  /**
   * {@link CommitTopology#GLOBAL}: all writers' committables go to one {@link
   * CommittableAggregator} (parallelism 1), whose aggregates all go to committer subtask 0 (Flink
   * gives the committer the sink's parallelism; the others receive nothing). {@link
   * CommitTopology#PER_SUBTASK}: each committable becomes an aggregate of its own, chained
   * between the writer and its committer. Both hand the committer the same type, so a job can
   * switch between them across a savepoint.
   */
  @Override
  public DataStream<CommittableMessage<AggregatedCommittable>> addPreCommitTopology(
      DataStream<CommittableMessage<StagedCommittable>> committables) {
    TypeInformation<CommittableMessage<AggregatedCommittable>> type =
        CommittableMessageTypeInfo.of(AggregatedCommittableSerializer::new);
    if (commitTopology == CommitTopology.PER_SUBTASK) {
      return committables.map(new EachAlone(), type).name("delta-sidecar committables");
    }
    // No uid: the aggregator keeps no state, and a uid here would make Flink require one on
    // the sink.
    return committables
        .global()
        .transform("delta-sidecar committable aggregator", type, new CommittableAggregator())
        .setParallelism(1)
        .setMaxParallelism(1)
        .global();
  }

  @Override
  public SimpleVersionedSerializer<StagedCommittable> getWriteResultSerializer() {
    return new StagedCommittableSerializer();
  }

  @Override
  public DeltaSidecarCommitter createCommitter(CommitterInitContext context) {
    return new DeltaSidecarCommitter(this, context.getTaskInfo().getIndexOfThisSubtask());
  }

  @Override
  public SimpleVersionedSerializer<AggregatedCommittable> getCommittableSerializer() {
    return new AggregatedCommittableSerializer();
  }

  /** The per-subtask pre-commit step: every committable an aggregate of its own. */
  private static final class EachAlone
      implements MapFunction<
          CommittableMessage<StagedCommittable>, CommittableMessage<AggregatedCommittable>> {
    private static final long serialVersionUID = 1L;

    @Override
    public CommittableMessage<AggregatedCommittable> map(
        CommittableMessage<StagedCommittable> message) {
      if (message instanceof CommittableWithLineage<StagedCommittable> committable) {
        return committable.map(AggregatedCommittable::of);
      }
      return ((CommittableSummary<StagedCommittable>) message).map();
    }
  }

  /** The sidecar subtask {@code subtaskIndex} writes to (and its committer commits on first). */
  public String target(int subtaskIndex) {
    return targets.get(subtaskIndex % targets.size());
  }

  /** Every sidecar of the sink, as configured (one, unless {@link Builder#targets} named more). */
  public List<String> targets() {
    return targets;
  }

  public String table() {
    return table;
  }

  public String writerIdPrefix() {
    return writerIdPrefix;
  }

  public CommitTopology commitTopology() {
    return commitTopology;
  }

  /** The writer id of parallel subtask {@code subtaskIndex}. */
  public String writerId(int subtaskIndex) {
    return writerIdPrefix + "/" + subtaskIndex;
  }

  RecordConverter<IN> converter() {
    return converter;
  }

  TableSpec createTableSpec() {
    return createTable;
  }

  WriterOptions writerOptions() {
    return WriterOptions.builder()
        .maxBatchBytes(maxBatchBytes)
        .lingerTime(lingerTime)
        .maxInFlightBatches(maxInFlightBatches)
        .build();
  }

  /** A client of the sink's options for the sidecar at {@code sidecarTarget}. */
  DeltaSidecarClient newClient(String sidecarTarget) {
    DeltaSidecarClient.Builder b = DeltaSidecarClient.builder().target(sidecarTarget);
    if (callTimeout != null) {
      b.callTimeout(callTimeout);
    }
    if (maxCommitAttempts > 0) {
      b.maxCommitAttempts(maxCommitAttempts);
    }
    return b.build();
  }

  /**
   * A client for the committer, which retries Commit itself (over every sidecar it can reach, see
   * {@link DeltaSidecarCommitter}): each of its Commit calls is one attempt.
   */
  DeltaSidecarClient newCommitClient(String sidecarTarget) {
    DeltaSidecarClient.Builder b =
        DeltaSidecarClient.builder().target(sidecarTarget).maxCommitAttempts(1);
    if (callTimeout != null) {
      b.callTimeout(callTimeout);
    }
    return b.build();
  }

  /** Commit attempts in all before the committer fails the task (the client's default: 10). */
  int maxCommitAttempts() {
    return maxCommitAttempts > 0 ? maxCommitAttempts : DEFAULT_COMMIT_ATTEMPTS;
  }

  /**
   * What to create when the table is missing on the sidecar (see {@link
   * Builder#createTableIfMissing}): {@code partitionBy} is the comma-separated partition columns,
   * empty for a table without partitions.
   */
  record TableSpec(String schema, String primaryKey, int buckets, String partitionBy)
      implements java.io.Serializable {
    TableSpec(String schema, String primaryKey, int buckets) {
      this(schema, primaryKey, buckets, "");
    }
  }

  /** Builds a {@link DeltaSidecarSink}; {@link #table}, {@link #writerIdPrefix} and {@link #recordConverter} are required. */
  public static final class Builder<IN> {
    private List<String> targets = List.of("127.0.0.1:7543");
    private String table;
    private String writerIdPrefix;
    private RecordConverter<IN> converter;
    private int maxBatchBytes = WriterOptions.defaults().maxBatchBytes();
    private Duration lingerTime = WriterOptions.defaults().lingerTime();
    private int maxInFlightBatches = WriterOptions.defaults().maxInFlightBatches();
    private Duration callTimeout;
    private int maxCommitAttempts;
    private TableSpec createTable;
    private CommitTopology commitTopology = CommitTopology.GLOBAL;

    private Builder() {}

    /**
     * The sidecar every writer stages on: "host:port" or "unix:/path.sock" (default
     * 127.0.0.1:7543). With one sidecar beside each task manager (deploy/kubernetes), keep the
     * machine-local default: each writer reaches the sidecar of the task manager it runs on.
     */
    public Builder<IN> target(String target) {
      return targets(List.of(Objects.requireNonNull(target, "target")));
    }

    /**
     * Several sidecars on one table root, each reachable from every task manager by its own
     * address: writer subtask i stages on {@code targets.get(i % targets.size())}, and the
     * committer commits on one of them (trying the next when one is unavailable). For spreading
     * the writers of a job over sidecars that are services of their own; with one sidecar beside
     * each task manager, use {@link #target} with the machine-local address instead.
     */
    public Builder<IN> targets(List<String> targets) {
      Objects.requireNonNull(targets, "targets");
      if (targets.isEmpty()) {
        throw new IllegalArgumentException("targets must name at least one sidecar");
      }
      LinkedHashSet<String> distinct = new LinkedHashSet<>();
      for (String t : targets) {
        if (t == null || t.isBlank()) {
          throw new IllegalArgumentException("targets must not name an empty target: " + targets);
        }
        if (!distinct.add(t.trim())) {
          throw new IllegalArgumentException("targets names " + t.trim() + " twice: " + targets);
        }
      }
      this.targets = List.copyOf(distinct);
      return this;
    }

    public Builder<IN> table(String table) {
      this.table = Objects.requireNonNull(table, "table");
      return this;
    }

    /**
     * The stable part of the writer ids: set it to the operator's uid. The writer of subtask i is
     * {@code <prefix>/i}; the same prefix in two running sinks makes them fence each other.
     */
    public Builder<IN> writerIdPrefix(String prefix) {
      this.writerIdPrefix = Objects.requireNonNull(prefix, "writerIdPrefix");
      return this;
    }

    public Builder<IN> recordConverter(RecordConverter<IN> converter) {
      this.converter = Objects.requireNonNull(converter, "recordConverter");
      return this;
    }

    /** A batch is sent once it holds this many bytes (default 1 MiB). */
    public Builder<IN> maxBatchBytes(int bytes) {
      // The client's builder checks the value, so the sink refuses what the writer would.
      WriterOptions.builder().maxBatchBytes(bytes);
      this.maxBatchBytes = bytes;
      return this;
    }

    /** A partial batch is sent once its first row is this old (default 100 ms). */
    public Builder<IN> lingerTime(Duration linger) {
      WriterOptions.builder().lingerTime(linger);
      this.lingerTime = linger;
      return this;
    }

    /** Unacknowledged batches before a write blocks, i.e. backpressure (default 8). */
    public Builder<IN> maxInFlightBatches(int batches) {
      WriterOptions.builder().maxInFlightBatches(batches);
      this.maxInFlightBatches = batches;
      return this;
    }

    /** Deadline of each call to the sidecar except Commit (the client's default when unset). */
    public Builder<IN> callTimeout(Duration timeout) {
      this.callTimeout = Objects.requireNonNull(timeout, "callTimeout");
      return this;
    }

    /**
     * Commit calls in all, over the sidecars the committer can use and with backoff between
     * rounds, before it fails the task (default 10, about 20 s of backoff); see {@link
     * DeltaSidecarCommitter}. Writers' own calls (their restore's commits in the per-subtask
     * topology) use it as the client's Commit attempts.
     */
    public Builder<IN> maxCommitAttempts(int attempts) {
      if (attempts < 1) {
        throw new IllegalArgumentException("maxCommitAttempts must be at least 1, got " + attempts);
      }
      this.maxCommitAttempts = attempts;
      return this;
    }

    /**
     * Makes each writer create the table when the sidecar does not have it: {@code schema} as
     * CreateTable takes it ("id BIGINT NOT NULL, name STRING"), the comma-separated {@code
     * primaryKey}, and {@code buckets} (write.bucket.num). An existing table is used as it is;
     * the converter's {@link RecordConverter#open} checks that it fits.
     */
    public Builder<IN> createTableIfMissing(String schema, String primaryKey, int buckets) {
      return createTableIfMissing(schema, primaryKey, buckets, "");
    }

    /**
     * As {@link #createTableIfMissing(String, String, int)}, partitioned by the comma-separated
     * columns {@code partitionBy} ("dt" or "dt, region"; empty for no partitions). The partition
     * columns lead the table's primary key in this order, and each partition has its own data
     * files, so a partition can be read alone and dropped as one snapshot. An existing table is
     * used as it is; the converter's {@link RecordConverter#open} checks that it fits.
     */
    public Builder<IN> createTableIfMissing(
        String schema, String primaryKey, int buckets, String partitionBy) {
      if (buckets < 1) {
        throw new IllegalArgumentException("buckets must be at least 1, got " + buckets);
      }
      this.createTable =
          new TableSpec(
              Objects.requireNonNull(schema, "schema"),
              Objects.requireNonNull(primaryKey, "primaryKey"),
              buckets,
              Objects.requireNonNull(partitionBy, "partitionBy"));
      return this;
    }

    /**
     * How completed checkpoints are committed. {@link CommitTopology#GLOBAL} (the default): one
     * committer, one snapshot per checkpoint and table whatever the parallelism and however many
     * sidecars the writers used; {@link CommitTopology#PER_SUBTASK}: each writer's seals alone,
     * up to one snapshot per writer and checkpoint (see docs/connectors.md, "The committer").
     */
    public Builder<IN> commitTopology(CommitTopology topology) {
      this.commitTopology = Objects.requireNonNull(topology, "commitTopology");
      return this;
    }

    public DeltaSidecarSink<IN> build() {
      if (table == null || table.isEmpty()) {
        throw new IllegalArgumentException("table is required");
      }
      if (converter == null) {
        throw new IllegalArgumentException("recordConverter is required");
      }
      checkPrefix(writerIdPrefix);
      return new DeltaSidecarSink<>(this);
    }

    private static void checkPrefix(String prefix) {
      if (prefix == null || prefix.isEmpty()) {
        throw new IllegalArgumentException(
            "writerIdPrefix is required: set it to the operator's uid, which must stay the same"
                + " across restarts");
      }
      if (prefix.getBytes(StandardCharsets.UTF_8).length > MAX_PREFIX_BYTES) {
        throw new IllegalArgumentException(
            "writerIdPrefix is longer than " + MAX_PREFIX_BYTES + " bytes of UTF-8");
      }
      for (int i = 0; i < prefix.length(); i++) {
        if (Character.isISOControl(prefix.charAt(i))) {
          throw new IllegalArgumentException(
              "writerIdPrefix must not contain control characters (found U+"
                  + String.format("%04X", (int) prefix.charAt(i))
                  + " at index "
                  + i
                  + ")");
        }
      }
    }
  }
}
