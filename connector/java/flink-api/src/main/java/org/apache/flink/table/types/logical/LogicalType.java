// Declares signatures from Apache Flink 1.20's public API, only the types and
// members that delta-sidecar's Flink sink uses, so that the sink compiles and is
// tested without Flink (its jars cannot be downloaded on the build machines).
// Not shipped: the sink's jar and pom never include it; real Flink provides
// these types at runtime. Bodies, where a type needs one, are minimal stand-ins.

package org.apache.flink.table.types.logical;

import java.io.Serializable;

public abstract class LogicalType implements Serializable {
  private final boolean isNullable;
  private final LogicalTypeRoot typeRoot;

  public LogicalType(boolean isNullable, LogicalTypeRoot typeRoot) {
    this.isNullable = isNullable;
    this.typeRoot = typeRoot;
  }

  public boolean isNullable() {
    return isNullable;
  }

  public LogicalTypeRoot getTypeRoot() {
    return typeRoot;
  }

  public abstract LogicalType copy(boolean isNullable);

  public abstract String asSerializableString();

  public String asSummaryString() {
    return asSerializableString();
  }

  protected String withNullability(String format, Object... params) {
    return String.format(format, params) + (isNullable ? "" : " NOT NULL");
  }

  @Override
  public String toString() {
    return asSummaryString();
  }
}
