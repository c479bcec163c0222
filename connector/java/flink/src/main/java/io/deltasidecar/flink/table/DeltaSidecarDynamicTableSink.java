package io.deltasidecar.flink.table;

import io.deltasidecar.flink.DeltaSidecarSink;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.HexFormat;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.apache.flink.api.dag.Transformation;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.DataStreamSink;
import org.apache.flink.table.connector.ChangelogMode;
import org.apache.flink.table.connector.ProviderContext;
import org.apache.flink.table.connector.sink.DataStreamSinkProvider;
import org.apache.flink.table.api.ValidationException;
import org.apache.flink.table.connector.sink.DynamicTableSink;
import org.apache.flink.table.connector.sink.abilities.SupportsPartitioning;
import org.apache.flink.table.data.RowData;

/**
 * The planner's view of a delta-sidecar table: an upsert sink (INSERT, UPDATE_AFTER, DELETE by
 * the DDL's primary key) whose runtime is a {@link DeltaSidecarSink} of {@link RowData}.
 *
 * <p>Without {@code sink.writer-id-prefix} the writer ids are {@code flink-sql/<table>/<digest>},
 * where the digest is taken over the names and descriptions of the transformations that feed
 * this sink (the statement's plan, e.g. {@code Calc(select=[...], where=[(id <= 150)])}). Two
 * different INSERTs into one table in one statement set therefore get different writer ids
 * instead of fencing each other, and the same statement gets the same ids when it is restored
 * from a savepoint. Two identical INSERTs would get the same ids: give them {@code
 * sink.writer-id-prefix}.
 *
 * <p>It supports {@code PARTITIONED BY} ({@link SupportsPartitioning}): the partition columns are
 * ordinary columns of the rows, which the sidecar files by partition. For {@code INSERT INTO t
 * PARTITION (dt = '2026-12-01') SELECT ...} the planner puts the static values into every row it
 * hands the sink (the statement's SELECT lists only the other columns), so the sink writes the rows
 * as they come; {@link #applyStaticPartition} only records the partition (for {@link
 * #asSummaryString}).
 */
public final class DeltaSidecarDynamicTableSink implements DynamicTableSink, SupportsPartitioning {
  private final DeltaSidecarSink.Builder<RowData> sink;
  private final String table;
  private final String writerIdPrefix;
  private final Integer parallelism;
  /** The DDL's PARTITIONED BY columns; empty when it has none. */
  private final List<String> partitionKeys;
  /** The INSERT's PARTITION (...) clause, column to value; empty without one. */
  private Map<String, String> staticPartition;

  DeltaSidecarDynamicTableSink(
      DeltaSidecarSink.Builder<RowData> sink,
      String table,
      String writerIdPrefix,
      Integer parallelism,
      List<String> partitionKeys,
      Map<String, String> staticPartition) {
    this.sink = sink;
    this.table = table;
    this.writerIdPrefix = writerIdPrefix;
    this.parallelism = parallelism;
    this.partitionKeys = List.copyOf(partitionKeys);
    this.staticPartition = new LinkedHashMap<>(staticPartition);
  }

  /**
   * The values of the INSERT's {@code PARTITION (...)} clause, which the planner also fills into
   * the rows. Refuses a column that is not a partition column of the DDL (the planner refuses it
   * first).
   */
  @Override
  public void applyStaticPartition(Map<String, String> partition) {
    for (String column : partition.keySet()) {
      if (!partitionKeys.contains(column)) {
        throw new ValidationException(
            "delta-sidecar table '" + table + "': PARTITION (" + column + " = ...) names a column"
                + " that is not in the DDL's PARTITIONED BY " + partitionKeys);
      }
    }
    this.staticPartition = new LinkedHashMap<>(partition);
  }

  @Override
  public ChangelogMode getChangelogMode(ChangelogMode requestedMode) {
    return ChangelogMode.upsert();
  }

  @Override
  public SinkRuntimeProvider getSinkRuntimeProvider(Context context) {
    return new DataStreamSinkProvider() {
      @Override
      public DataStreamSink<?> consumeDataStream(
          ProviderContext providerContext, DataStream<RowData> dataStream) {
        String prefix =
            writerIdPrefix != null
                ? writerIdPrefix
                : "flink-sql/" + table + "/" + planDigest(dataStream.getTransformation());
        DataStreamSink<RowData> out = dataStream.sinkTo(sink.writerIdPrefix(prefix).build());
        out.name("delta-sidecar: " + table);
        providerContext.generateUid("delta-sidecar-sink").ifPresent(out::uid);
        if (parallelism != null) {
          out.setParallelism(parallelism);
        }
        return out;
      }

      @Override
      public Optional<Integer> getParallelism() {
        return Optional.ofNullable(parallelism);
      }
    };
  }

  /**
   * 12 hex digits of SHA-256 over the names, descriptions, kinds and parallelism of every
   * transformation upstream of {@code sinkInput}, in a depth-first order that only depends on the
   * plan (not on the JVM-wide ids Flink gives transformations).
   */
  static String planDigest(Transformation<?> sinkInput) {
    MessageDigest sha;
    try {
      sha = MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
    Map<Transformation<?>, Boolean> seen = new IdentityHashMap<>();
    Deque<Transformation<?>> stack = new ArrayDeque<>();
    stack.push(sinkInput);
    while (!stack.isEmpty()) {
      Transformation<?> t = stack.pop();
      if (seen.put(t, Boolean.TRUE) != null) {
        continue;
      }
      String node =
          t.getName() + "|" + t.getDescription() + "|" + t.getClass().getSimpleName() + "|"
              + t.getParallelism() + "|"
              + t.getInputs().size() + "\n";
      sha.update(node.getBytes(StandardCharsets.UTF_8));
      for (int i = t.getInputs().size() - 1; i >= 0; i--) {
        stack.push(t.getInputs().get(i));
      }
    }
    return HexFormat.of().formatHex(sha.digest(), 0, 6);
  }

  @Override
  public DynamicTableSink copy() {
    return new DeltaSidecarDynamicTableSink(
        sink, table, writerIdPrefix, parallelism, partitionKeys, staticPartition);
  }

  @Override
  public String asSummaryString() {
    return "delta-sidecar(table=" + table
        + (partitionKeys.isEmpty() ? "" : ", partitioned by " + partitionKeys)
        + (staticPartition.isEmpty() ? "" : ", partition " + staticPartition) + ")";
  }
}
