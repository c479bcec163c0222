// Declares signatures from Apache Flink 1.20's public API, only the types and
// members that delta-sidecar's Flink sink uses, so that the sink compiles and is
// tested without Flink (its jars cannot be downloaded on the build machines).
// Not shipped: the sink's jar and pom never include it; real Flink provides
// these types at runtime. Bodies, where a type needs one, are minimal stand-ins.

package org.apache.flink.table.catalog;

import java.util.List;
import java.util.Optional;

public final class ResolvedSchema {
  private final List<Column> columns;
  private final List<WatermarkSpec> watermarkSpecs;
  private final UniqueConstraint primaryKey;

  public ResolvedSchema(
      List<Column> columns, List<WatermarkSpec> watermarkSpecs, UniqueConstraint primaryKey) {
    this.columns = List.copyOf(columns);
    this.watermarkSpecs = List.copyOf(watermarkSpecs);
    this.primaryKey = primaryKey;
  }

  public int getColumnCount() {
    return columns.size();
  }

  public List<Column> getColumns() {
    return columns;
  }

  public List<WatermarkSpec> getWatermarkSpecs() {
    return watermarkSpecs;
  }

  public Optional<UniqueConstraint> getPrimaryKey() {
    return Optional.ofNullable(primaryKey);
  }
}
