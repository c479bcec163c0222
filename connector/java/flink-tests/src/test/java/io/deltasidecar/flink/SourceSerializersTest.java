package io.deltasidecar.flink;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.deltasidecar.flink.source.DeltaSourceSplit;
import io.deltasidecar.flink.source.DeltaSourceSplitSerializer;
import io.deltasidecar.flink.source.EnumeratorState;
import io.deltasidecar.flink.source.EnumeratorStateSerializer;
import java.io.IOException;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The versioned serializers of the source's splits and enumerator state, in their layouts. */
class SourceSerializersTest {
  private static final DeltaSourceSplitSerializer SPLITS = DeltaSourceSplitSerializer.INSTANCE;
  private static final EnumeratorStateSerializer STATES = EnumeratorStateSerializer.INSTANCE;

  /** Bucket 3 of snapshot 9, 258 rows emitted. */
  private static final byte[] SNAPSHOT_SPLIT = {
    0, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 1, 2
  };
  /** The changelog after snapshot 300, 5 changes of the next emitted. */
  private static final byte[] CHANGELOG_SPLIT = {
    1, 0, 0, 0, 0, 0, 0, 1, 44, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 5
  };

  @Test
  void splitsRoundTripInTheDocumentedLayout() throws IOException {
    assertEquals(1, SPLITS.getVersion());
    DeltaSourceSplit s = SPLITS.deserialize(1, SNAPSHOT_SPLIT);
    assertEquals(DeltaSourceSplit.Kind.SNAPSHOT, s.kind());
    assertEquals(9, s.snapshotId());
    assertEquals(3, s.bucket());
    assertEquals(258, s.skip());
    assertEquals("snapshot-9-bucket-3", s.splitId());
    assertArrayEquals(SNAPSHOT_SPLIT, SPLITS.serialize(s));

    DeltaSourceSplit c = SPLITS.deserialize(1, CHANGELOG_SPLIT);
    assertEquals(DeltaSourceSplit.Kind.CHANGELOG, c.kind());
    assertEquals(300, c.snapshotId());
    assertEquals(5, c.skip());
    assertEquals("changelog", c.splitId());
    assertArrayEquals(CHANGELOG_SPLIT, SPLITS.serialize(c));
  }

  @Test
  void corruptOrUnknownSplitsAreRefused() {
    byte[] badKind = SNAPSHOT_SPLIT.clone();
    badKind[0] = 7;
    IOException e = assertThrows(IOException.class, () -> SPLITS.deserialize(1, badKind));
    assertTrue(e.getMessage().contains("kind 7"), e.getMessage());
    byte[] negative = SNAPSHOT_SPLIT.clone();
    negative[13] = -1;
    assertThrows(IOException.class, () -> SPLITS.deserialize(1, negative));
    e = assertThrows(IOException.class, () -> SPLITS.deserialize(2, SNAPSHOT_SPLIT));
    assertTrue(e.getMessage().contains("version 2"), e.getMessage());
  }

  @Test
  void enumeratorStateRoundTripsWithItsSplitsInOrder() throws IOException {
    assertEquals(1, STATES.getVersion());
    EnumeratorState state =
        new EnumeratorState(
            true,
            List.of(SPLITS.deserialize(1, SNAPSHOT_SPLIT), SPLITS.deserialize(1, CHANGELOG_SPLIT)));
    byte[] bytes = STATES.serialize(state);
    assertEquals(1 + 4 + 2 * SNAPSHOT_SPLIT.length, bytes.length);
    assertEquals(1, bytes[0]);
    assertEquals(2, bytes[4]);
    assertEquals(state, STATES.deserialize(1, bytes));
    EnumeratorState fresh = new EnumeratorState(false, List.of());
    assertEquals(fresh, STATES.deserialize(1, STATES.serialize(fresh)));
    assertThrows(IOException.class, () -> STATES.deserialize(1, new byte[] {1, 0, 0, 0, 9}));
  }
}
