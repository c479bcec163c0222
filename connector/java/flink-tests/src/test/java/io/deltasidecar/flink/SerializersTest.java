package io.deltasidecar.flink;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.deltasidecar.v1.Committable;
import java.io.IOException;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/** The versioned serializers of the writer state and the committable. */
class SerializersTest {
  private final DeltaWriterStateSerializer states = new DeltaWriterStateSerializer();
  private final CommittableSerializer committables = new CommittableSerializer();

  private static final Committable COMMITTABLE =
      Committable.newBuilder()
          .setTable("orders")
          .setWriterId("op-uid/3")
          .setEpoch(7)
          .setCheckpointId(42)
          .setRows(1000)
          .setChecksum(0xfedcba9876543210L)
          .setIdentity("op-uid/3#2")
          .build();

  @Test
  void writerStateRoundTripsInTheDocumentedLayout() throws IOException {
    assertEquals(1, states.getVersion());
    DeltaWriterState s = new DeltaWriterState("t", "w", 5);
    byte[] bytes = states.serialize(s);
    byte[] expected = {0, 0, 0, 1, 't', 0, 0, 0, 1, 'w', 0, 0, 0, 0, 0, 0, 0, 5};
    assertArrayEquals(expected, bytes);
    assertEquals(s, states.deserialize(1, bytes));

    DeltaWriterState unicode = new DeltaWriterState("orders", "ürün-uid/12", Long.MAX_VALUE);
    assertEquals(unicode, states.deserialize(1, states.serialize(unicode)));
  }

  @Test
  void committableRoundTrips() throws IOException {
    assertEquals(1, committables.getVersion());
    byte[] bytes = committables.serialize(COMMITTABLE);
    assertEquals(COMMITTABLE.getSerializedSize(), ((bytes[0] & 0xff) << 24 | (bytes[1] & 0xff) << 16 | (bytes[2] & 0xff) << 8 | (bytes[3] & 0xff)));
    assertEquals(COMMITTABLE, committables.deserialize(1, bytes));
  }

  @Test
  void unknownVersionsAreRefused() {
    byte[] state = states.serialize(new DeltaWriterState("t", "w", 1));
    IOException e = assertThrows(IOException.class, () -> states.deserialize(2, state));
    assertTrue(e.getMessage().contains("version 2") && e.getMessage().contains("version 1"), e.getMessage());
    byte[] c = committables.serialize(COMMITTABLE);
    e = assertThrows(IOException.class, () -> committables.deserialize(0, c));
    assertTrue(e.getMessage().contains("version 0"), e.getMessage());
  }

  @Test
  void everyTruncationIsRefused() {
    byte[] state = states.serialize(new DeltaWriterState("table", "writer/0", 9));
    for (int n = 0; n < state.length; n++) {
      byte[] cut = Arrays.copyOf(state, n);
      IOException e = assertThrows(IOException.class, () -> states.deserialize(1, cut), "length " + n);
      assertTrue(e.getMessage().contains("truncated"), e.getMessage());
    }
    byte[] c = committables.serialize(COMMITTABLE);
    for (int n = 0; n < c.length; n++) {
      byte[] cut = Arrays.copyOf(c, n);
      IOException e = assertThrows(IOException.class, () -> committables.deserialize(1, cut), "length " + n);
      assertTrue(e.getMessage().contains("truncated"), e.getMessage());
    }
  }

  @Test
  void trailingBytesAndBadContentAreRefused() {
    byte[] state = states.serialize(new DeltaWriterState("t", "w", 1));
    byte[] longer = Arrays.copyOf(state, state.length + 1);
    IOException e = assertThrows(IOException.class, () -> states.deserialize(1, longer));
    assertTrue(e.getMessage().contains("1 bytes follow"), e.getMessage());

    byte[] badUtf8 = state.clone();
    badUtf8[4] = (byte) 0xc0; // an overlong form's lead byte instead of 't'
    e = assertThrows(IOException.class, () -> states.deserialize(1, badUtf8));
    assertTrue(e.getMessage().contains("UTF-8"), e.getMessage());

    byte[] negative = state.clone();
    negative[10] = (byte) 0x80;
    e = assertThrows(IOException.class, () -> states.deserialize(1, negative));
    assertTrue(e.getMessage().contains("corrupt"), e.getMessage());

    byte[] c = committables.serialize(COMMITTABLE);
    byte[] cLonger = Arrays.copyOf(c, c.length + 3);
    e = assertThrows(IOException.class, () -> committables.deserialize(1, cLonger));
    assertTrue(e.getMessage().contains("3 bytes follow"), e.getMessage());

    byte[] noTable = committables.serialize(COMMITTABLE.toBuilder().clearTable().build());
    e = assertThrows(IOException.class, () -> committables.deserialize(1, noTable));
    assertTrue(e.getMessage().contains("no table"), e.getMessage());

    byte[] garbage = {0, 0, 0, 2, (byte) 0xff, (byte) 0xff};
    e = assertThrows(IOException.class, () -> committables.deserialize(1, garbage));
    assertTrue(e.getMessage().contains("corrupt"), e.getMessage());
  }
}
