package io.deltasidecar.client;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.deltasidecar.v1.Committable;
import java.math.BigDecimal;
import java.time.Instant;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import org.junit.jupiter.api.Test;

/** Every column type through write, PrepareCommit, Commit, then Scan, Get, Changes and deltactl. */
class RoundTripTest extends SidecarFixture {
  private static final String SCHEMA =
      "id BIGINT, b BOOLEAN, ti TINYINT, si SMALLINT, i INT, f FLOAT, d DOUBLE, dec DECIMAL(10,2), "
          + "big DECIMAL(38,6), s STRING, bin BINARY, dt DATE, dtm DATETIME, ts TIMESTAMP, "
          + "nn INT NOT NULL";


  private static Object[] row1() {
    return new Object[] {
      1L, true, (byte) -5, (short) 300, 70000, 1.5f, 2.25d, new BigDecimal("12.30"),
      new BigDecimal("-12345678901234567890123456789012.123456"), "Zoë \uD83D\uDE00",
      new byte[] {0, 1, 2}, LocalDate.of(2024, 2, 29), Instant.parse("2024-02-29T12:34:56.789Z"),
      Instant.parse("2024-02-29T12:34:56.123456789Z"), 7
    };
  }

  /** The extremes of each type's range; every nullable column but one NULL in row 3. */
  private static Object[] row2() {
    return new Object[] {
      Long.MIN_VALUE, false, Byte.MAX_VALUE, Short.MIN_VALUE, Integer.MAX_VALUE, -0.0f,
      Double.MAX_VALUE, new BigDecimal("-99999999.99"), new BigDecimal("99999999999999999999999999999999.999999"),
      "", new byte[0], LocalDate.of(9999, 12, 31), Instant.parse("0001-01-01T00:00:00Z"),
      Instant.parse("1677-09-21T00:12:43.145224192Z"), Integer.MIN_VALUE
    };
  }

  private static Object[] row3() {
    Object[] r = new Object[15];
    r[0] = 3L;
    r[14] = 0;
    return r;
  }

  private static void assertRow(Object[] expected, Row actual) {
    for (int i = 0; i < expected.length; i++) {
      String column = actual.schema().column(i).name();
      if (expected[i] instanceof byte[] bytes) {
        assertArrayEquals(bytes, (byte[]) actual.get(column), column);
      } else {
        assertEquals(expected[i], actual.get(column), column);
      }
    }
  }

  @Test
  void everyTypeRoundTrips() {
    client.createTable("all", SCHEMA, "id", 4, false);
    Registration reg = client.register("all", "rt/0", OptionalLong.empty());
    assertEquals(15, reg.schema().columnCount());
    assertEquals(ColumnType.DECIMAL, reg.schema().column(8).type());
    assertEquals(38, reg.schema().column(8).precision());
    assertEquals(6, reg.schema().column(8).scale());

    Committable c;
    try (RecordWriter w = client.openWriter(reg, WriterOptions.defaults())) {
      w.upsert(row1());
      w.upsert(row2());
      w.upsert(row3());
      // A row by name: columns left out are NULL.
      Map<String, Object> byName = new LinkedHashMap<>();
      byName.put("id", 4L);
      byName.put("s", "by name");
      byName.put("nn", 4);
      w.upsert(byName);
      // Written and deleted in the same checkpoint: gone after the commit.
      Object[] doomed = row3();
      doomed[0] = 5L;
      w.upsert(doomed);
      w.delete(5L);
      c = w.prepareCommit(1);
    }
    assertEquals(6, c.getRows());
    List<TableCommitResult> results = client.commit(List.of(c));
    assertEquals(1, results.size());
    assertFalse(results.get(0).alreadyCommitted());
    long snapshot = results.get(0).snapshotId();

    // Scan returns the live rows in key order (Long.MIN_VALUE first).
    List<Row> rows = new ArrayList<>();
    try (CloseableIterator<Row> it = client.scan("all", OptionalLong.empty())) {
      it.forEachRemaining(rows::add);
    }
    assertEquals(4, rows.size(), rows.toString());
    assertRow(row2(), rows.get(0));
    assertRow(row1(), rows.get(1));
    assertRow(row3(), rows.get(2));
    assertEquals("by name", rows.get(3).get("s"));
    assertEquals(null, rows.get(3).get("i"));

    // Get, by key, from the latest snapshot.
    Optional<Row> got = client.get("all", 1L);
    assertTrue(got.isPresent());
    assertRow(row1(), got.get());
    assertFalse(client.get("all", 5L).isPresent());

    // deltactl reads the same table from disk.
    List<String> lines = sidecar.deltactlScan("all");
    assertEquals(4, lines.size(), lines.toString());
    assertEquals(
        "{\"id\":-9223372036854775808,\"b\":false,\"ti\":127,\"si\":-32768,\"i\":2147483647,"
            + "\"f\":-0.0,\"d\":1.7976931348623157e+308,\"dec\":\"-99999999.99\","
            + "\"big\":\"99999999999999999999999999999999.999999\",\"s\":\"\",\"bin\":\"\","
            + "\"dt\":\"9999-12-31\",\"dtm\":\"0001-01-01 00:00:00.000\","
            + "\"ts\":\"1677-09-21 00:12:43.145224192\",\"nn\":-2147483648}",
        lines.get(0));
    assertEquals(
        "{\"id\":1,\"b\":true,\"ti\":-5,\"si\":300,\"i\":70000,\"f\":1.5,\"d\":2.25,"
            + "\"dec\":\"12.30\",\"big\":\"-12345678901234567890123456789012.123456\","
            + "\"s\":\"Zoë \uD83D\uDE00\",\"bin\":\"AAEC\",\"dt\":\"2024-02-29\","
            + "\"dtm\":\"2024-02-29 12:34:56.789\",\"ts\":\"2024-02-29 12:34:56.123456789\",\"nn\":7}",
        lines.get(1));
    assertEquals(
        "{\"id\":3,\"b\":null,\"ti\":null,\"si\":null,\"i\":null,\"f\":null,\"d\":null,"
            + "\"dec\":null,\"big\":null,\"s\":null,\"bin\":null,\"dt\":null,\"dtm\":null,"
            + "\"ts\":null,\"nn\":0}",
        lines.get(2));

    // A second checkpoint: an update and a delete, seen by Changes and History.
    Registration again = client.register("all", "rt/0", OptionalLong.of(1));
    try (RecordWriter w = client.openWriter(again, WriterOptions.defaults())) {
      Object[] updated = row1();
      updated[9] = "updated";
      w.upsert(updated);
      w.delete(3L);
      c = w.prepareCommit(2);
    }
    long snapshot2 = client.commit(List.of(c)).get(0).snapshotId();
    assertTrue(snapshot2 > snapshot);
    List<Row> changes = new ArrayList<>();
    try (CloseableIterator<Row> it = client.changes("all", snapshot, OptionalLong.empty())) {
      it.forEachRemaining(changes::add);
    }
    assertEquals(2, changes.size(), changes.toString());
    assertEquals("updated", changes.get(0).get("s"));
    assertFalse(changes.get(0).isDelete());
    assertTrue(changes.get(1).isDelete());
    assertEquals(3L, changes.get(1).get("id"));

    // Time travel: the first snapshot still has the old value.
    try (CloseableIterator<Row> it = client.scan("all", OptionalLong.of(snapshot))) {
      it.next();
      assertEquals("Zoë \uD83D\uDE00", it.next().get("s"));
    }

    List<SnapshotInfo> history = client.history("all");
    SnapshotInfo last = history.get(history.size() - 1);
    assertEquals(snapshot2, last.id());
    assertEquals(List.of(new CommitIdentity("rt/0", 2)), last.identities());
  }

  @Test
  void timestampLtzRoundTripsWithItsPrecision() {
    client.createTable(
        "ltz", "k TIMESTAMP_LTZ(3), t9 TIMESTAMP_LTZ(9), t0 TIMESTAMP_LTZ(0), t TIMESTAMP_LTZ", "k",
        2, false);
    TableSchema schema = client.describeTable("ltz");
    assertEquals("TIMESTAMP_LTZ(3)", schema.column(0).typeName());
    assertEquals(ColumnType.TIMESTAMP_LTZ, schema.column(0).type());
    assertEquals(6, schema.column(3).precision());
    Object[][] written = {
      {Instant.parse("2024-02-29T12:34:56.789Z"), Instant.parse("2262-04-11T23:47:16.854775807Z"),
        Instant.parse("1969-12-31T23:59:59Z"), Instant.parse("2024-02-29T12:34:56.123456Z")},
      {Instant.parse("1677-09-21T00:12:43.146Z"), Instant.parse("1677-09-21T00:12:43.145224192Z"),
        null, null},
    };
    Registration reg = client.register("ltz", "ltz/0", OptionalLong.empty());
    Committable c;
    try (RecordWriter w = client.openWriter(reg, WriterOptions.defaults())) {
      for (Object[] r : written) {
        w.upsert(r);
      }
      c = w.prepareCommit(1);
    }
    client.commit(List.of(c));

    List<Row> rows = new ArrayList<>();
    try (CloseableIterator<Row> it = client.scan("ltz", OptionalLong.empty())) {
      it.forEachRemaining(rows::add);
    }
    assertEquals(2, rows.size(), rows.toString());
    assertRow(written[1], rows.get(0));
    assertRow(written[0], rows.get(1));
    Optional<Row> got = client.get("ltz", Instant.parse("2024-02-29T12:34:56.789Z"));
    assertTrue(got.isPresent());
    assertRow(written[0], got.get());
    assertEquals(
        List.of(
            "{\"k\":\"1677-09-21T00:12:43.146Z\",\"t9\":\"1677-09-21T00:12:43.145224192Z\","
                + "\"t0\":null,\"t\":null}",
            "{\"k\":\"2024-02-29T12:34:56.789Z\",\"t9\":\"2262-04-11T23:47:16.854775807Z\","
                + "\"t0\":\"1969-12-31T23:59:59Z\",\"t\":\"2024-02-29T12:34:56.123456Z\"}"),
        sidecar.deltactlScan("ltz"));
  }

  @Test
  void decimalsAreScaledExactlyAndDescribeMatchesTheSchema() {
    client.createTable("dec", "k INT, v DECIMAL(6,3)", "k", 0, false);
    client.createTable("dec", "k INT, v DECIMAL(6,3)", "k", 0, true); // same table: fine
    TableSchema schema = client.describeTable("dec");
    assertEquals(List.of("k"), schema.primaryKey());
    assertEquals(16, schema.buckets());
    assertFalse(schema.column(0).nullable());
    assertTrue(schema.column(1).nullable());

    Registration reg = client.register("dec", "w", OptionalLong.empty());
    try (RecordWriter w = client.openWriter(reg, WriterOptions.defaults())) {
      w.upsert(1, new BigDecimal("1.5"));
      w.upsert(2, 42L); // an integral value is a DECIMAL with no fraction
      w.upsert(3, new BigDecimal("-999.999"));
      client.commit(List.of(w.prepareCommit(1)));
    }
    assertEquals(new BigDecimal("1.500"), client.get("dec", 1).orElseThrow().get("v"));
    assertEquals(new BigDecimal("42.000"), client.get("dec", 2).orElseThrow().get("v"));
    assertEquals(
        List.of("{\"k\":1,\"v\":\"1.500\"}", "{\"k\":2,\"v\":\"42.000\"}", "{\"k\":3,\"v\":\"-999.999\"}"),
        sidecar.deltactlScan("dec"));
  }
}
