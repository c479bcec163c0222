// Declares signatures from Apache Flink 1.20's public API, only the types and
// members that delta-sidecar's Flink sink uses, so that the sink compiles and is
// tested without Flink (its jars cannot be downloaded on the build machines).
// Not shipped: the sink's jar and pom never include it; real Flink provides
// these types at runtime. Bodies, where a type needs one, are minimal stand-ins.

package org.apache.flink.table.catalog;

import org.apache.flink.table.types.DataType;

public abstract class Column {
  protected final String name;
  protected final DataType dataType;

  private Column(String name, DataType dataType) {
    this.name = name;
    this.dataType = dataType;
  }

  public static PhysicalColumn physical(String name, DataType dataType) {
    return new PhysicalColumn(name, dataType);
  }

  public static MetadataColumn metadata(
      String name, DataType dataType, String metadataKey, boolean isVirtual) {
    return new MetadataColumn(name, dataType, metadataKey, isVirtual);
  }

  public abstract boolean isPhysical();

  public abstract boolean isPersisted();

  public String getName() {
    return name;
  }

  public DataType getDataType() {
    return dataType;
  }

  public static final class PhysicalColumn extends Column {
    private PhysicalColumn(String name, DataType dataType) {
      super(name, dataType);
    }

    @Override
    public boolean isPhysical() {
      return true;
    }

    @Override
    public boolean isPersisted() {
      return true;
    }
  }

  public static final class MetadataColumn extends Column {
    private final boolean isVirtual;

    private MetadataColumn(
        String name, DataType dataType, String metadataKey, boolean isVirtual) {
      super(name, dataType);
      this.isVirtual = isVirtual;
    }

    @Override
    public boolean isPhysical() {
      return false;
    }

    @Override
    public boolean isPersisted() {
      return !isVirtual;
    }
  }
}
