package io.deltasidecar.flink.source;

import io.deltasidecar.client.Change;
import io.deltasidecar.client.CloseableIterator;
import io.deltasidecar.client.DeltaSidecarClient;
import io.deltasidecar.client.Row;
import java.util.OptionalLong;

/**
 * Reads one split on a thread of its own and hands what it reads to the task thread through a
 * {@link FetchQueue}: the split's changes (a SNAPSHOT split's rows as UPSERTs), each snapshot end
 * of a CHANGELOG split, and at last {@link Fetched#END} (SNAPSHOT splits only) or the failure.
 * Drops the first {@link DeltaSourceSplit#skip()} records, which were emitted before the
 * checkpoint the split comes from. {@link #close()} cancels the read and waits for the thread.
 */
final class SplitFetcher implements AutoCloseable {
  /** One element of the hand-over: a change, the end of the split, or the read's failure. */
  record Fetched(Change change, Throwable failure) {
    static final Fetched END = new Fetched(null, null);

    boolean isEnd() {
      return change == null && failure == null;
    }
  }

  private final DeltaSidecarClient client;
  private final SourceConfig config;
  private final DeltaSourceSplit split;
  private final FetchQueue<Fetched> queue;
  private final Thread thread;
  private volatile CloseableIterator<Change> stream;
  private volatile boolean closed;

  SplitFetcher(
      DeltaSidecarClient client,
      SourceConfig config,
      DeltaSourceSplit split,
      FetchQueue<Fetched> queue,
      String threadName) {
    this.client = client;
    this.config = config;
    this.split = split;
    this.queue = queue;
    this.thread = new Thread(this::run, threadName);
    thread.setDaemon(true);
  }

  void start() {
    thread.start();
  }

  private void run() {
    try {
      stream = open();
      if (closed) {
        stream.close();
        return;
      }
      long toSkip = split.skip();
      while (stream.hasNext()) {
        Change c = stream.next();
        if (c.op() == Change.Op.SNAPSHOT_END) {
          toSkip = 0;
        } else if (toSkip > 0) {
          toSkip--;
          continue;
        }
        queue.put(new Fetched(c, null));
      }
      queue.put(Fetched.END);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (RuntimeException e) {
      if (!closed) {
        putFailure(e);
      }
    } finally {
      CloseableIterator<Change> s = stream;
      if (s != null) {
        s.close();
      }
    }
  }

  private CloseableIterator<Change> open() {
    if (split.kind() == DeltaSourceSplit.Kind.CHANGELOG) {
      return client.followChanges(
          config.table(),
          OptionalLong.of(split.snapshotId()),
          config.consumer(),
          config.pollInterval());
    }
    CloseableIterator<Row> rows =
        client.scan(config.table(), OptionalLong.of(split.snapshotId()), new int[] {split.bucket()});
    long snapshot = split.snapshotId();
    return new CloseableIterator<>() {
      @Override
      public boolean hasNext() {
        return rows.hasNext();
      }

      @Override
      public Change next() {
        return new Change(snapshot, Change.Op.UPSERT, rows.next());
      }

      @Override
      public void close() {
        rows.close();
      }
    };
  }

  private void putFailure(RuntimeException e) {
    try {
      queue.put(new Fetched(null, e));
    } catch (InterruptedException interrupted) {
      Thread.currentThread().interrupt();
    }
  }

  @Override
  public void close() throws InterruptedException {
    closed = true;
    CloseableIterator<Change> s = stream;
    if (s != null) {
      s.close();
    }
    thread.interrupt();
    thread.join(10_000);
  }
}
