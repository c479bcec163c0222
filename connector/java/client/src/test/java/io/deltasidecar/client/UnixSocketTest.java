package io.deltasidecar.client;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;
import java.util.List;
import java.util.OptionalLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A sidecar on a unix socket, reached with a "unix:" target. */
class UnixSocketTest {
  @TempDir Path dir;

  @Test
  void writesAndReadsOverAUnixSocket() {
    String socket = "unix:" + dir.resolve("sidecar.sock");
    try (Sidecar sidecar = Sidecar.startOn(dir, socket);
        DeltaSidecarClient client = DeltaSidecarClient.connect(socket)) {
      client.createTable("u", "id INT, v STRING", "id", 1, false);
      Registration reg = client.register("u", "unix/0", OptionalLong.empty());
      try (RecordWriter w = client.openWriter(reg, WriterOptions.defaults())) {
        for (int i = 0; i < 1000; i++) {
          w.upsert(i, "v" + i);
        }
        client.commit(List.of(w.prepareCommit(1)));
      }
      assertEquals("v999", client.get("u", 999).orElseThrow().get("v"));
      assertEquals(1000, sidecar.deltactlScan("u").size());
    }
  }
}
