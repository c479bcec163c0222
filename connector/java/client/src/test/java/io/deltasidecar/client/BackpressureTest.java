package io.deltasidecar.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.deltasidecar.v1.Committable;
import java.time.Duration;
import java.util.List;
import java.util.OptionalLong;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Batching limits, the ack window and the linger timer. */
class BackpressureTest extends SidecarFixture {
  @BeforeEach
  void createTable() {
    client.createTable("bp", "id BIGINT, v STRING", "id", 4, false);
  }

  @Test
  void oneBatchInFlightStillDeliversEverything() {
    final int rows = 20_000;
    Registration reg = client.register("bp", "bp/0", OptionalLong.empty());
    WriterOptions one =
        WriterOptions.builder()
            .maxInFlightBatches(1)
            .maxBatchBytes(512) // about 25 rows: every batch waits for the previous ack
            .lingerTime(Duration.ofSeconds(30))
            .build();
    Committable c;
    try (RecordWriter w = client.openWriter(reg, one)) {
      for (long i = 0; i < rows; i++) {
        w.upsert(i, "value " + i);
      }
      c = w.prepareCommit(1);
      assertEquals(rows, w.rowsSent());
      assertTrue(w.bytesSent() > 512L * 100, "expected hundreds of batches");
    }
    assertEquals(rows, c.getRows());
    client.commit(List.of(c));
    List<String> lines = sidecar.deltactlScan("bp");
    assertEquals(rows, lines.size());
    assertEquals("{\"id\":0,\"v\":\"value 0\"}", lines.get(0));
    assertEquals("{\"id\":19999,\"v\":\"value 19999\"}", lines.get(rows - 1));
  }

  @Test
  void aBatchIsSentWhenFullOrAtOnceWithZeroLinger() {
    Registration reg = client.register("bp", "bp/1", OptionalLong.empty());
    WriterOptions sevenRows =
        WriterOptions.builder().maxBatchRows(7).lingerTime(Duration.ofSeconds(30)).build();
    try (RecordWriter w = client.openWriter(reg, sevenRows)) {
      for (long i = 0; i < 100; i++) {
        w.upsert(i, "a");
      }
      assertEquals(98, w.rowsSent()); // 14 full batches; 2 rows wait for the next flush
      client.commit(List.of(w.prepareCommit(1)));
      assertEquals(100, w.rowsSent());
    }
    Registration reg2 = client.register("bp", "bp/2", OptionalLong.empty());
    WriterOptions noLinger = WriterOptions.builder().lingerTime(Duration.ZERO).build();
    try (RecordWriter w = client.openWriter(reg2, noLinger)) {
      for (long i = 100; i < 110; i++) {
        w.upsert(i, "b");
        assertEquals(i - 99, w.rowsSent());
      }
      client.commit(List.of(w.prepareCommit(1)));
    }
    assertEquals(110, sidecar.deltactlScan("bp").size());
  }

  @Test
  void theLingerTimerSendsAPartialBatch() throws InterruptedException {
    Registration reg = client.register("bp", "bp/3", OptionalLong.empty());
    WriterOptions linger = WriterOptions.builder().lingerTime(Duration.ofMillis(20)).build();
    try (RecordWriter w = client.openWriter(reg, linger)) {
      w.upsert(1L, "alone");
      // Nothing else is written or flushed: only the timer can send the batch.
      long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
      while (w.rowsSent() == 0 && System.nanoTime() < deadline) {
        Thread.sleep(5);
      }
      assertEquals(1, w.rowsSent());
      Committable c = w.prepareCommit(1);
      assertEquals(1, c.getRows());
      client.commit(List.of(c));
    }
    assertEquals(List.of("{\"id\":1,\"v\":\"alone\"}"), sidecar.deltactlScan("bp"));
  }
}
