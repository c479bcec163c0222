package io.deltasidecar.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.deltasidecar.v1.Committable;
import io.grpc.Status;
import java.math.BigDecimal;
import java.time.Instant;
import java.time.LocalDate;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/**
 * Values of the wrong Java type or out of range are refused before anything is sent, naming the
 * column; the writer stays usable and nothing of a refused row reaches the table.
 */
class InvalidRecordTest extends SidecarFixture {
  private static final String SCHEMA =
      "id BIGINT, ti TINYINT, i INT, f FLOAT, dec DECIMAL(5,2), dt DATE, dtm DATETIME, "
          + "ts TIMESTAMP, s STRING, nn INT NOT NULL";

  @BeforeEach
  void createTable() {
    client.createTable("inv", SCHEMA, "id", 2, false);
  }

  private static Object[] good(long id) {
    return new Object[] {
      id, (byte) 1, 2, 3.5f, new BigDecimal("123.45"), LocalDate.of(2020, 1, 1),
      Instant.parse("2020-01-01T00:00:00.001Z"), Instant.parse("2020-01-01T00:00:00.000000001Z"),
      "ok", 4
    };
  }

  private static Object[] with(int column, Object value) {
    Object[] r = good(100 + column);
    r[column] = value;
    return r;
  }

  private static void refused(Executable call, String... fragments) {
    InvalidRecordException e = assertThrows(InvalidRecordException.class, call);
    assertEquals(Status.Code.INVALID_ARGUMENT, e.code());
    for (String f : fragments) {
      assertTrue(e.getMessage().contains(f), "'" + e.getMessage() + "' lacks '" + f + "'");
    }
  }

  @Test
  void badValuesAreRefusedBeforeSendingAndTheWriterStaysUsable() {
    Registration reg = client.register("inv", "inv/0", OptionalLong.empty());
    Committable c;
    try (RecordWriter w = client.openWriter(reg, WriterOptions.defaults())) {
      w.upsert(good(1));
      refused(() -> w.upsert(with(1, 128)), "column 'ti' (TINYINT)", "128");
      refused(() -> w.upsert(with(1, "1")), "column 'ti' (TINYINT)", "java.lang.String");
      refused(() -> w.upsert(with(2, 1L << 40)), "column 'i' (INT)");
      refused(() -> w.upsert(with(2, 2.0)), "column 'i' (INT)", "java.lang.Double");
      refused(() -> w.upsert(with(3, 3.5d)), "column 'f' (FLOAT)", "java.lang.Double");
      refused(() -> w.upsert(with(4, new BigDecimal("1000.00"))), "column 'dec' (DECIMAL(5,2))", "10^5");
      refused(() -> w.upsert(with(4, new BigDecimal("1.234"))), "column 'dec' (DECIMAL(5,2))", "digits after the point");
      refused(() -> w.upsert(with(4, 1.5)), "column 'dec'");
      refused(() -> w.upsert(with(5, LocalDate.of(10000, 1, 1))), "column 'dt' (DATE)");
      refused(() -> w.upsert(with(5, "2020-01-01")), "column 'dt' (DATE)", "LocalDate");
      refused(() -> w.upsert(with(6, Instant.parse("2020-01-01T00:00:00.000001Z"))), "column 'dtm' (DATETIME)", "millisecond");
      refused(() -> w.upsert(with(7, Instant.parse("2300-01-01T00:00:00Z"))), "column 'ts' (TIMESTAMP)");
      refused(() -> w.upsert(with(8, "bad \uD800 surrogate")), "column 's' (STRING)", "surrogate");
      refused(() -> w.upsert(with(9, null)), "column 'nn' is NOT NULL");
      refused(() -> w.upsert(with(0, null)), "missing primary-key column 'id'");
      refused(() -> w.upsert(1L, 2), "needs 10 values", "got 2");
      refused(() -> w.upsert(Map.of("id", 5L, "nope", 1)), "no column 'nope'");
      refused(() -> w.delete(1L, 2L), "1 values in primary-key order");
      refused(() -> w.delete("1"), "column 'id' (BIGINT)");
      // A row refused half-way leaves nothing behind: the next rows encode cleanly after it.
      w.upsert(good(2));
      w.delete(1L);
      c = w.prepareCommit(1);
    }
    assertEquals(3, c.getRows());
    client.commit(List.of(c));
    assertEquals(
        List.of(
            "{\"id\":2,\"ti\":1,\"i\":2,\"f\":3.5,\"dec\":\"123.45\",\"dt\":\"2020-01-01\","
                + "\"dtm\":\"2020-01-01 00:00:00.001\",\"ts\":\"2020-01-01 00:00:00.000000001\","
                + "\"s\":\"ok\",\"nn\":4}"),
        sidecar.deltactlScan("inv"));
  }

  @Test
  void theSidecarsInvalidArgumentIsAnInvalidRecordException() {
    InvalidRecordException e =
        assertThrows(
            InvalidRecordException.class,
            () -> client.createTable("bad", "id BIGINT, x NOSUCHTYPE", "id", 0, false));
    assertTrue(e.getMessage().contains("NOSUCHTYPE"), e.getMessage());
    refused(() -> client.get("inv", "not a long"), "column 'id' (BIGINT)");
  }
}
