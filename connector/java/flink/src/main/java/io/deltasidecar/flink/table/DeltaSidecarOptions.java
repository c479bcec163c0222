package io.deltasidecar.flink.table;

import io.deltasidecar.flink.CommitTopology;
import java.time.Duration;
import java.util.List;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;

/**
 * The options of {@code 'connector' = 'delta-sidecar'}, parsed and validated by Flink's {@code
 * FactoryUtil} (so durations take Flink's spellings: {@code 500 ms}, {@code 500 millis}, {@code 2
 * s}, {@code 1 min}). See docs/connectors.md, "SQL and Table API".
 */
public final class DeltaSidecarOptions {
  private DeltaSidecarOptions() {}

  public static final ConfigOption<String> TABLE =
      ConfigOptions.key("table")
          .stringType()
          .noDefaultValue()
          .withDescription("Name of the table on the sidecar.");
  public static final ConfigOption<List<String>> TARGET =
      ConfigOptions.key("target")
          .stringType()
          .asList()
          .defaultValues("127.0.0.1:7543")
          .withDescription(
              "The sidecar: host:port or unix:/path.sock; with one sidecar beside each task"
                  + " manager, its machine-local address. Several, separated by ';', spread the"
                  + " writers: subtask i writes to the (i mod n)-th.");
  public static final ConfigOption<Integer> BUCKETS =
      ConfigOptions.key("write.bucket.num")
          .intType()
          .defaultValue(16)
          .withDescription("Buckets of the table when the sink creates it.");
  public static final ConfigOption<Integer> BATCH_BYTES =
      ConfigOptions.key("sink.batch.bytes")
          .intType()
          .defaultValue(1 << 20)
          .withDescription("A batch is sent once it holds this many bytes.");
  public static final ConfigOption<Duration> LINGER =
      ConfigOptions.key("sink.linger")
          .durationType()
          .defaultValue(Duration.ofMillis(100))
          .withDescription("A partial batch is sent once its first row is this old.");
  public static final ConfigOption<Integer> MAX_IN_FLIGHT =
      ConfigOptions.key("sink.max-in-flight")
          .intType()
          .defaultValue(8)
          .withDescription("Unacknowledged batches per writer before writes block.");
  public static final ConfigOption<String> WRITER_ID_PREFIX =
      ConfigOptions.key("sink.writer-id-prefix")
          .stringType()
          .noDefaultValue()
          .withDescription(
              "Stable prefix of the writer ids. Default: flink-sql/<table>/<digest of the"
                  + " statement's plan>, different for every INSERT into the table.");
  public static final ConfigOption<Duration> CALL_TIMEOUT =
      ConfigOptions.key("sink.call-timeout")
          .durationType()
          .defaultValue(Duration.ofSeconds(60))
          .withDescription("Deadline of each call to the sidecar except Commit.");
  public static final ConfigOption<Integer> COMMIT_ATTEMPTS =
      ConfigOptions.key("sink.commit.max-attempts")
          .intType()
          .defaultValue(10)
          .withDescription(
              "Commit calls (with backoff 100 ms doubling to 5 s) before the committer fails the"
                  + " task; Flink's restore then commits again.");
  public static final ConfigOption<CommitTopology> COMMIT_TOPOLOGY =
      ConfigOptions.key("sink.commit.topology")
          .enumType(CommitTopology.class)
          .defaultValue(CommitTopology.GLOBAL)
          .withDescription(
              "global: one committer for the sink, each checkpoint one table snapshot however"
                  + " many sidecars the writers used; per-subtask: a committer per writer, each"
                  + " writer's rows of a checkpoint a snapshot of their own.");

  public static final ConfigOption<String> SCAN_MODE =
      ConfigOptions.key("scan.mode")
          .stringType()
          .noDefaultValue()
          .withDescription(
              "What a SELECT reads. snapshot: one snapshot, then the read ends (bounded);"
                  + " latest: that snapshot, then every later commit's changes (upserts and"
                  + " deletes by the primary key); from-snapshot: only the changes after"
                  + " 'scan.snapshot-id'. Default: snapshot in batch mode, latest in streaming"
                  + " mode.");
  public static final ConfigOption<Long> SCAN_SNAPSHOT_ID =
      ConfigOptions.key("scan.snapshot-id")
          .longType()
          .noDefaultValue()
          .withDescription(
              "snapshot and latest: the snapshot to read (default: the latest when the job first"
                  + " starts); from-snapshot: the snapshot to follow from, exclusive (required).");
  public static final ConfigOption<String> CONSUMER_ID =
      ConfigOptions.key("consumer-id")
          .stringType()
          .noDefaultValue()
          .withDescription(
              "A consumer name (1-128 letters, digits, '_', '-', '.') whose position on the"
                  + " sidecar keeps snapshot expiry from removing what the following read has"
                  + " not read yet (up to the sidecar's --consumer-max-age). The read's position"
                  + " itself is in Flink's checkpoints. Give every reading job its own.");
  public static final ConfigOption<Duration> SCAN_POLL_INTERVAL =
      ConfigOptions.key("scan.poll-interval")
          .durationType()
          .defaultValue(Duration.ofMillis(100))
          .withDescription("How often an idle following read looks for new commits.");
}
