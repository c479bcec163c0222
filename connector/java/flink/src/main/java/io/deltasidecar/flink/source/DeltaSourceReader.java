package io.deltasidecar.flink.source;

import io.deltasidecar.client.Change;
import io.deltasidecar.client.DeltaSidecarClient;
import io.deltasidecar.flink.source.SplitFetcher.Fetched;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.apache.flink.api.connector.source.ReaderOutput;
import org.apache.flink.api.connector.source.SourceReader;
import org.apache.flink.api.connector.source.SourceReaderContext;
import org.apache.flink.core.io.InputStatus;
import org.apache.flink.types.RowKind;

/**
 * Reads its splits one after the other, in the order they were assigned, each through a {@link
 * SplitFetcher} thread. Emits a SNAPSHOT split's rows as INSERT and a CHANGELOG split's upserts
 * as UPDATE_AFTER and deletes as DELETE.
 *
 * <p>Checkpointed state: the splits not finished, the current one with its progress: for a
 * SNAPSHOT split the rows emitted; for the CHANGELOG split the last snapshot whose end was
 * emitted and the changes emitted of the next. A checkpoint may fall inside a snapshot's changes;
 * the restored split reads that snapshot again and drops what was emitted (a snapshot's changes
 * are the same each time they are read), so every change is emitted once.
 *
 * <p>Any failure of a read fails the task; Flink's restart then resumes from the checkpoint.
 * Runs on the task thread only, except the fetchers.
 */
final class DeltaSourceReader<T> implements SourceReader<T, DeltaSourceSplit> {
  /** Records emitted per pollNext before the task thread gets to do other work (checkpoints). */
  private static final int MAX_RECORDS_PER_POLL = 1024;
  private static final int QUEUE_CAPACITY = 4096;

  private final SourceConfig config;
  private final ChangeConverter<T> converter;
  private final SourceReaderContext context;
  private final FetchQueue<Fetched> queue = new FetchQueue<>(QUEUE_CAPACITY);
  private final ArrayDeque<DeltaSourceSplit> pending = new ArrayDeque<>();
  private DeltaSidecarClient client;
  /** The split being read, with its progress so far; null between splits. */
  private DeltaSourceSplit current;
  private SplitFetcher fetcher;
  private boolean splitRequested;
  private boolean noMoreSplits;

  DeltaSourceReader(SourceConfig config, ChangeConverter<T> converter, SourceReaderContext context) {
    this.config = config;
    this.converter = converter;
    this.context = context;
  }

  @Override
  public void start() {
    client =
        DeltaSidecarClient.builder()
            .target(config.targetOf(context.getIndexOfSubtask()))
            .callTimeout(config.callTimeout())
            .build();
    converter.open(client.describeTable(config.table()));
    requestSplitIfIdle();
  }

  @Override
  public InputStatus pollNext(ReaderOutput<T> output) throws Exception {
    if (current == null && !startNextSplit()) {
      requestSplitIfIdle();
      return noMoreSplits ? InputStatus.END_OF_INPUT : InputStatus.NOTHING_AVAILABLE;
    }
    for (int i = 0; i < MAX_RECORDS_PER_POLL; i++) {
      Fetched f = queue.poll();
      if (f == null) {
        return InputStatus.NOTHING_AVAILABLE;
      }
      if (f.failure() != null) {
        throw new RuntimeException(
            "delta-sidecar source: reading " + current + " of table '" + config.table()
                + "' failed: " + f.failure().getMessage(), f.failure());
      }
      if (f.isEnd()) {
        finishSplit();
        return InputStatus.MORE_AVAILABLE;
      }
      emit(f.change(), output);
    }
    return InputStatus.MORE_AVAILABLE;
  }

  private void emit(Change c, ReaderOutput<T> output) {
    if (c.op() == Change.Op.SNAPSHOT_END) {
      current = current.completedThrough(c.snapshotId());
      return;
    }
    RowKind kind;
    if (current.kind() == DeltaSourceSplit.Kind.SNAPSHOT) {
      kind = RowKind.INSERT;
    } else {
      kind = c.op() == Change.Op.DELETE ? RowKind.DELETE : RowKind.UPDATE_AFTER;
    }
    output.collect(converter.convert(kind, c.row(), c.snapshotId()));
    current = current.withSkip(current.skip() + 1);
  }

  private boolean startNextSplit() {
    DeltaSourceSplit next = pending.poll();
    if (next == null) {
      return false;
    }
    current = next;
    fetcher =
        new SplitFetcher(
            client, config, next, queue,
            "delta-sidecar-source-" + context.getIndexOfSubtask() + "-" + next.splitId());
    fetcher.start();
    return true;
  }

  private void finishSplit() throws InterruptedException {
    fetcher.close();
    fetcher = null;
    current = null;
    if (pending.isEmpty()) {
      requestSplitIfIdle();
    }
  }

  /** Asks for a split when there is nothing left to read and none was asked for yet. */
  private void requestSplitIfIdle() {
    if (current == null && pending.isEmpty() && !noMoreSplits && !splitRequested) {
      splitRequested = true;
      context.sendSplitRequest();
    }
  }

  @Override
  public List<DeltaSourceSplit> snapshotState(long checkpointId) {
    List<DeltaSourceSplit> state = new ArrayList<>(pending.size() + 1);
    if (current != null) {
      state.add(current);
    }
    state.addAll(pending);
    return state;
  }

  @Override
  public CompletableFuture<Void> isAvailable() {
    return queue.availability();
  }

  @Override
  public void addSplits(List<DeltaSourceSplit> splits) {
    pending.addAll(splits);
    splitRequested = false;
    queue.wakeUp();
  }

  @Override
  public void notifyNoMoreSplits() {
    noMoreSplits = true;
    queue.wakeUp();
  }

  @Override
  public void close() throws Exception {
    try {
      if (fetcher != null) {
        fetcher.close();
      }
    } finally {
      queue.clear();
      if (client != null) {
        client.close();
      }
    }
  }
}
