package io.deltasidecar.client;

import com.google.protobuf.ByteString;
import io.deltasidecar.v1.Committable;
import io.deltasidecar.v1.PrepareCommitRequest;
import io.deltasidecar.v1.RecordBatch;
import io.deltasidecar.v1.WriteRequest;
import io.deltasidecar.v1.WriteResponse;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.util.Map;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Streams the upserts and deletes of one writer registration to the sidecar and seals them as
 * checkpoints.
 *
 * <p>Rows are encoded at once into a reused buffer (a wrong Java type or an out-of-range value
 * throws {@link InvalidRecordException} naming the column, and nothing of that row is kept), and
 * sent on one Write stream as batches of {@code maxBatchBytes} or {@code maxBatchRows}, or when
 * the first row of a batch is {@code lingerTime} old. Up to {@code maxInFlightBatches} batches may
 * wait for their acknowledgement; a write beyond that blocks until an ack arrives
 * (backpressure), for at most the client's {@code callTimeout}.
 *
 * <p>A failure of the Write stream (fenced, sidecar gone, a row refused by the sidecar, disk full)
 * is recorded when it happens and thrown by the next {@code upsert}, {@code delete}, {@code
 * flush} or {@code prepareCommit}; the writer is unusable after it. Recover as after a task
 * failure: register again (with the last completed checkpoint) and open a new writer.
 *
 * <p>Thread-safe (methods are serialized by a lock); for throughput, give each thread its own
 * writer id and writer. Use one writer per registration: {@link #prepareCommit} checks that the
 * sidecar sealed exactly the rows this writer sent.
 */
public final class RecordWriter implements AutoCloseable {
  private final DeltaSidecarClient client;
  private final Registration registration;
  private final RowCodec codec;
  private final int maxBatchBytes;
  private final int maxBatchRows;
  private final long lingerNanos;
  private final int maxInFlight;
  private final long ackTimeoutNanos;

  // Guarded by `lock`: the open batch and the request side of the stream.
  private final ReentrantLock lock = new ReentrantLock();
  private final RowBuffer buffer;
  private int batchRows;
  private long batchStartNanos;
  private ClientCallStreamObserver<WriteRequest> requests;
  private int lastRowStart; // where the newest row of the batch begins
  private long nextSeq;
  private long rowsSinceSeal;
  private long lastPreparedId = -1;
  private volatile boolean closed; // read by the stream callbacks
  private long rowsSent;
  private long bytesSent;

  // Guarded by `ackLock`: the acknowledgement side, updated by the stream's callbacks.
  private final ReentrantLock ackLock = new ReentrantLock();
  private final Condition acksChanged = ackLock.newCondition();
  private final int[] inFlightRows; // ring indexed by batch_seq % maxInFlight
  private long ackedSeq;
  private long sentSeq;
  private boolean streamEnded;
  private boolean halfClosed;
  private volatile DeltaSidecarException failure;

  private final ScheduledFuture<?> lingerTask;

  RecordWriter(
      DeltaSidecarClient client, Registration registration, RowCodec codec, WriterOptions options) {
    this.client = client;
    this.registration = registration;
    this.codec = codec;
    this.maxBatchBytes = options.maxBatchBytes();
    this.maxBatchRows = options.maxBatchRows();
    this.lingerNanos = options.lingerTime().toNanos();
    this.maxInFlight = options.maxInFlightBatches();
    this.ackTimeoutNanos = client.callTimeout().toNanos();
    this.inFlightRows = new int[maxInFlight];
    this.buffer = new RowBuffer(Math.min(maxBatchBytes, 1 << 20) + 1024);
    if (lingerNanos > 0) {
      long period = Math.max(TimeUnit.MILLISECONDS.toNanos(1), lingerNanos / 4);
      lingerTask =
          client.lingerTimer()
              .scheduleWithFixedDelay(this::sendIfLingered, period, period, TimeUnit.NANOSECONDS);
    } else {
      lingerTask = null;
    }
  }

  public Registration registration() {
    return registration;
  }

  /** Upserts a row given as one value per column in schema order (null for NULL). */
  public void upsert(Object... valuesInSchemaOrder) {
    lock.lock();
    try {
      checkUsable();
      int start = buffer.size();
      codec.encodeUpsert(valuesInSchemaOrder, buffer);
      rowAdded(start);
    } finally {
      lock.unlock();
    }
  }

  /** Upserts a row given by column name; columns that are not in the map are NULL. */
  public void upsert(Map<String, Object> row) {
    lock.lock();
    try {
      checkUsable();
      int start = buffer.size();
      codec.encodeUpsert(row, buffer);
      rowAdded(start);
    } finally {
      lock.unlock();
    }
  }

  /** Deletes the row with this primary key (values in primary-key order). */
  public void delete(Object... keyValuesInKeyOrder) {
    lock.lock();
    try {
      checkUsable();
      int start = buffer.size();
      codec.encodeDelete(keyValuesInKeyOrder, buffer);
      rowAdded(start);
    } finally {
      lock.unlock();
    }
  }

  /**
   * Sends the open batch and waits until every batch sent is acknowledged (staged by the sidecar).
   * Throws the stream's failure, or RetryableException (DEADLINE_EXCEEDED) when no ack arrives
   * within the client's callTimeout.
   */
  public void flush() {
    lock.lock();
    try {
      checkUsable();
      if (batchRows > 0) {
        sendBatch();
      }
      awaitInFlightAtMost(0);
    } finally {
      lock.unlock();
    }
  }

  /**
   * Flushes, then seals everything this writer sent since its last seal as checkpoint {@code
   * checkpointId} (which must be above the last sealed id, or equal to it to get the same
   * committable again). Returns the committable to store in the checkpoint and commit once the
   * checkpoint is complete.
   */
  public Committable prepareCommit(long checkpointId) {
    lock.lock();
    try {
      flush();
      PrepareCommitRequest req =
          PrepareCommitRequest.newBuilder()
              .setTable(registration.table())
              .setWriterId(registration.writerId())
              .setEpoch(registration.epoch())
              .setCheckpointId(checkpointId)
              .build();
      Committable committable;
      try {
        committable = client.blocking(client.callTimeout()).prepareCommit(req);
      } catch (StatusRuntimeException e) {
        throw DeltaSidecarException.from(
            e, "PrepareCommit(" + registration.writerId() + ", checkpoint " + checkpointId + ")");
      }
      if (checkpointId != lastPreparedId && committable.getRows() != rowsSinceSeal) {
        throw new DeltaSidecarException(
            Status.Code.INTERNAL,
            "PrepareCommit(" + registration.writerId() + ", checkpoint " + checkpointId
                + "): the sidecar sealed " + committable.getRows() + " rows, this writer sent "
                + rowsSinceSeal + " (is another writer open on the same registration?)");
      }
      rowsSinceSeal = 0;
      lastPreparedId = checkpointId;
      return committable;
    } finally {
      lock.unlock();
    }
  }

  /** Rows sent to the sidecar so far (acknowledged or not). */
  public long rowsSent() {
    lock.lock();
    try {
      return rowsSent;
    } finally {
      lock.unlock();
    }
  }

  /** Bytes of packed rows sent to the sidecar so far. */
  public long bytesSent() {
    lock.lock();
    try {
      return bytesSent;
    } finally {
      lock.unlock();
    }
  }

  /**
   * Ends the Write stream after the batches already sent are acknowledged (waiting at most the
   * client's callTimeout). Rows not yet sent are discarded: call {@link #prepareCommit} first to
   * keep them. Does not throw the stream's failure. Idempotent.
   */
  @Override
  public void close() {
    lock.lock();
    try {
      if (closed) {
        return;
      }
      closed = true;
      if (lingerTask != null) {
        lingerTask.cancel(false);
      }
      buffer.reset();
      batchRows = 0;
      if (requests == null) {
        return;
      }
      ackLock.lock();
      try {
        if (!streamEnded && failure == null) {
          halfClosed = true;
          requests.onCompleted();
          long deadline = System.nanoTime() + ackTimeoutNanos;
          while (!streamEnded) {
            long left = deadline - System.nanoTime();
            if (left <= 0) {
              break;
            }
            acksChanged.awaitNanos(left);
          }
        }
        if (!streamEnded) {
          requests.cancel("writer closed", null);
        }
      } catch (InterruptedException e) {
        requests.cancel("writer closed", e);
        Thread.currentThread().interrupt();
      } finally {
        ackLock.unlock();
      }
    } finally {
      lock.unlock();
    }
  }

  // ---------------------------------------------------------------------------------------------

  private void checkUsable() {
    if (closed) {
      throw new IllegalStateException("writer " + registration.writerId() + " is closed");
    }
    DeltaSidecarException f = failure;
    if (f != null) {
      throw f.rethrown();
    }
  }

  private void rowAdded(int start) {
    lastRowStart = start;
    if (batchRows++ == 0) {
      batchStartNanos = System.nanoTime();
    }
    if (buffer.size() >= maxBatchBytes || batchRows >= maxBatchRows || lingerNanos == 0) {
      sendBatch();
    }
  }

  /** Linger timer: sends a batch whose first row is old enough, unless that would block. */
  private void sendIfLingered() {
    if (!lock.tryLock()) {
      return; // a write, flush or close holds the lock and sends or discards the batch itself
    }
    try {
      if (closed || failure != null || batchRows == 0
          || System.nanoTime() - batchStartNanos < lingerNanos) {
        return;
      }
      ackLock.lock();
      try {
        if (sentSeq - ackedSeq >= maxInFlight) {
          return; // an ack will come; the next tick retries
        }
      } finally {
        ackLock.unlock();
      }
      sendBatch();
    } catch (DeltaSidecarException e) {
      // Recorded as the stream's failure; the writer's next call throws it.
    } finally {
      lock.unlock();
    }
  }

  private void sendBatch() {
    // A batch never exceeds maxBatchBytes unless one row alone does: the row that crossed the
    // limit goes into the next batch.
    int end = buffer.size();
    int rows = batchRows;
    int carryFrom = end;
    if (end > maxBatchBytes && rows > 1) {
      carryFrom = lastRowStart;
      rows--;
    }
    awaitInFlightAtMost(maxInFlight - 1);
    openStreamIfNeeded();
    WriteRequest.Builder req =
        WriteRequest.newBuilder()
            .setBatchSeq(nextSeq)
            .setBatch(
                RecordBatch.newBuilder()
                    .setRowCount(rows)
                    .setRows(ByteString.copyFrom(buffer.array(), 0, carryFrom)));
    if (nextSeq == 0) {
      req.setTable(registration.table())
          .setWriterId(registration.writerId())
          .setEpoch(registration.epoch())
          .setSchemaId(registration.schema().schemaId());
    }
    ackLock.lock();
    try {
      inFlightRows[(int) (nextSeq % maxInFlight)] = rows;
      sentSeq = nextSeq + 1;
    } finally {
      ackLock.unlock();
    }
    try {
      requests.onNext(req.build());
    } catch (RuntimeException e) {
      fail(DeltaSidecarException.from(e, streamName()));
      throw failure.rethrown();
    }
    nextSeq++;
    rowsSinceSeal += rows;
    rowsSent += rows;
    bytesSent += carryFrom;
    if (carryFrom < end) {
      int tail = end - carryFrom;
      System.arraycopy(buffer.array(), carryFrom, buffer.array(), 0, tail);
      buffer.truncate(tail);
      batchRows = 1;
      batchStartNanos = System.nanoTime();
    } else {
      buffer.reset();
      batchRows = 0;
    }
  }

  /** Blocks until at most {@code n} batches await their ack; throws the stream's failure. */
  private void awaitInFlightAtMost(int n) {
    ackLock.lock();
    try {
      long deadline = System.nanoTime() + ackTimeoutNanos;
      long progressAt = ackedSeq;
      while (failure == null && sentSeq - ackedSeq > n) {
        long left = deadline - System.nanoTime();
        if (ackedSeq != progressAt) {
          progressAt = ackedSeq;
          deadline = System.nanoTime() + ackTimeoutNanos;
          left = ackTimeoutNanos;
        }
        if (left <= 0) {
          fail(
              new RetryableException(
                  Status.Code.DEADLINE_EXCEEDED,
                  streamName() + ": no ack within " + ackTimeoutNanos / 1_000_000 + " ms ("
                      + (sentSeq - ackedSeq) + " batches waiting)",
                  null));
          if (requests != null) {
            requests.cancel("no ack within the call timeout", null);
          }
          break;
        }
        acksChanged.awaitNanos(left);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new DeltaSidecarException(Status.Code.CANCELLED, streamName() + ": interrupted", e);
    } finally {
      ackLock.unlock();
    }
    DeltaSidecarException f = failure;
    if (f != null) {
      throw f.rethrown();
    }
  }

  private void openStreamIfNeeded() {
    if (requests != null) {
      return;
    }
    client.async().write(new AckObserver());
    if (requests == null) {
      throw new IllegalStateException("the Write call did not start");
    }
  }

  private void fail(DeltaSidecarException e) {
    ackLock.lock();
    try {
      if (failure == null) {
        failure = e;
      }
      acksChanged.signalAll();
    } finally {
      ackLock.unlock();
    }
  }

  private String streamName() {
    return "Write stream of writer " + registration.writerId() + " (epoch " + registration.epoch()
        + ") to '" + registration.table() + "'";
  }

  /** The response side of the Write stream; runs on the transport thread, never blocks. */
  private final class AckObserver implements ClientResponseObserver<WriteRequest, WriteResponse> {
    @Override
    public void beforeStart(ClientCallStreamObserver<WriteRequest> requestStream) {
      requests = requestStream;
    }

    @Override
    public void onNext(WriteResponse ack) {
      ackLock.lock();
      try {
        int expectRows = inFlightRows[(int) (ackedSeq % maxInFlight)];
        if (ack.getBatchSeq() != ackedSeq || ack.getRowsStaged() != expectRows) {
          if (failure == null) {
            failure =
                new DeltaSidecarException(
                    Status.Code.INTERNAL,
                    streamName() + ": ack for batch " + ack.getBatchSeq() + " (" + ack.getRowsStaged()
                        + " rows), expected batch " + ackedSeq + " (" + expectRows + " rows)");
          }
          requests.cancel("unexpected ack", null);
        } else {
          ackedSeq++;
        }
        acksChanged.signalAll();
      } finally {
        ackLock.unlock();
      }
    }

    @Override
    public void onError(Throwable t) {
      ackLock.lock();
      try {
        streamEnded = true;
        if (failure == null && !closed) {
          failure = DeltaSidecarException.from(t, streamName());
        }
        acksChanged.signalAll();
      } finally {
        ackLock.unlock();
      }
    }

    @Override
    public void onCompleted() {
      ackLock.lock();
      try {
        streamEnded = true;
        if (failure == null && !halfClosed) {
          failure =
              new RetryableException(
                  Status.Code.UNAVAILABLE, streamName() + ": the sidecar ended the stream", null);
        }
        acksChanged.signalAll();
      } finally {
        ackLock.unlock();
      }
    }
  }
}
