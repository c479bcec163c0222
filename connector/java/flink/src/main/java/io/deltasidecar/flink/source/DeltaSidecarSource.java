package io.deltasidecar.flink.source;

import java.time.Duration;
import java.util.List;
import java.util.Objects;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.connector.source.Boundedness;
import org.apache.flink.api.connector.source.Source;
import org.apache.flink.api.connector.source.SourceReader;
import org.apache.flink.api.connector.source.SourceReaderContext;
import org.apache.flink.api.connector.source.SplitEnumerator;
import org.apache.flink.api.connector.source.SplitEnumeratorContext;
import org.apache.flink.api.java.typeutils.ResultTypeQueryable;
import org.apache.flink.core.io.SimpleVersionedSerializer;

/**
 * A FLIP-27 source reading a delta-sidecar table (docs/connectors.md, "Flink source"):
 *
 * <ul>
 *   <li>{@link ScanMode#SNAPSHOT}: bounded; one snapshot (the latest when the job first starts,
 *       or a given one), split by bucket over the readers.
 *   <li>{@link ScanMode#LATEST}: unbounded; that snapshot's rows as INSERTs, then the changes of
 *       every later commit (FollowChanges) as UPDATE_AFTER (upsert) and DELETE by the primary
 *       key, read by one reader so that each key's changes stay in order.
 *   <li>{@link ScanMode#FROM_SNAPSHOT}: unbounded; only the changes after a given snapshot.
 * </ul>
 *
 * <p>Exactly once: the position (rows emitted of a bucket, the last snapshot whose changes were
 * all emitted and the count emitted of the next) is in Flink's checkpoints, and a restore reads
 * on from exactly there. A consumer id, when given, only keeps the sidecar from expiring the
 * snapshots the read still needs.
 *
 * <pre>{@code
 * DeltaSidecarSource<String> source =
 *     DeltaSidecarSource.<String>builder()
 *         .target("127.0.0.1:7543").table("orders").mode(ScanMode.LATEST)
 *         .converter((kind, row, snapshot) -> kind + " " + row, Types.STRING)
 *         .build();
 * env.fromSource(source, WatermarkStrategy.noWatermarks(), "orders");
 * }</pre>
 */
public final class DeltaSidecarSource<T>
    implements Source<T, DeltaSourceSplit, EnumeratorState>, ResultTypeQueryable<T> {
  private final SourceConfig config;
  private final ChangeConverter<T> converter;
  private final TypeInformation<T> producedType;

  private DeltaSidecarSource(
      SourceConfig config, ChangeConverter<T> converter, TypeInformation<T> producedType) {
    this.config = config;
    this.converter = converter;
    this.producedType = producedType;
  }

  public static <T> Builder<T> builder() {
    return new Builder<>();
  }

  @Override
  public Boundedness getBoundedness() {
    return config.mode().isBounded() ? Boundedness.BOUNDED : Boundedness.CONTINUOUS_UNBOUNDED;
  }

  @Override
  public SourceReader<T, DeltaSourceSplit> createReader(SourceReaderContext context) {
    return new DeltaSourceReader<>(config, converter, context);
  }

  @Override
  public SplitEnumerator<DeltaSourceSplit, EnumeratorState> createEnumerator(
      SplitEnumeratorContext<DeltaSourceSplit> context) {
    return new DeltaSplitEnumerator(context, config, EnumeratorState.INITIAL);
  }

  @Override
  public SplitEnumerator<DeltaSourceSplit, EnumeratorState> restoreEnumerator(
      SplitEnumeratorContext<DeltaSourceSplit> context, EnumeratorState checkpoint) {
    return new DeltaSplitEnumerator(context, config, checkpoint);
  }

  @Override
  public SimpleVersionedSerializer<DeltaSourceSplit> getSplitSerializer() {
    return DeltaSourceSplitSerializer.INSTANCE;
  }

  @Override
  public SimpleVersionedSerializer<EnumeratorState> getEnumeratorCheckpointSerializer() {
    return EnumeratorStateSerializer.INSTANCE;
  }

  @Override
  public TypeInformation<T> getProducedType() {
    return producedType;
  }

  /** The options of a source; target, table and converter are required. */
  public static final class Builder<T> {
    private List<String> targets;
    private String table;
    private ScanMode mode = ScanMode.SNAPSHOT;
    private Long snapshotId;
    private String consumer;
    private Duration pollInterval = Duration.ofMillis(100);
    private Duration callTimeout = Duration.ofSeconds(60);
    private ChangeConverter<T> converter;
    private TypeInformation<T> producedType;

    private Builder() {}

    /** The sidecar: "host:port" or "unix:/path.sock". */
    public Builder<T> target(String target) {
      return targets(List.of(target));
    }

    /** Several sidecars on the same table root: reader i reads through the (i mod n)-th. */
    public Builder<T> targets(List<String> targets) {
      this.targets = List.copyOf(targets);
      return this;
    }

    public Builder<T> table(String table) {
      this.table = table;
      return this;
    }

    /** What to read (default {@link ScanMode#SNAPSHOT}). */
    public Builder<T> mode(ScanMode mode) {
      this.mode = mode;
      return this;
    }

    /**
     * SNAPSHOT and LATEST: the snapshot to read (default: the latest when the job first starts);
     * FROM_SNAPSHOT: the snapshot to follow from, exclusive (required).
     */
    public Builder<T> snapshotId(long snapshotId) {
      this.snapshotId = snapshotId;
      return this;
    }

    /** A consumer name whose position on the sidecar holds snapshot expiry for the follow. */
    public Builder<T> consumer(String consumer) {
      this.consumer = consumer;
      return this;
    }

    /** How often an idle follow looks for new snapshots on the sidecar (default 100 ms). */
    public Builder<T> pollInterval(Duration pollInterval) {
      this.pollInterval = pollInterval;
      return this;
    }

    /** Deadline of DescribeTable (default 60 s). */
    public Builder<T> callTimeout(Duration callTimeout) {
      this.callTimeout = callTimeout;
      return this;
    }

    /** How rows become records, and the records' type. */
    public Builder<T> converter(ChangeConverter<T> converter, TypeInformation<T> producedType) {
      this.converter = Objects.requireNonNull(converter, "converter");
      this.producedType = Objects.requireNonNull(producedType, "producedType");
      return this;
    }

    /** The source; IllegalArgumentException naming the problem for invalid options. */
    public DeltaSidecarSource<T> build() {
      SourceConfig config = config();
      if (converter == null) {
        throw new IllegalArgumentException("a delta-sidecar source needs a converter");
      }
      return new DeltaSidecarSource<>(config, converter, producedType);
    }

    /** Checks the options other than the converter: IllegalArgumentException naming a problem. */
    public void validate() {
      config();
    }

    private SourceConfig config() {
      if (targets == null || table == null) {
        throw new IllegalArgumentException("a delta-sidecar source needs a target and a table");
      }
      return new SourceConfig(targets, table, mode, snapshotId, consumer, pollInterval, callTimeout);
    }
  }
}
