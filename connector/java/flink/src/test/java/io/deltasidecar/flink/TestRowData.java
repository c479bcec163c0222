package io.deltasidecar.flink;

import java.nio.charset.StandardCharsets;
import org.apache.flink.table.data.DecimalData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.data.TimestampData;
import org.apache.flink.types.RowKind;

/** A RowData over an array of Flink internal values (what GenericRowData holds). */
final class TestRowData implements RowData {
  private RowKind kind;
  private final Object[] fields;

  TestRowData(RowKind kind, Object... fields) {
    this.kind = kind;
    this.fields = fields;
  }

  /** A StringData for a VARCHAR field. */
  static StringData str(String s) {
    return new Str(s);
  }

  private record Str(String value) implements StringData {
    @Override
    public byte[] toBytes() {
      return value.getBytes(StandardCharsets.UTF_8);
    }

    @Override
    public String toString() {
      return value;
    }

    @Override
    public int compareTo(StringData o) {
      return value.compareTo(o.toString());
    }
  }

  @Override
  public int getArity() {
    return fields.length;
  }

  @Override
  public RowKind getRowKind() {
    return kind;
  }

  @Override
  public void setRowKind(RowKind kind) {
    this.kind = kind;
  }

  @Override
  public boolean isNullAt(int pos) {
    return fields[pos] == null;
  }

  @Override
  public boolean getBoolean(int pos) {
    return (Boolean) fields[pos];
  }

  @Override
  public byte getByte(int pos) {
    return (Byte) fields[pos];
  }

  @Override
  public short getShort(int pos) {
    return (Short) fields[pos];
  }

  @Override
  public int getInt(int pos) {
    return (Integer) fields[pos];
  }

  @Override
  public long getLong(int pos) {
    return (Long) fields[pos];
  }

  @Override
  public float getFloat(int pos) {
    return (Float) fields[pos];
  }

  @Override
  public double getDouble(int pos) {
    return (Double) fields[pos];
  }

  @Override
  public StringData getString(int pos) {
    return (StringData) fields[pos];
  }

  @Override
  public DecimalData getDecimal(int pos, int precision, int scale) {
    return (DecimalData) fields[pos];
  }

  @Override
  public TimestampData getTimestamp(int pos, int precision) {
    return (TimestampData) fields[pos];
  }

  @Override
  public byte[] getBinary(int pos) {
    return (byte[]) fields[pos];
  }
}
