package io.deltasidecar.client;

import java.time.Duration;

/** How a {@link RecordWriter} batches rows. Immutable; build with {@link #builder()}. */
public final class WriterOptions {
  private final int maxBatchBytes;
  private final int maxBatchRows;
  private final Duration lingerTime;
  private final int maxInFlightBatches;

  private WriterOptions(Builder b) {
    maxBatchBytes = b.maxBatchBytes;
    maxBatchRows = b.maxBatchRows;
    lingerTime = b.lingerTime;
    maxInFlightBatches = b.maxInFlightBatches;
  }

  public static Builder builder() {
    return new Builder();
  }

  /** The defaults: 1 MiB batches, 100 000 rows, 100 ms linger, 8 batches in flight. */
  public static WriterOptions defaults() {
    return builder().build();
  }

  /** A batch is sent once it holds this many bytes (default 1 MiB). */
  public int maxBatchBytes() {
    return maxBatchBytes;
  }

  /** ...or this many rows (default 100 000). */
  public int maxBatchRows() {
    return maxBatchRows;
  }

  /**
   * ...or once its first row is this old (default 100 ms), so a slow stream still reaches the
   * sidecar. Zero sends every row at once.
   */
  public Duration lingerTime() {
    return lingerTime;
  }

  /** Batches sent and not acknowledged before a write blocks (default 8). */
  public int maxInFlightBatches() {
    return maxInFlightBatches;
  }

  public static final class Builder {
    private int maxBatchBytes = 1 << 20;
    private int maxBatchRows = 100_000;
    private Duration lingerTime = Duration.ofMillis(100);
    private int maxInFlightBatches = 8;

    private Builder() {}

    /** 1 byte to 64 MiB (the sidecar's max_bytes per batch). */
    public Builder maxBatchBytes(int bytes) {
      if (bytes < 1 || bytes > (64 << 20)) {
        throw new IllegalArgumentException("maxBatchBytes must be 1..67108864, got " + bytes);
      }
      maxBatchBytes = bytes;
      return this;
    }

    /** 1 to 1 000 000 (the sidecar's max_rows per batch). */
    public Builder maxBatchRows(int rows) {
      if (rows < 1 || rows > 1_000_000) {
        throw new IllegalArgumentException("maxBatchRows must be 1..1000000, got " + rows);
      }
      maxBatchRows = rows;
      return this;
    }

    public Builder lingerTime(Duration linger) {
      if (linger.isNegative()) {
        throw new IllegalArgumentException("lingerTime must not be negative, got " + linger);
      }
      lingerTime = linger;
      return this;
    }

    public Builder maxInFlightBatches(int batches) {
      if (batches < 1) {
        throw new IllegalArgumentException("maxInFlightBatches must be at least 1, got " + batches);
      }
      maxInFlightBatches = batches;
      return this;
    }

    public WriterOptions build() {
      return new WriterOptions(this);
    }
  }
}
