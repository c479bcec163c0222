package io.deltasidecar.flink.source;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import org.apache.flink.core.io.SimpleVersionedSerializer;

/**
 * Version 1: splits created (1 byte), the number of unassigned splits (4), then each split as
 * {@link DeltaSourceSplitSerializer} version 1 writes it.
 */
public final class EnumeratorStateSerializer implements SimpleVersionedSerializer<EnumeratorState> {
  public static final EnumeratorStateSerializer INSTANCE = new EnumeratorStateSerializer();
  private static final int VERSION = 1;

  @Override
  public int getVersion() {
    return VERSION;
  }

  @Override
  public byte[] serialize(EnumeratorState state) throws IOException {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    try (DataOutputStream out = new DataOutputStream(bytes)) {
      out.writeBoolean(state.splitsCreated());
      out.writeInt(state.unassigned().size());
      for (DeltaSourceSplit split : state.unassigned()) {
        DeltaSourceSplitSerializer.write(split, out);
      }
    }
    return bytes.toByteArray();
  }

  @Override
  public EnumeratorState deserialize(int version, byte[] serialized) throws IOException {
    if (version != VERSION) {
      throw new IOException("unknown delta-sidecar source enumerator state version " + version);
    }
    try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(serialized))) {
      boolean created = in.readBoolean();
      int n = in.readInt();
      if (n < 0 || n > serialized.length) {
        throw new IOException("corrupt delta-sidecar source enumerator state: " + n + " splits");
      }
      List<DeltaSourceSplit> splits = new ArrayList<>(n);
      for (int i = 0; i < n; i++) {
        splits.add(DeltaSourceSplitSerializer.read(in));
      }
      return new EnumeratorState(created, splits);
    }
  }
}
