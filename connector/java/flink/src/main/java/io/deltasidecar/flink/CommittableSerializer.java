package io.deltasidecar.flink;

import com.google.protobuf.InvalidProtocolBufferException;
import io.deltasidecar.v1.Committable;
import java.io.IOException;
import java.nio.ByteBuffer;
import org.apache.flink.core.io.SimpleVersionedSerializer;

/**
 * Serializes one sidecar {@link Committable}. Version 1 layout: a big-endian u32 length, then
 * exactly that many bytes of the protobuf-encoded {@code deltasidecar.v1.Committable}. The length
 * makes truncation detectable (a cut protobuf message can still parse). Unknown versions,
 * truncated or trailing bytes, and a committable without table or writer id are refused with an
 * {@link IOException}.
 *
 * <p>This was the committer's committable serializer before the sink committed through one
 * committer; {@link AggregatedCommittableSerializer} reads its bytes as its version 1, so that
 * committer state from those releases still commits. The same length-prefixed protobuf is the
 * last field of a {@link StagedCommittableSerializer staged committable}.
 */
public final class CommittableSerializer implements SimpleVersionedSerializer<Committable> {
  public static final int VERSION = 1;
  private static final String WHAT = "a delta-sidecar committable";

  @Override
  public int getVersion() {
    return VERSION;
  }

  @Override
  public byte[] serialize(Committable committable) {
    byte[] proto = committable.toByteArray();
    ByteBuffer out = ByteBuffer.allocate(4 + proto.length);
    SerializedBytes.writeBytes(out, proto);
    return out.array();
  }

  @Override
  public Committable deserialize(int version, byte[] serialized) throws IOException {
    SerializedBytes.checkVersion(WHAT, version, VERSION);
    SerializedBytes in = new SerializedBytes(WHAT, serialized);
    Committable c = read(in, WHAT);
    in.expectEnd();
    return c;
  }

  /** Reads a u32 length and that many bytes of a protobuf {@link Committable}, and checks it. */
  static Committable read(SerializedBytes in, String what) throws IOException {
    byte[] proto = in.readBytes("protobuf message");
    Committable c;
    try {
      c = Committable.parseFrom(proto);
    } catch (InvalidProtocolBufferException e) {
      throw new IOException(what + " is corrupt: " + e.getMessage(), e);
    }
    if (c.getTable().isEmpty() || c.getWriterId().isEmpty()) {
      throw new IOException(what + " is corrupt: it names no table or no writer: " + c);
    }
    return c;
  }
}
