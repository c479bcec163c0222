package io.deltasidecar.flink;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.deltasidecar.v1.Committable;
import java.io.IOException;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The versioned serializers of the writer state and the committables, and sidecar locations. */
class SerializersTest {
  private final DeltaWriterStateSerializer states = new DeltaWriterStateSerializer();
  private final CommittableSerializer committables = new CommittableSerializer();
  private final StagedCommittableSerializer staged = new StagedCommittableSerializer();
  private final AggregatedCommittableSerializer aggregated = new AggregatedCommittableSerializer();

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

  private static final StagedCommittable LOCAL =
      new StagedCommittable(new SidecarLocation("tm-1", "127.0.0.1:7543"), COMMITTABLE);
  private static final StagedCommittable SHARED =
      new StagedCommittable(
          new SidecarLocation("", "sidecar.example:7543"),
          COMMITTABLE.toBuilder().setWriterId("op-uid/0").clearIdentity().build());

  @Test
  void stagedCommittableRoundTrips() throws IOException {
    assertEquals(1, staged.getVersion());
    assertEquals(LOCAL, staged.deserialize(1, staged.serialize(LOCAL)));
    assertEquals(SHARED, staged.deserialize(1, staged.serialize(SHARED)));
    byte[] bytes = staged.serialize(LOCAL);
    for (int n = 0; n < bytes.length; n++) {
      byte[] cut = Arrays.copyOf(bytes, n);
      IOException e = assertThrows(IOException.class, () -> staged.deserialize(1, cut), "length " + n);
      assertTrue(e.getMessage().contains("truncated"), e.getMessage());
    }
    assertThrows(IOException.class, () -> staged.deserialize(2, bytes));
  }

  @Test
  void aggregatedCommittableRoundTrips() throws IOException {
    assertEquals(2, aggregated.getVersion());
    AggregatedCommittable two = new AggregatedCommittable(List.of(LOCAL, SHARED));
    byte[] bytes = aggregated.serialize(two);
    assertEquals(two, aggregated.deserialize(2, bytes));
    assertEquals(2, ((bytes[0] & 0xff) << 24 | (bytes[1] & 0xff) << 16 | (bytes[2] & 0xff) << 8 | (bytes[3] & 0xff)));
    for (int n = 0; n < bytes.length; n++) {
      byte[] cut = Arrays.copyOf(bytes, n);
      IOException e = assertThrows(IOException.class, () -> aggregated.deserialize(2, cut), "length " + n);
      assertTrue(e.getMessage().contains("truncated"), e.getMessage());
    }
    byte[] longer = Arrays.copyOf(bytes, bytes.length + 2);
    IOException e = assertThrows(IOException.class, () -> aggregated.deserialize(2, longer));
    assertTrue(e.getMessage().contains("2 bytes follow"), e.getMessage());
    e = assertThrows(IOException.class, () -> aggregated.deserialize(2, new byte[] {0, 0, 0, 0}));
    assertTrue(e.getMessage().contains("0 entries"), e.getMessage());
    for (int version : new int[] {0, 3}) {
      e = assertThrows(IOException.class, () -> aggregated.deserialize(version, bytes));
      assertTrue(e.getMessage().contains("versions 1 to 2"), e.getMessage());
    }
  }

  /** Committer state of the per-subtask committer before aggregation: one committable, version 1. */
  @Test
  void aggregatedSerializerReadsVersionOneCommittables() throws IOException {
    byte[] v1 = committables.serialize(COMMITTABLE);
    AggregatedCommittable restored = aggregated.deserialize(1, v1);
    assertEquals(List.of(new StagedCommittable(SidecarLocation.UNKNOWN, COMMITTABLE)), restored.committables());
    assertTrue(restored.committables().get(0).stagedOn().isUnknown());
    for (int n = 0; n < v1.length; n++) {
      byte[] cut = Arrays.copyOf(v1, n);
      assertThrows(IOException.class, () -> aggregated.deserialize(1, cut), "length " + n);
    }
  }

  @Test
  void machineLocalTargetsAreTiedToTheirHost() {
    for (String t : List.of("127.0.0.1:7543", "localhost:7543", "[::1]:7543", "unix:/run/ds.sock",
        "dns:///localhost:7543", "0.0.0.0:1", "ipv4:127.0.0.2:9")) {
      assertTrue(SidecarLocation.isMachineLocal(t), t);
      assertTrue(SidecarLocation.of(t).isMachineLocal(), t);
      assertTrue(!SidecarLocation.of(t).host().isEmpty(), t);
    }
    for (String t : List.of("sidecar.example:7543", "10.1.2.3:7543", "dns:///sidecar:7543", "[2001:db8::1]:7543")) {
      assertTrue(!SidecarLocation.isMachineLocal(t), t);
      assertEquals(new SidecarLocation("", t), SidecarLocation.of(t));
    }
  }
}
