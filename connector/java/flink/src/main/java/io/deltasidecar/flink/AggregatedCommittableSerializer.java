package io.deltasidecar.flink;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import org.apache.flink.core.io.SimpleVersionedSerializer;

/**
 * The committer's committable serializer: an {@link AggregatedCommittable} in the committer's
 * checkpointed state. Big-endian, nothing before or after.
 *
 * <p>Version 2:
 *
 * <pre>
 *   u32 count        entries, at least 1
 *   count entries    each a staged committable in {@link StagedCommittableSerializer}'s version 1
 *                    layout (sidecar host, sidecar target, protobuf committable)
 * </pre>
 *
 * <p>Version 1 is the layout of {@link CommittableSerializer} (one committable, a u32 length and
 * the protobuf), written by the per-subtask committer of earlier releases. It is read as an
 * aggregate of that one committable, staged on {@link SidecarLocation#UNKNOWN} (the committer's
 * own sidecar), so that a job restored from such a checkpoint or savepoint commits what that
 * committer had not committed yet. Keep reading it.
 *
 * <p>Unknown versions, truncated or trailing bytes and invalid content are refused with an {@link
 * IOException}.
 */
public final class AggregatedCommittableSerializer
    implements SimpleVersionedSerializer<AggregatedCommittable> {
  public static final int VERSION = 2;
  private static final String WHAT = "a delta-sidecar aggregated committable";

  @Override
  public int getVersion() {
    return VERSION;
  }

  @Override
  public byte[] serialize(AggregatedCommittable aggregated) {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    try (DataOutputStream out = new DataOutputStream(bytes)) {
      out.writeInt(aggregated.committables().size());
      for (StagedCommittable staged : aggregated.committables()) {
        StagedCommittableSerializer.write(out, staged);
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e); // a ByteArrayOutputStream does not fail
    }
    return bytes.toByteArray();
  }

  @Override
  public AggregatedCommittable deserialize(int version, byte[] serialized) throws IOException {
    SerializedBytes.checkVersion(WHAT, version, 1, VERSION);
    SerializedBytes in = new SerializedBytes(WHAT, serialized);
    if (version == 1) {
      AggregatedCommittable one =
          AggregatedCommittable.of(
              new StagedCommittable(
                  SidecarLocation.UNKNOWN, CommittableSerializer.read(in, WHAT)));
      in.expectEnd();
      return one;
    }
    int count = in.readInt("entry count");
    if (count < 1) {
      throw new IOException(WHAT + " is corrupt: " + count + " entries");
    }
    List<StagedCommittable> entries = new ArrayList<>(Math.min(count, 1024));
    for (int i = 0; i < count; i++) {
      entries.add(StagedCommittableSerializer.read(in, WHAT));
    }
    in.expectEnd();
    return new AggregatedCommittable(entries);
  }
}
