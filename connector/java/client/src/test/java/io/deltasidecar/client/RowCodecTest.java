package io.deltasidecar.client;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.math.BigDecimal;
import java.time.Instant;
import java.time.LocalDate;
import java.util.HexFormat;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The packed row encoding, checked against the worked example of docs/protocol.md. */
class RowCodecTest {
  private static TableSchema schema(String table, List<String> key, TableSchema.Column... columns) {
    return new TableSchema(table, List.of(columns), key, 16, 0);
  }

  private static String hex(RowBuffer b) {
    return HexFormat.of().formatHex(b.array(), 0, b.size());
  }

  @Test
  void encodesTheWorkedExampleOfTheProtocol() {
    TableSchema s =
        schema(
            "t",
            List.of("id"),
            new TableSchema.Column("id", "BIGINT", false),
            new TableSchema.Column("name", "STRING", true),
            new TableSchema.Column("qty", "INT", true));
    RowCodec codec = new RowCodec(s);
    RowBuffer b = new RowBuffer(8);
    codec.encodeUpsert(new Object[] {7L, "Zoë", null}, b);
    codec.encodeUpsert(new Object[] {-2L, "", 300}, b);
    codec.encodeDelete(new Object[] {7L}, b);
    assertEquals(
        "01" + "04" + "0700000000000000" + "045a6fc3ab"
            + "01" + "00" + "feffffffffffffff" + "00" + "2c010000"
            + "02" + "0700000000000000",
        hex(b));
    assertEquals(39, b.size());

    List<Row> rows = codec.decode(java.util.Arrays.copyOf(b.array(), b.size()), 3);
    assertEquals(7L, rows.get(0).get("id"));
    assertEquals("Zoë", rows.get(0).get("name"));
    assertEquals(null, rows.get(0).get("qty"));
    assertEquals(300, rows.get(1).get("qty"));
    assertTrue(rows.get(2).isDelete());
    assertEquals(7L, rows.get(2).get("id"));
    assertFalse(rows.get(1).isDelete());
  }

  @Test
  void encodesEveryTypeAndDecodesItBack() {
    TableSchema s =
        schema(
            "t",
            List.of("k"),
            new TableSchema.Column("k", "INT", false),
            new TableSchema.Column("b", "BOOLEAN", true),
            new TableSchema.Column("ti", "TINYINT", true),
            new TableSchema.Column("si", "SMALLINT", true),
            new TableSchema.Column("bi", "BIGINT", true),
            new TableSchema.Column("f", "FLOAT", true),
            new TableSchema.Column("d", "DOUBLE", true),
            new TableSchema.Column("dec", "DECIMAL(38,4)", true),
            new TableSchema.Column("s", "STRING", true),
            new TableSchema.Column("bin", "BINARY", true),
            new TableSchema.Column("dt", "DATE", true),
            new TableSchema.Column("dtm", "DATETIME", true),
            new TableSchema.Column("ts", "TIMESTAMP", true));
    RowCodec codec = new RowCodec(s);
    Object[] values = {
      -5, true, (byte) -128, (short) 32767, Long.MIN_VALUE, Float.NaN, -0.0d,
      new BigDecimal("-9999999999999999999999999999999999.9999"), "a\u0000\uD83D\uDE00é",
      new byte[] {0, (byte) 0xff}, LocalDate.of(1, 1, 1), Instant.parse("9999-12-31T23:59:59.999Z"),
      Instant.parse("1969-12-31T23:59:59.999999999Z")
    };
    RowBuffer b = new RowBuffer(8);
    codec.encodeUpsert(values, b);
    Row row = codec.decode(java.util.Arrays.copyOf(b.array(), b.size()), 1).get(0);
    for (int i = 0; i < values.length; i++) {
      if (values[i] instanceof byte[] bytes) {
        assertArrayEquals(bytes, (byte[]) row.get(i));
      } else {
        assertEquals(values[i], row.get(i), s.column(i).name());
      }
    }
    // The DECIMAL is the unscaled -(10^38 - 1) as a 16-byte little-endian two's complement.
    String h = hex(b);
    int decAt = (1 + 2 + 4 + 1 + 1 + 2 + 8 + 4 + 8) * 2;
    assertEquals("01000000c0dd75f6853b79a557b3c4b4", h.substring(decAt, decAt + 32));
  }

  @Test
  void timestampLtzIsInt64NanosecondsAndKeepsItsPrecision() {
    TableSchema s =
        schema(
            "t",
            List.of("k"),
            new TableSchema.Column("k", "TIMESTAMP_LTZ(3)", false),
            new TableSchema.Column("t9", "TIMESTAMP_LTZ(9)", true),
            new TableSchema.Column("t0", "timestamp_ltz( 0 )", true),
            new TableSchema.Column("t6", "TIMESTAMP_LTZ", true));
    assertEquals(ColumnType.TIMESTAMP_LTZ, s.column(0).type());
    assertEquals(3, s.column(0).precision());
    assertEquals(9, s.column(1).precision());
    assertEquals(0, s.column(2).precision());
    assertEquals(6, s.column(3).precision(), "plain TIMESTAMP_LTZ is TIMESTAMP_LTZ(6)");
    RowCodec codec = new RowCodec(s);
    Object[] values = {
      Instant.parse("2024-02-29T12:34:56.123Z"),
      Instant.parse("2262-04-11T23:47:16.854775807Z"),
      Instant.parse("1969-12-31T23:59:59Z"),
      Instant.parse("1677-09-21T00:12:43.145225Z")
    };
    RowBuffer b = new RowBuffer(8);
    codec.encodeUpsert(values, b);
    codec.encodeDelete(new Object[] {values[0]}, b);
    assertEquals(
        "01" + "00" + "c034ecd18655b817" + "ffffffffffffff7f" + "003665c4ffffffff"
            + "2803000000000080"
            + "02" + "c034ecd18655b817",
        hex(b));
    List<Row> rows = codec.decode(java.util.Arrays.copyOf(b.array(), b.size()), 2);
    for (int i = 0; i < values.length; i++) {
      assertEquals(values[i], rows.get(0).get(i), s.column(i).name());
    }
    assertEquals(values[0], rows.get(1).get("k"));

    // A digit finer than the column keeps is refused, never rounded away.
    int before = b.size();
    InvalidRecordException e =
        org.junit.jupiter.api.Assertions.assertThrows(
            InvalidRecordException.class,
            () ->
                codec.encodeUpsert(
                    new Object[] {Instant.parse("2024-02-29T12:34:56.1234Z"), null, null, null},
                    b));
    assertEquals(
        "INVALID_ARGUMENT: column 'k' (TIMESTAMP_LTZ(3)): 2024-02-29T12:34:56.123400Z has digits"
            + " finer than the precision (nanoseconds must be a multiple of 1000000)",
        e.getMessage());
    org.junit.jupiter.api.Assertions.assertThrows(
        InvalidRecordException.class,
        () -> codec.encodeUpsert(new Object[] {values[0], null, Instant.ofEpochMilli(1), null}, b));
    org.junit.jupiter.api.Assertions.assertThrows(
        InvalidRecordException.class,
        () -> codec.encodeDelete(new Object[] {Instant.ofEpochSecond(0, 1)}, b));
    assertEquals(before, b.size(), "a refused row leaves the buffer as it was");
    org.junit.jupiter.api.Assertions.assertThrows(
        IllegalArgumentException.class, () -> new TableSchema.Column("x", "TIMESTAMP_LTZ(10)", true));
  }
}
