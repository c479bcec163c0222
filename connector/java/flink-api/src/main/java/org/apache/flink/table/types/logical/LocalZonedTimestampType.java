// Declares signatures from Apache Flink 1.20's public API, only the types and
// members that delta-sidecar's Flink sink uses, so that the sink compiles and is
// tested without Flink (its jars cannot be downloaded on the build machines).
// Not shipped: the sink's jar and pom never include it; real Flink provides
// these types at runtime. Bodies, where a type needs one, are minimal stand-ins.

package org.apache.flink.table.types.logical;

public final class LocalZonedTimestampType extends LogicalType {
  private final int precision;

  public LocalZonedTimestampType(boolean isNullable, int precision) {
    super(isNullable, LogicalTypeRoot.TIMESTAMP_WITH_LOCAL_TIME_ZONE);
    this.precision = precision;
  }

  public LocalZonedTimestampType(int precision) {
    this(true, precision);
  }

  public int getPrecision() {
    return precision;
  }

  @Override
  public LogicalType copy(boolean isNullable) {
    return new LocalZonedTimestampType(isNullable, precision);
  }

  @Override
  public String asSerializableString() {
    return withNullability("TIMESTAMP_LTZ(%d)", precision);
  }
}
