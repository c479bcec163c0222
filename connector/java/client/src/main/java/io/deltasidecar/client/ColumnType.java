package io.deltasidecar.client;

import java.util.Locale;

/**
 * The column types of a delta table and the Java class that carries each one's values (see
 * docs/protocol.md, "Values").
 */
public enum ColumnType {
  BOOLEAN(1, Boolean.class),
  TINYINT(1, Byte.class),
  SMALLINT(2, Short.class),
  INT(4, Integer.class),
  BIGINT(8, Long.class),
  FLOAT(4, Float.class),
  DOUBLE(8, Double.class),
  /** Unscaled value as a 16-byte integer; carried as {@link java.math.BigDecimal}. */
  DECIMAL(16, java.math.BigDecimal.class),
  STRING(0, String.class),
  BINARY(0, byte[].class),
  /** Days since 1970-01-01; carried as {@link java.time.LocalDate}. */
  DATE(4, java.time.LocalDate.class),
  /** Milliseconds since the epoch, UTC; carried as {@link java.time.Instant}. */
  DATETIME(8, java.time.Instant.class),
  /** Nanoseconds since the epoch, UTC; carried as {@link java.time.Instant}. */
  TIMESTAMP(8, java.time.Instant.class),
  /**
   * TIMESTAMP_LTZ(p), an instant: nanoseconds since the epoch, UTC, with no digits finer than p
   * (0 to 9); carried as {@link java.time.Instant}.
   */
  TIMESTAMP_LTZ(8, java.time.Instant.class),
  /**
   * ARRAY&lt;T&gt;, a value column only; carried as a {@link java.util.List} of T's values (null
   * for a NULL element). The element type is {@link TableSchema.Column#children()}.
   */
  ARRAY(0, java.util.List.class),
  /**
   * MAP&lt;K,V&gt;, a value column only; carried as a {@link java.util.Map} of K's values (never
   * null) to V's values (null for NULL), read back as a {@link java.util.LinkedHashMap} in stored
   * order.
   */
  MAP(0, java.util.Map.class),
  /**
   * STRUCT&lt;name:T,...&gt;, a value column only; carried as a {@link java.util.Map} of field
   * name to value (a missing field is NULL), read back as a {@link java.util.LinkedHashMap} of
   * every field in order.
   */
  STRUCT(0, java.util.Map.class);

  private final int fixedWidth;
  private final Class<?> javaClass;

  ColumnType(int fixedWidth, Class<?> javaClass) {
    this.fixedWidth = fixedWidth;
    this.javaClass = javaClass;
  }

  /**
   * Bytes of a value on the wire; 0 for STRING, BINARY and the nested types, which are
   * length-prefixed.
   */
  public int fixedWidth() {
    return fixedWidth;
  }

  /** The class of the values the client returns for this type. */
  public Class<?> javaClass() {
    return javaClass;
  }

  /** Whether values of this type hold other values (ARRAY, MAP, STRUCT). */
  public boolean isNested() {
    return this == ARRAY || this == MAP || this == STRUCT;
  }

  /** The type named by {@code name} ("BIGINT", "decimal"), without parameters. */
  public static ColumnType parse(String name) {
    try {
      return valueOf(name.trim().toUpperCase(Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("unknown column type '" + name + "'");
    }
  }
}
