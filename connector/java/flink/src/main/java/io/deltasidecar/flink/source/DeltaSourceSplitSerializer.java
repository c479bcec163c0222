package io.deltasidecar.flink.source;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import org.apache.flink.core.io.SimpleVersionedSerializer;

/**
 * Version 1: kind (1 byte: 0 SNAPSHOT, 1 CHANGELOG), snapshot id (8), bucket (4), skip (8), all
 * big-endian.
 */
public final class DeltaSourceSplitSerializer implements SimpleVersionedSerializer<DeltaSourceSplit> {
  public static final DeltaSourceSplitSerializer INSTANCE = new DeltaSourceSplitSerializer();
  private static final int VERSION = 1;

  @Override
  public int getVersion() {
    return VERSION;
  }

  @Override
  public byte[] serialize(DeltaSourceSplit split) throws IOException {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream(21);
    try (DataOutputStream out = new DataOutputStream(bytes)) {
      write(split, out);
    }
    return bytes.toByteArray();
  }

  @Override
  public DeltaSourceSplit deserialize(int version, byte[] serialized) throws IOException {
    if (version != VERSION) {
      throw new IOException("unknown delta-sidecar source split version " + version);
    }
    try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(serialized))) {
      return read(in);
    }
  }

  static void write(DeltaSourceSplit split, DataOutputStream out) throws IOException {
    out.writeByte(split.kind() == DeltaSourceSplit.Kind.SNAPSHOT ? 0 : 1);
    out.writeLong(split.snapshotId());
    out.writeInt(split.bucket());
    out.writeLong(split.skip());
  }

  static DeltaSourceSplit read(DataInputStream in) throws IOException {
    int kind = in.readByte();
    if (kind != 0 && kind != 1) {
      throw new IOException("corrupt delta-sidecar source split: kind " + kind);
    }
    long snapshotId = in.readLong();
    int bucket = in.readInt();
    long skip = in.readLong();
    try {
      return new DeltaSourceSplit(
          kind == 0 ? DeltaSourceSplit.Kind.SNAPSHOT : DeltaSourceSplit.Kind.CHANGELOG,
          snapshotId,
          bucket,
          skip);
    } catch (IllegalArgumentException e) {
      throw new IOException("corrupt delta-sidecar source split: " + e.getMessage(), e);
    }
  }
}
