// Declares signatures from Apache Flink 1.20's public API, only the types and
// members that delta-sidecar's Flink sink uses, so that the sink compiles and is
// tested without Flink (its jars cannot be downloaded on the build machines).
// Not shipped: the sink's jar and pom never include it; real Flink provides
// these types at runtime. Bodies, where a type needs one, are minimal stand-ins.

package org.apache.flink.table.connector.sink;

import java.util.Optional;
import org.apache.flink.api.connector.sink2.Sink;
import org.apache.flink.table.connector.ParallelismProvider;
import org.apache.flink.table.data.RowData;

public interface SinkV2Provider extends DynamicTableSink.SinkRuntimeProvider, ParallelismProvider {
  static SinkV2Provider of(Sink<RowData> sink) {
    return () -> sink;
  }

  static SinkV2Provider of(Sink<RowData> sink, Integer sinkParallelism) {
    return new SinkV2Provider() {
      @Override
      public Sink<RowData> createSink() {
        return sink;
      }

      @Override
      public Optional<Integer> getParallelism() {
        return Optional.ofNullable(sinkParallelism);
      }
    };
  }

  Sink<RowData> createSink();
}
