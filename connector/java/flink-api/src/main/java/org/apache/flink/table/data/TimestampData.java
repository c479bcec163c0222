// Declares signatures from Apache Flink 1.20's public API, only the types and
// members that delta-sidecar's Flink sink uses, so that the sink compiles and is
// tested without Flink (its jars cannot be downloaded on the build machines).
// Not shipped: the sink's jar and pom never include it; real Flink provides
// these types at runtime. Bodies, where a type needs one, are minimal stand-ins.

package org.apache.flink.table.data;

import java.time.Instant;

public final class TimestampData implements Comparable<TimestampData> {
  private final long millisecond;
  private final int nanoOfMillisecond;

  private TimestampData(long millisecond, int nanoOfMillisecond) {
    this.millisecond = millisecond;
    this.nanoOfMillisecond = nanoOfMillisecond;
  }

  public long getMillisecond() {
    return millisecond;
  }

  public int getNanoOfMillisecond() {
    return nanoOfMillisecond;
  }

  public Instant toInstant() {
    return Instant.ofEpochMilli(millisecond).plusNanos(nanoOfMillisecond);
  }

  public static TimestampData fromEpochMillis(long milliseconds) {
    return new TimestampData(milliseconds, 0);
  }

  public static TimestampData fromEpochMillis(long milliseconds, int nanosOfMillisecond) {
    return new TimestampData(milliseconds, nanosOfMillisecond);
  }

  public static TimestampData fromInstant(Instant instant) {
    long millis = instant.getEpochSecond() * 1000 + instant.getNano() / 1_000_000;
    return new TimestampData(millis, instant.getNano() % 1_000_000);
  }

  @Override
  public int compareTo(TimestampData other) {
    int c = Long.compare(millisecond, other.millisecond);
    return c != 0 ? c : Integer.compare(nanoOfMillisecond, other.nanoOfMillisecond);
  }
}
