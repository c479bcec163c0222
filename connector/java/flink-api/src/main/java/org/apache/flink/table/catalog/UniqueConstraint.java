// Declares signatures from Apache Flink 1.20's public API, only the types and
// members that delta-sidecar's Flink sink uses, so that the sink compiles and is
// tested without Flink (its jars cannot be downloaded on the build machines).
// Not shipped: the sink's jar and pom never include it; real Flink provides
// these types at runtime. Bodies, where a type needs one, are minimal stand-ins.

package org.apache.flink.table.catalog;

import java.util.List;

public final class UniqueConstraint {
  private final String name;
  private final List<String> columns;

  private UniqueConstraint(String name, List<String> columns) {
    this.name = name;
    this.columns = List.copyOf(columns);
  }

  public static UniqueConstraint primaryKey(String name, List<String> columns) {
    return new UniqueConstraint(name, columns);
  }

  public String getName() {
    return name;
  }

  public List<String> getColumns() {
    return columns;
  }
}
