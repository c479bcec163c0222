// Declares signatures from Apache Flink 1.20's public API, only the types and
// members that delta-sidecar's Flink sink uses, so that the sink compiles and is
// tested without Flink (its jars cannot be downloaded on the build machines).
// Not shipped: the sink's jar and pom never include it; real Flink provides
// these types at runtime. Bodies, where a type needs one, are minimal stand-ins.

package org.apache.flink.table.connector;

import java.util.Collections;
import java.util.EnumSet;
import java.util.Set;
import org.apache.flink.types.RowKind;

public final class ChangelogMode {
  private final Set<RowKind> kinds;

  private ChangelogMode(Set<RowKind> kinds) {
    this.kinds = Collections.unmodifiableSet(EnumSet.copyOf(kinds));
  }

  public static ChangelogMode insertOnly() {
    return new ChangelogMode(EnumSet.of(RowKind.INSERT));
  }

  public static ChangelogMode upsert() {
    return new ChangelogMode(EnumSet.of(RowKind.INSERT, RowKind.UPDATE_AFTER, RowKind.DELETE));
  }

  public static ChangelogMode all() {
    return new ChangelogMode(EnumSet.allOf(RowKind.class));
  }

  public Set<RowKind> getContainedKinds() {
    return kinds;
  }

  public boolean contains(RowKind kind) {
    return kinds.contains(kind);
  }

  public boolean containsOnly(RowKind kind) {
    return kinds.size() == 1 && kinds.contains(kind);
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof ChangelogMode other && kinds.equals(other.kinds);
  }

  @Override
  public int hashCode() {
    return kinds.hashCode();
  }

  @Override
  public String toString() {
    return kinds.toString();
  }
}
