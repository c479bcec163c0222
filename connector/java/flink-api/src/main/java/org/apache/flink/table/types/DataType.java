// Declares signatures from Apache Flink 1.20's public API, only the types and
// members that delta-sidecar's Flink sink uses, so that the sink compiles and is
// tested without Flink (its jars cannot be downloaded on the build machines).
// Not shipped: the sink's jar and pom never include it; real Flink provides
// these types at runtime. Bodies, where a type needs one, are minimal stand-ins.

package org.apache.flink.table.types;

import java.io.Serializable;
import org.apache.flink.table.types.logical.LogicalType;

public abstract class DataType implements Serializable {
  protected final LogicalType logicalType;

  DataType(LogicalType logicalType) {
    this.logicalType = logicalType;
  }

  public LogicalType getLogicalType() {
    return logicalType;
  }

  @Override
  public String toString() {
    return logicalType.asSummaryString();
  }
}
