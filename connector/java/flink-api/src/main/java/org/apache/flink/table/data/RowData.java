// Declares signatures from Apache Flink 1.20's public API, only the types and
// members that delta-sidecar's Flink sink uses, so that the sink compiles and is
// tested without Flink (its jars cannot be downloaded on the build machines).
// Not shipped: the sink's jar and pom never include it; real Flink provides
// these types at runtime. Bodies, where a type needs one, are minimal stand-ins.

package org.apache.flink.table.data;

import org.apache.flink.types.RowKind;

public interface RowData {
  int getArity();

  RowKind getRowKind();

  void setRowKind(RowKind kind);

  boolean isNullAt(int pos);

  boolean getBoolean(int pos);

  byte getByte(int pos);

  short getShort(int pos);

  int getInt(int pos);

  long getLong(int pos);

  float getFloat(int pos);

  double getDouble(int pos);

  StringData getString(int pos);

  DecimalData getDecimal(int pos, int precision, int scale);

  TimestampData getTimestamp(int pos, int precision);

  byte[] getBinary(int pos);
}
