// Declares signatures from Apache Flink 1.20's public API, only the types and
// members that delta-sidecar's Flink sink uses, so that the sink compiles and is
// tested without Flink (its jars cannot be downloaded on the build machines).
// Not shipped: the sink's jar and pom never include it; real Flink provides
// these types at runtime. Bodies, where a type needs one, are minimal stand-ins.

package org.apache.flink.table.types.logical;

public final class DecimalType extends LogicalType {
  private final int precision;
  private final int scale;

  public DecimalType(boolean isNullable, int precision, int scale) {
    super(isNullable, LogicalTypeRoot.DECIMAL);
    this.precision = precision;
    this.scale = scale;
  }

  public DecimalType(int precision, int scale) {
    this(true, precision, scale);
  }

  public int getPrecision() {
    return precision;
  }

  public int getScale() {
    return scale;
  }

  @Override
  public LogicalType copy(boolean isNullable) {
    return new DecimalType(isNullable, precision, scale);
  }

  @Override
  public String asSerializableString() {
    return withNullability("DECIMAL(%d, %d)", precision, scale);
  }
}
