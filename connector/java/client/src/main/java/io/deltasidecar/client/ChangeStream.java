package io.deltasidecar.client;

import io.deltasidecar.v1.DeltaSidecarGrpc;
import io.deltasidecar.v1.ScanResponse;
import io.grpc.Channel;
import io.grpc.Context;
import io.grpc.StatusRuntimeException;
import java.util.ArrayDeque;
import java.util.Iterator;
import java.util.NoSuchElementException;
import java.util.function.Function;

/**
 * The decoded messages of a server-streaming read (Scan, Changes, FollowChanges): each message's
 * rows become {@link Change}s of the message's snapshot, and a {@code snapshot_end} message
 * becomes a {@link Change.Op#SNAPSHOT_END}. {@link #close()} cancels the call, from any thread;
 * a reader blocked in {@link #hasNext()} then gets a CANCELLED {@link DeltaSidecarException}.
 * Otherwise not thread-safe: one thread iterates.
 */
final class ChangeStream implements CloseableIterator<Change> {
  /** The codec of the rows of a message: by its schema version and snapshot. */
  interface Codecs {
    RowCodec of(long schemaId, long snapshotId);
  }

  private final Codecs codecs;
  private final String call;
  private final Context.CancellableContext context;
  private final Iterator<ScanResponse> responses;
  private final ArrayDeque<Change> decoded = new ArrayDeque<>();
  private volatile boolean closed;

  ChangeStream(
      Channel channel,
      Codecs codecs,
      String call,
      Function<DeltaSidecarGrpc.DeltaSidecarBlockingStub, Iterator<ScanResponse>> start) {
    this.codecs = codecs;
    this.call = call;
    this.context = Context.current().withCancellation();
    Context previous = context.attach();
    try {
      // A stream has no overall deadline: a large table takes as long as it takes.
      responses = start.apply(DeltaSidecarGrpc.newBlockingStub(channel));
    } finally {
      context.detach(previous);
    }
  }

  @Override
  public boolean hasNext() {
    if (closed) {
      return false;
    }
    try {
      while (decoded.isEmpty()) {
        if (!responses.hasNext()) {
          close();
          return false;
        }
        decode(responses.next());
      }
      return true;
    } catch (StatusRuntimeException e) {
      close();
      throw DeltaSidecarException.from(e, call);
    }
  }

  private void decode(ScanResponse r) {
    long snapshot = r.getSnapshotId();
    if (r.getBatch().getRowCount() > 0) {
      RowCodec codec = codecs.of(r.getSchemaId(), snapshot);
      for (Row row : codec.decode(r.getBatch().getRows().toByteArray(), r.getBatch().getRowCount())) {
        decoded.add(Change.of(snapshot, row));
      }
    }
    if (r.getSnapshotEnd()) {
      decoded.add(Change.end(snapshot));
    }
  }

  @Override
  public Change next() {
    if (!hasNext()) {
      throw new NoSuchElementException();
    }
    return decoded.poll();
  }

  /** The rows of this stream (for Scan and Changes, which send no snapshot ends). */
  CloseableIterator<Row> rows() {
    ChangeStream changes = this;
    return new CloseableIterator<>() {
      @Override
      public boolean hasNext() {
        while (changes.hasNext()) {
          if (changes.decoded.peek().op() != Change.Op.SNAPSHOT_END) {
            return true;
          }
          changes.decoded.poll();
        }
        return false;
      }

      @Override
      public Row next() {
        if (!hasNext()) {
          throw new NoSuchElementException();
        }
        return changes.next().row();
      }

      @Override
      public void close() {
        changes.close();
      }
    };
  }

  @Override
  public void close() {
    if (!closed) {
      closed = true;
      context.cancel(null);
    }
  }
}
