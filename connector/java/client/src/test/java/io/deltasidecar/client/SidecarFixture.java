package io.deltasidecar.client;

import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.io.TempDir;

/**
 * A real delta-sidecar in a temporary directory and a client of it, for each test: started before
 * the subclass's own {@code @BeforeEach} methods run, stopped after its tests.
 */
abstract class SidecarFixture {
  @TempDir Path dir;
  Sidecar sidecar;
  DeltaSidecarClient client;

  @BeforeEach
  void startSidecar() {
    sidecar = Sidecar.start(dir);
    client = DeltaSidecarClient.connect(sidecar.target());
  }

  @AfterEach
  void stopSidecar() {
    client.close();
    sidecar.close();
  }
}
