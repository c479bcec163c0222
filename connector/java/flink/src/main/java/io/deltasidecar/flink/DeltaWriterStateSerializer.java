package io.deltasidecar.flink;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import org.apache.flink.core.io.SimpleVersionedSerializer;

/**
 * Serializes {@link DeltaWriterState}. Version 1 layout, big-endian, nothing before or after:
 *
 * <pre>
 *   u32 n, n bytes   table name, UTF-8
 *   u32 n, n bytes   writer id, UTF-8
 *   i64              last sealed checkpoint id
 * </pre>
 *
 * Unknown versions, truncated bytes and trailing bytes are refused with an {@link IOException}.
 * A later version must keep reading version 1: restores from old checkpoints depend on it.
 */
public final class DeltaWriterStateSerializer implements SimpleVersionedSerializer<DeltaWriterState> {
  public static final int VERSION = 1;
  private static final String WHAT = "a delta-sidecar writer state";

  @Override
  public int getVersion() {
    return VERSION;
  }

  @Override
  public byte[] serialize(DeltaWriterState state) {
    byte[] table = state.table().getBytes(StandardCharsets.UTF_8);
    byte[] writer = state.writerId().getBytes(StandardCharsets.UTF_8);
    ByteBuffer out = ByteBuffer.allocate(4 + table.length + 4 + writer.length + 8);
    SerializedBytes.writeBytes(out, table);
    SerializedBytes.writeBytes(out, writer);
    out.putLong(state.lastSealedCheckpointId());
    return out.array();
  }

  @Override
  public DeltaWriterState deserialize(int version, byte[] serialized) throws IOException {
    SerializedBytes.checkVersion(WHAT, version, VERSION);
    SerializedBytes in = new SerializedBytes(WHAT, serialized);
    String table = in.readString("table");
    String writerId = in.readString("writer id");
    long lastSealed = in.readLong("last sealed checkpoint id");
    in.expectEnd();
    if (table.isEmpty() || writerId.isEmpty() || lastSealed < 0) {
      throw new IOException(
          WHAT
              + " is corrupt: table '"
              + table
              + "', writer id '"
              + writerId
              + "', last sealed checkpoint id "
              + lastSealed);
    }
    return new DeltaWriterState(table, writerId, lastSealed);
  }
}
