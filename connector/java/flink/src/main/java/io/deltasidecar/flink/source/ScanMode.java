package io.deltasidecar.flink.source;

import java.util.Locale;

/** What a {@link DeltaSidecarSource} reads ({@code 'scan.mode'} in SQL). */
public enum ScanMode {
  /** One snapshot (the latest, or a given one), split by bucket, then the read ends. Bounded. */
  SNAPSHOT("snapshot"),
  /**
   * One snapshot (the latest, or a given one) as inserts, then every later commit's changes as
   * upserts and deletes. Unbounded.
   */
  LATEST("latest"),
  /** Only the changes committed after a given snapshot, as upserts and deletes. Unbounded. */
  FROM_SNAPSHOT("from-snapshot");

  private final String option;

  ScanMode(String option) {
    this.option = option;
  }

  /** The spelling of the SQL option value. */
  public String option() {
    return option;
  }

  public boolean isBounded() {
    return this == SNAPSHOT;
  }

  /** The mode spelled {@code value} ("snapshot", "latest", "from-snapshot", any case). */
  public static ScanMode parse(String value) {
    String v = value.trim().toLowerCase(Locale.ROOT);
    for (ScanMode m : values()) {
      if (m.option.equals(v)) {
        return m;
      }
    }
    throw new IllegalArgumentException(
        "unknown scan mode '" + value + "' (choose snapshot, latest or from-snapshot)");
  }
}
