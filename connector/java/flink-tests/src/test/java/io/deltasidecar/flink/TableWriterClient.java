package io.deltasidecar.flink;

import io.deltasidecar.client.DeltaSidecarClient;
import io.deltasidecar.client.RecordWriter;
import io.deltasidecar.client.Registration;
import io.deltasidecar.client.TableCommitResult;
import io.deltasidecar.client.WriterOptions;
import java.util.List;
import java.util.OptionalLong;
import java.util.function.Consumer;

/**
 * Commits to a {@link TableModel#SCHEMA} table with the Java client directly, one snapshot per
 * {@link #commit} (a fresh registration each time, so that a sidecar restart between two commits
 * needs nothing of the caller). The readers' tests compare what a source emitted with the
 * snapshots this makes.
 */
final class TableWriterClient implements AutoCloseable {
  private final DeltaSidecarClient client;
  private final String table;
  private final String writerId;
  private long checkpointId;

  TableWriterClient(String target, String table, int buckets) {
    this.client = DeltaSidecarClient.builder().target(target).build();
    this.table = table;
    this.writerId = "test-writer/" + table;
    client.createTable(table, TableModel.SCHEMA, TableModel.KEY, buckets, true);
  }

  /** Writes what {@code rows} writes and commits it; returns the new snapshot's id. */
  long commit(Consumer<RecordWriter> rows) {
    Registration reg = client.register(table, writerId, OptionalLong.empty());
    long cp = ++checkpointId;
    try (RecordWriter w = client.openWriter(reg, WriterOptions.defaults())) {
      rows.accept(w);
      List<TableCommitResult> results = client.commit(List.of(w.prepareCommit(cp)));
      return results.get(0).snapshotId();
    }
  }

  /** Upserts (id, "v{round}-{id}", id % 100 + round) for ids in [from, to), deletes every del-th. */
  long commitRound(int round, long from, long to, int del) {
    return commit(
        w -> {
          for (long id = from; id < to; id++) {
            if (del > 0 && id % del == round % del) {
              w.delete(id);
            } else {
              w.upsert(id, "v" + round + "-" + id, (int) (id % 100 + round));
            }
          }
        });
  }

  DeltaSidecarClient client() {
    return client;
  }

  @Override
  public void close() {
    client.close();
  }
}
