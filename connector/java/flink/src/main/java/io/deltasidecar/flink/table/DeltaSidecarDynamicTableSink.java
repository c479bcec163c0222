package io.deltasidecar.flink.table;

import io.deltasidecar.flink.DeltaSidecarSink;
import org.apache.flink.table.connector.ChangelogMode;
import org.apache.flink.table.connector.sink.DynamicTableSink;
import org.apache.flink.table.connector.sink.SinkV2Provider;
import org.apache.flink.table.data.RowData;

/**
 * The planner's view of a delta-sidecar table: an upsert sink (INSERT, UPDATE_AFTER, DELETE by
 * the DDL's primary key) whose runtime is a {@link DeltaSidecarSink} of {@link RowData}.
 */
public final class DeltaSidecarDynamicTableSink implements DynamicTableSink {
  private final DeltaSidecarSink<RowData> sink;
  private final Integer parallelism;

  DeltaSidecarDynamicTableSink(DeltaSidecarSink<RowData> sink, Integer parallelism) {
    this.sink = sink;
    this.parallelism = parallelism;
  }

  @Override
  public ChangelogMode getChangelogMode(ChangelogMode requestedMode) {
    return ChangelogMode.upsert();
  }

  @Override
  public SinkRuntimeProvider getSinkRuntimeProvider(Context context) {
    return SinkV2Provider.of(sink, parallelism);
  }

  @Override
  public DynamicTableSink copy() {
    return new DeltaSidecarDynamicTableSink(sink, parallelism);
  }

  @Override
  public String asSummaryString() {
    return "delta-sidecar(table=" + sink.table() + ", target=" + sink.target() + ")";
  }

  /** The runtime sink (for tests and tools). */
  public DeltaSidecarSink<RowData> sink() {
    return sink;
  }
}
