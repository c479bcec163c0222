// Declares signatures from Apache Flink 1.20's public API, only the types and
// members that delta-sidecar's Flink sink uses, so that the sink compiles and is
// tested without Flink (its jars cannot be downloaded on the build machines).
// Not shipped: the sink's jar and pom never include it; real Flink provides
// these types at runtime. Bodies, where a type needs one, are minimal stand-ins.

package org.apache.flink.table.data;

import java.math.BigDecimal;

public final class DecimalData implements Comparable<DecimalData> {
  private final BigDecimal value;
  private final int precision;
  private final int scale;

  private DecimalData(BigDecimal value, int precision, int scale) {
    this.value = value;
    this.precision = precision;
    this.scale = scale;
  }

  /** Null when the value does not fit the precision, as in Flink. */
  public static DecimalData fromBigDecimal(BigDecimal bd, int precision, int scale) {
    BigDecimal scaled = bd.setScale(scale, java.math.RoundingMode.HALF_UP);
    return scaled.precision() > precision ? null : new DecimalData(scaled, precision, scale);
  }

  public int precision() {
    return precision;
  }

  public int scale() {
    return scale;
  }

  public BigDecimal toBigDecimal() {
    return value;
  }

  @Override
  public int compareTo(DecimalData other) {
    return value.compareTo(other.value);
  }

  @Override
  public String toString() {
    return value.toPlainString();
  }
}
