package io.deltasidecar.flink;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import org.apache.flink.core.io.SimpleVersionedSerializer;

/**
 * Serializes a {@link StagedCommittable} (the writers' results, on their way to the committer).
 * Version 1 layout, big-endian, nothing before or after:
 *
 * <pre>
 *   u32 n, n bytes   host of the staging sidecar, UTF-8 (empty: the target is not machine-local)
 *   u32 n, n bytes   target of the staging sidecar, UTF-8 (empty: unknown)
 *   u32 n, n bytes   the protobuf deltasidecar.v1.Committable
 * </pre>
 *
 * The same layout is each entry of an {@link AggregatedCommittableSerializer aggregated
 * committable}. Unknown versions, truncated or trailing bytes and invalid content are refused
 * with an {@link IOException}.
 */
public final class StagedCommittableSerializer
    implements SimpleVersionedSerializer<StagedCommittable> {
  public static final int VERSION = 1;
  private static final String WHAT = "a delta-sidecar staged committable";

  @Override
  public int getVersion() {
    return VERSION;
  }

  @Override
  public byte[] serialize(StagedCommittable staged) {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    try (DataOutputStream out = new DataOutputStream(bytes)) {
      write(out, staged);
    } catch (IOException e) {
      throw new UncheckedIOException(e); // a ByteArrayOutputStream does not fail
    }
    return bytes.toByteArray();
  }

  @Override
  public StagedCommittable deserialize(int version, byte[] serialized) throws IOException {
    SerializedBytes.checkVersion(WHAT, version, VERSION);
    SerializedBytes in = new SerializedBytes(WHAT, serialized);
    StagedCommittable staged = read(in, WHAT);
    in.expectEnd();
    return staged;
  }

  static void write(DataOutputStream out, StagedCommittable staged) throws IOException {
    SerializedBytes.writeString(out, staged.stagedOn().host());
    SerializedBytes.writeString(out, staged.stagedOn().target());
    SerializedBytes.writeBytes(out, staged.committable().toByteArray());
  }

  static StagedCommittable read(SerializedBytes in, String what) throws IOException {
    String host = in.readString("sidecar host");
    String target = in.readString("sidecar target");
    if (target.isEmpty() && !host.isEmpty()) {
      throw new IOException(what + " is corrupt: sidecar host '" + host + "' without a target");
    }
    return new StagedCommittable(
        new SidecarLocation(host, target), CommittableSerializer.read(in, what));
  }
}
