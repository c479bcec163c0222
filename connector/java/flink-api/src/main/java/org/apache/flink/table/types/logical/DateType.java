// Declares signatures from Apache Flink 1.20's public API, only the types and
// members that delta-sidecar's Flink sink uses, so that the sink compiles and is
// tested without Flink (its jars cannot be downloaded on the build machines).
// Not shipped: the sink's jar and pom never include it; real Flink provides
// these types at runtime. Bodies, where a type needs one, are minimal stand-ins.

package org.apache.flink.table.types.logical;

public final class DateType extends LogicalType {
  public DateType(boolean isNullable) {
    super(isNullable, LogicalTypeRoot.DATE);
  }

  public DateType() {
    this(true);
  }

  @Override
  public LogicalType copy(boolean isNullable) {
    return new DateType(isNullable);
  }

  @Override
  public String asSerializableString() {
    return withNullability("DATE");
  }
}
