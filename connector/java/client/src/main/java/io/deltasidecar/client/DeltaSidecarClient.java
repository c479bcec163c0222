package io.deltasidecar.client;

import io.deltasidecar.v1.AbortRequest;
import io.deltasidecar.v1.AlterTableRequest;
import io.deltasidecar.v1.ChangesRequest;
import io.deltasidecar.v1.CommitRequest;
import io.deltasidecar.v1.CommitResponse;
import io.deltasidecar.v1.Committable;
import io.deltasidecar.v1.CreateTableRequest;
import io.deltasidecar.v1.DeltaSidecarGrpc;
import io.deltasidecar.v1.DescribeTableRequest;
import io.deltasidecar.v1.DropPartitionRequest;
import io.deltasidecar.v1.FollowChangesRequest;
import io.deltasidecar.v1.GetRequest;
import io.deltasidecar.v1.GetResponse;
import io.deltasidecar.v1.HistoryRequest;
import io.deltasidecar.v1.HistoryResponse;
import io.deltasidecar.v1.RecordBatch;
import io.deltasidecar.v1.RegisterWriterRequest;
import io.deltasidecar.v1.RegisterWriterResponse;
import io.deltasidecar.v1.ScanRequest;
import io.deltasidecar.v1.SnapshotSelector;
import io.deltasidecar.v1.TableCommit;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptor;
import io.grpc.ClientInterceptors;
import io.grpc.ForwardingClientCall;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.netty.channel.EventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.epoll.Epoll;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollDomainSocketChannel;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollEventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.unix.DomainSocketAddress;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * A client of one delta-sidecar (the deltasidecar.v1 gRPC API, docs/protocol.md).
 *
 * <p>Thread-safe: one client serves any number of threads and writers over one channel. Every
 * failed call throws a {@link DeltaSidecarException} whose subclass says what to do (see there).
 * Unary calls have a deadline of {@code callTimeout} (Commit: {@code commitTimeout}). Only
 * {@link #commit} retries by itself; every other call reports the first failure.
 *
 * <p>Close the client when done: an open channel delays a graceful sidecar shutdown.
 */
public final class DeltaSidecarClient implements AutoCloseable {
  /** Told about each retry of a call, before the backoff (for logs and metrics). */
  @FunctionalInterface
  public interface RetryListener {
    void onRetry(String call, int failedAttempt, DeltaSidecarException cause);
  }

  private static final int MAX_INBOUND_MESSAGE_BYTES = 256 << 20;

  private final String target;
  private final Duration callTimeout;
  private final Duration commitTimeout;
  private final int maxCommitAttempts;
  private final Duration retryInitial;
  private final Duration retryMax;
  private final RetryListener retryListener;
  /** The event loop of a unix-socket channel, owned by this client; null for TCP. */
  private final EventLoopGroup unixEventLoop;
  private final ManagedChannel channel;
  private final Channel calls;
  private final ScheduledExecutorService lingerTimer;
  private final ConcurrentHashMap<String, RowCodec> codecs = new ConcurrentHashMap<>();
  // Codecs of other schema versions than the cached one, by "table\0version" (they never change).
  private final ConcurrentHashMap<String, RowCodec> versionCodecs = new ConcurrentHashMap<>();

  private DeltaSidecarClient(Builder b) {
    target = b.target;
    callTimeout = b.callTimeout;
    commitTimeout = b.commitTimeout;
    maxCommitAttempts = b.maxCommitAttempts;
    retryInitial = b.retryInitial;
    retryMax = b.retryMax;
    retryListener = b.retryListener;
    NettyChannelBuilder channelBuilder;
    if (target.startsWith("unix:")) {
      // grpc-netty-shaded carries netty's native epoll transport, which unix sockets need.
      if (!Epoll.isAvailable()) {
        throw new IllegalStateException(
            "a unix: target needs netty's native epoll transport, which is not available here: "
                + Epoll.unavailabilityCause());
      }
      unixEventLoop = new EpollEventLoopGroup(1);
      channelBuilder =
          NettyChannelBuilder.forAddress(new DomainSocketAddress(socketPath(target)))
              .eventLoopGroup(unixEventLoop)
              .channelType(EpollDomainSocketChannel.class);
    } else {
      unixEventLoop = null;
      channelBuilder = NettyChannelBuilder.forTarget(target);
    }
    channel =
        channelBuilder
            .usePlaintext()
            .maxInboundMessageSize(MAX_INBOUND_MESSAGE_BYTES)
            // Callbacks only record acks and queue answers; running them on the transport
            // thread saves a thread switch per batch.
            .directExecutor()
            .build();
    calls =
        b.bearerToken == null
            ? channel
            : ClientInterceptors.intercept(channel, new BearerToken(b.bearerToken));
    ScheduledThreadPoolExecutor timer =
        new ScheduledThreadPoolExecutor(
            1,
            r -> {
              Thread t = new Thread(r, "delta-sidecar-linger");
              t.setDaemon(true);
              return t;
            });
    timer.setRemoveOnCancelPolicy(true);
    lingerTimer = timer;
  }

  public static Builder builder() {
    return new Builder();
  }

  /** A client of {@code target} ("127.0.0.1:7543" or "unix:/path.sock") with the defaults. */
  public static DeltaSidecarClient connect(String target) {
    return builder().target(target).build();
  }

  public String target() {
    return target;
  }

  /**
   * Creates {@code table} with the columns {@code schema} ("id BIGINT, name STRING NOT NULL") and
   * the comma-separated {@code primaryKey}; {@code buckets} 0 means 16. With {@code ifNotExists}
   * an existing identical table is fine; without it, an existing table is ALREADY_EXISTS.
   */
  public void createTable(
      String table, String schema, String primaryKey, int buckets, boolean ifNotExists) {
    createTable(table, schema, primaryKey, buckets, ifNotExists, "", Map.of());
  }

  /**
   * Creates a table as {@link #createTable(String, String, String, int, boolean)} does,
   * partitioned by the comma-separated columns {@code partitionBy} (none when empty: they lead the
   * primary key, and each partition has its own data files) and with table properties {@code
   * options} stored with it (e.g. {@code partition.expiration-time=720h}).
   */
  public void createTable(
      String table,
      String schema,
      String primaryKey,
      int buckets,
      boolean ifNotExists,
      String partitionBy,
      Map<String, String> options) {
    CreateTableRequest req =
        CreateTableRequest.newBuilder()
            .setTable(table)
            .setSchema(schema)
            .setPrimaryKey(primaryKey)
            .setBuckets(buckets)
            .setIfNotExists(ifNotExists)
            .setPartitionBy(partitionBy)
            .putAllOptions(options)
            .build();
    try {
      blocking(callTimeout).createTable(req);
    } catch (StatusRuntimeException e) {
      throw DeltaSidecarException.from(e, "CreateTable(" + table + ")");
    }
  }

  /** The table's schema and latest snapshot; also refreshes the schema this client caches. */
  public TableSchema describeTable(String table) {
    TableSchema schema;
    try {
      schema =
          TableSchema.fromProto(
              blocking(callTimeout)
                  .describeTable(DescribeTableRequest.newBuilder().setTable(table).build()));
    } catch (StatusRuntimeException e) {
      throw DeltaSidecarException.from(e, "DescribeTable(" + table + ")");
    }
    codecs.put(table, new RowCodec(schema));
    return schema;
  }

  /**
   * Changes the table's schema without rewriting data, as one snapshot: each change is one of
   * {@code ADD COLUMN <name> <type> [FIRST | AFTER <column>]}, {@code DROP COLUMN <name>},
   * {@code RENAME COLUMN <name> TO <new name>} or {@code ALTER COLUMN <name> TYPE <wider type>},
   * applied in order. Returns the new schema. Writers registered before it must register again:
   * their rows are refused with a {@link FencedException} naming the change (a Flink sink fails
   * over, restores and replays under the new schema). Not retried: a change whose answer was lost
   * may have landed (describe the table).
   */
  public TableSchema alterTable(String table, List<String> changes) {
    try {
      blocking(callTimeout)
          .alterTable(AlterTableRequest.newBuilder().setTable(table).addAllChanges(changes).build());
    } catch (StatusRuntimeException e) {
      throw DeltaSidecarException.from(e, "AlterTable(" + table + ")");
    }
    return describeTable(table);
  }

  /**
   * Drops partitions, every row of them, as one snapshot; returns its id. Each spec names every
   * partition column: {@code dt=2026-12-01} or {@code dt=2026-12-01/region=eu}. NOT_FOUND when none
   * of them has rows. Not retried: a drop whose answer was lost may have landed.
   */
  public long dropPartition(String table, List<String> partitions) {
    try {
      return blocking(callTimeout)
          .dropPartition(
              DropPartitionRequest.newBuilder().setTable(table).addAllPartitions(partitions).build())
          .getSnapshotId();
    } catch (StatusRuntimeException e) {
      throw DeltaSidecarException.from(e, "DropPartition(" + table + ")");
    }
  }

  /**
   * Registers {@code writerId} for {@code table}, fencing every earlier registration of it. With
   * {@code restoredCheckpointId} K, what the writer staged after K is dropped and its sealed,
   * uncommitted checkpoints up to K come back in {@link Registration#pending()}: commit them.
   * Without it (a fresh start), everything staged and not committed is dropped.
   */
  public Registration register(String table, String writerId, OptionalLong restoredCheckpointId) {
    TableSchema schema = describeTable(table);
    RegisterWriterRequest.Builder req =
        RegisterWriterRequest.newBuilder().setTable(table).setWriterId(writerId);
    restoredCheckpointId.ifPresent(req::setRestoredCheckpointId);
    RegisterWriterResponse resp;
    try {
      resp = blocking(callTimeout).registerWriter(req.build());
    } catch (StatusRuntimeException e) {
      throw DeltaSidecarException.from(e, "RegisterWriter(" + table + ", " + writerId + ")");
    }
    return new Registration(
        table,
        writerId,
        resp.getEpoch(),
        resp.getPendingList(),
        resp.getLastCommittedCheckpointId(),
        schema);
  }

  /** A writer for the registration's epoch. Use one writer per registration. */
  public RecordWriter openWriter(Registration registration, WriterOptions options) {
    return new RecordWriter(this, registration, new RowCodec(registration.schema()), options);
  }

  /**
   * Commits the committables (of any writers and tables) in one Commit call: per table, every
   * sealed checkpoint up to the one named for each writer, in one atomic snapshot. Returns one
   * result per table, in order of first appearance. Retries UNAVAILABLE and ABORTED with the same
   * committables (never rewriting data) up to {@code maxCommitAttempts} calls in all, backing off
   * exponentially; the commit is idempotent, so a retry of a commit that landed answers {@code
   * alreadyCommitted}.
   */
  public List<TableCommitResult> commit(Collection<Committable> committables) {
    if (committables.isEmpty()) {
      return List.of();
    }
    CommitRequest req = CommitRequest.newBuilder().addAllCommittables(committables).build();
    long backoffNanos = retryInitial.toNanos();
    for (int attempt = 1; ; attempt++) {
      CommitResponse resp;
      try {
        resp = blocking(commitTimeout).commit(req);
      } catch (StatusRuntimeException e) {
        DeltaSidecarException failure = DeltaSidecarException.from(e, "Commit");
        Status.Code code = failure.code();
        boolean retryable = code == Status.Code.UNAVAILABLE || code == Status.Code.ABORTED;
        if (!retryable || attempt >= maxCommitAttempts) {
          throw failure;
        }
        if (retryListener != null) {
          retryListener.onRetry("Commit", attempt, failure);
        }
        sleep(backoffNanos);
        backoffNanos = Math.min(backoffNanos * 2, retryMax.toNanos());
        // Reconnect now rather than after grpc's own reconnect backoff (up to minutes).
        channel.resetConnectBackoff();
        continue;
      }
      List<TableCommitResult> results = new ArrayList<>(resp.getCommitsCount());
      for (TableCommit c : resp.getCommitsList()) {
        results.add(new TableCommitResult(c.getTable(), c.getSnapshotId(), c.getAlreadyCommitted()));
      }
      return Collections.unmodifiableList(results);
    }
  }

  /**
   * Drops the writer's sealed, uncommitted checkpoint {@code checkpointId}, or, for an id above
   * its last seal, what it staged since. Fenced registrations are refused.
   */
  public void abort(Registration registration, long checkpointId) {
    AbortRequest req =
        AbortRequest.newBuilder()
            .setTable(registration.table())
            .setWriterId(registration.writerId())
            .setEpoch(registration.epoch())
            .setCheckpointId(checkpointId)
            .build();
    try {
      blocking(callTimeout).abort(req);
    } catch (StatusRuntimeException e) {
      throw DeltaSidecarException.from(
          e, "Abort(" + registration.writerId() + ", checkpoint " + checkpointId + ")");
    }
  }

  /**
   * The live rows of a snapshot ({@code snapshotId}, or the latest when empty) in primary-key
   * order, streamed. Close the iterator when stopping early.
   */
  public CloseableIterator<Row> scan(String table, OptionalLong snapshotId) {
    return scan(table, snapshotId, new int[0]);
  }

  /**
   * The live rows of the given {@code buckets} of a snapshot ({@code snapshotId}, or the latest
   * when empty), bucket by bucket in the order given, each bucket's in primary-key order; no
   * buckets means all of them, in primary-key order. How a parallel reader splits a scan: a
   * bucket at or above the table's bucket count, or named twice, is INVALID_ARGUMENT. Close the
   * iterator when stopping early.
   */
  public CloseableIterator<Row> scan(String table, OptionalLong snapshotId, int[] buckets) {
    ScanRequest.Builder req = ScanRequest.newBuilder().setTable(table);
    snapshotId.ifPresent(id -> req.setSnapshot(SnapshotSelector.newBuilder().setSnapshotId(id)));
    for (int b : buckets) {
      if (b < 0) {
        throw new IllegalArgumentException("bucket " + b + " is negative");
      }
      req.addBuckets(b);
    }
    ScanRequest request = req.build();
    return new ChangeStream(calls, codecs(table), "Scan(" + table + ")", stub -> stub.scan(request))
        .rows();
  }

  /**
   * The row with the primary key {@code keyValues} (in primary-key order) in the latest snapshot,
   * or empty when there is none.
   */
  public Optional<Row> get(String table, Object... keyValues) {
    RowCodec codec = codec(table);
    RowBuffer key = new RowBuffer(64);
    codec.encodeKey(keyValues, key);
    GetRequest req =
        GetRequest.newBuilder()
            .setTable(table)
            .setSchemaId(codec.schema().schemaId())
            .setKey(
                RecordBatch.newBuilder()
                    .setRowCount(1)
                    .setRows(com.google.protobuf.ByteString.copyFrom(key.array(), 0, key.size())))
            .build();
    GetResponse resp;
    try {
      resp = blocking(callTimeout).get(req);
    } catch (StatusRuntimeException e) {
      throw DeltaSidecarException.from(e, "Get(" + table + ")");
    }
    if (!resp.getFound()) {
      return Optional.empty();
    }
    List<Row> rows =
        codecs(table)
            .of(resp.getSchemaId(), resp.getSnapshotId())
            .decode(resp.getRow().getRows().toByteArray(), resp.getRow().getRowCount());
    if (rows.size() != 1) {
      throw new DeltaSidecarException(
          Status.Code.INTERNAL, "Get(" + table + "): the sidecar answered " + rows.size() + " rows");
    }
    return Optional.of(rows.get(0));
  }

  /**
   * The latest change per key after snapshot {@code fromSnapshotExclusive} up to {@code
   * toInclusive} (the latest when empty): upserts as full rows, deletes ({@link Row#isDelete()})
   * with their key columns only.
   */
  public CloseableIterator<Row> changes(
      String table, long fromSnapshotExclusive, OptionalLong toInclusive) {
    ChangesRequest.Builder req =
        ChangesRequest.newBuilder().setTable(table).setFromSnapshotId(fromSnapshotExclusive);
    toInclusive.ifPresent(req::setToSnapshotId);
    ChangesRequest request = req.build();
    return new ChangeStream(
            calls, codecs(table), "Changes(" + table + ")", stub -> stub.changes(request))
        .rows();
  }

  /**
   * Follows {@code table}: the net changes of every APPEND snapshot after {@code
   * fromSnapshotExclusive} (and of every DROP_PARTITION snapshot: deletes of the dropped
   * partitions' keys), snapshot by snapshot as each commits, each snapshot's changes ended by
   * a {@link Change.Op#SNAPSHOT_END} (docs/protocol.md, "Following a table"). Without {@code
   * fromSnapshotExclusive}: from the consumer's position, or the latest snapshot. With {@code
   * consumer} (null: none) the sidecar keeps that named position, which holds snapshot expiry;
   * it moves as snapshots are <em>sent</em>, so an exactly-once reader keeps its own position (the
   * last snapshot whose end it handled) and passes it explicitly. {@code pollInterval} (null: the
   * sidecar's 200 ms) is how often the sidecar looks for a new snapshot while idle.
   *
   * <p>The stream never ends by itself: it fails with CANCELLED once closed, UNAVAILABLE when the
   * sidecar shuts down, NOT_FOUND when a snapshot it needs has expired. Close it to stop; close()
   * may be called from another thread and ends the call on the server.
   */
  public CloseableIterator<Change> followChanges(
      String table, OptionalLong fromSnapshotExclusive, String consumer, Duration pollInterval) {
    FollowChangesRequest.Builder req = FollowChangesRequest.newBuilder().setTable(table);
    fromSnapshotExclusive.ifPresent(req::setFromSnapshotId);
    if (consumer != null) {
      req.setConsumer(consumer);
    }
    if (pollInterval != null) {
      req.setPollIntervalMs((int) Math.min(Math.max(pollInterval.toMillis(), 1), 10_000));
    }
    FollowChangesRequest request = req.build();
    return new ChangeStream(
        calls, codecs(table), "FollowChanges(" + table + ")", stub -> stub.followChanges(request));
  }

  /** The retained snapshots of the table, oldest first, with the checkpoints each committed. */
  public List<SnapshotInfo> history(String table) {
    HistoryResponse resp;
    try {
      resp = blocking(callTimeout).history(HistoryRequest.newBuilder().setTable(table).build());
    } catch (StatusRuntimeException e) {
      throw DeltaSidecarException.from(e, "History(" + table + ")");
    }
    List<SnapshotInfo> out = new ArrayList<>(resp.getSnapshotsCount());
    for (io.deltasidecar.v1.SnapshotInfo s : resp.getSnapshotsList()) {
      List<CommitIdentity> ids = new ArrayList<>(s.getIdentitiesCount());
      for (io.deltasidecar.v1.CommitIdentity c : s.getIdentitiesList()) {
        ids.add(new CommitIdentity(c.getWriterId(), c.getCheckpointId()));
      }
      out.add(
          new SnapshotInfo(
              s.getId(),
              Instant.ofEpochMilli(s.getTimeUnixMs()),
              s.getKind(),
              s.getRows(),
              s.getDeletes(),
              ids));
    }
    return Collections.unmodifiableList(out);
  }

  /**
   * Closes the channel: calls still running are cancelled after a short grace period. Writers
   * should be closed first.
   */
  @Override
  public void close() {
    lingerTimer.shutdownNow();
    channel.shutdown();
    try {
      if (!channel.awaitTermination(2, TimeUnit.SECONDS)) {
        channel.shutdownNow();
        channel.awaitTermination(2, TimeUnit.SECONDS);
      }
    } catch (InterruptedException e) {
      channel.shutdownNow();
      Thread.currentThread().interrupt();
    } finally {
      if (unixEventLoop != null) {
        unixEventLoop.shutdownGracefully(0, 2, TimeUnit.SECONDS);
      }
    }
  }

  /** The path of "unix:/path", "unix:///path" or "unix:relative/path". */
  static String socketPath(String target) {
    String path = target.substring("unix:".length());
    if (path.startsWith("///")) {
      path = path.substring(2);
    }
    if (path.isEmpty()) {
      throw new IllegalArgumentException("target '" + target + "' names no socket path");
    }
    return path;
  }

  // ---------------------------------------------------------------------------------------------
  // For RecordWriter.

  DeltaSidecarGrpc.DeltaSidecarBlockingStub blocking(Duration timeout) {
    return DeltaSidecarGrpc.newBlockingStub(calls)
        .withDeadlineAfter(timeout.toNanos(), TimeUnit.NANOSECONDS);
  }

  DeltaSidecarGrpc.DeltaSidecarStub async() {
    return DeltaSidecarGrpc.newStub(calls);
  }

  Duration callTimeout() {
    return callTimeout;
  }

  ScheduledExecutorService lingerTimer() {
    return lingerTimer;
  }

  /**
   * Codecs for rows read from {@code table}: the cached schema's, or, for rows of another schema
   * version (a snapshot from before an AlterTable, or after one this client has not seen), the
   * schema DescribeTable gives for their snapshot, kept per version.
   */
  private ChangeStream.Codecs codecs(String table) {
    codec(table);  // describes the table first: a missing one fails at the call, not later
    return (schemaId, snapshotId) -> {
      RowCodec current = codec(table);
      if (current.schema().schemaId() == schemaId) {
        return current;
      }
      return versionCodecs.computeIfAbsent(
          table + '\0' + schemaId, k -> new RowCodec(describeTableAt(table, snapshotId)));
    };
  }

  private TableSchema describeTableAt(String table, long snapshotId) {
    try {
      return TableSchema.fromProto(
          blocking(callTimeout)
              .describeTable(
                  DescribeTableRequest.newBuilder()
                      .setTable(table)
                      .setSnapshot(SnapshotSelector.newBuilder().setSnapshotId(snapshotId))
                      .build()));
    } catch (StatusRuntimeException e) {
      throw DeltaSidecarException.from(e, "DescribeTable(" + table + "@" + snapshotId + ")");
    }
  }

  private RowCodec codec(String table) {
    RowCodec codec = codecs.get(table);
    if (codec == null) {
      describeTable(table);
      codec = codecs.get(table);
    }
    return codec;
  }

  private static void sleep(long nanos) {
    try {
      TimeUnit.NANOSECONDS.sleep(nanos);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new DeltaSidecarException(Status.Code.CANCELLED, "interrupted while backing off", e);
    }
  }

  /** Adds "authorization: Bearer <token>" to every call. */
  private static final class BearerToken implements ClientInterceptor {
    private static final Metadata.Key<String> AUTHORIZATION =
        Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);
    private final String value;

    BearerToken(String token) {
      value = "Bearer " + token;
    }

    @Override
    public <Q, A> ClientCall<Q, A> interceptCall(
        MethodDescriptor<Q, A> method, CallOptions options, Channel next) {
      return new ForwardingClientCall.SimpleForwardingClientCall<>(next.newCall(method, options)) {
        @Override
        public void start(Listener<A> listener, Metadata headers) {
          headers.put(AUTHORIZATION, value);
          super.start(listener, headers);
        }
      };
    }
  }

  /** Options of a client; every one has a default except {@link #target}. */
  public static final class Builder {
    private String target;
    private Duration callTimeout = Duration.ofSeconds(60);
    private Duration commitTimeout = Duration.ofMinutes(5);
    private int maxCommitAttempts = 10;
    private Duration retryInitial = Duration.ofMillis(100);
    private Duration retryMax = Duration.ofSeconds(5);
    private RetryListener retryListener;
    private String bearerToken;

    private Builder() {}

    /** "host:port" (e.g. "127.0.0.1:7543") or "unix:/path/to.sock". Required. */
    public Builder target(String target) {
      this.target = Objects.requireNonNull(target, "target");
      return this;
    }

    /** Deadline of each unary call except Commit, and of waiting for Write acks (default 60 s). */
    public Builder callTimeout(Duration timeout) {
      this.callTimeout = positive(timeout, "callTimeout");
      return this;
    }

    /** Deadline of each Commit attempt (default 5 min): a commit writes the checkpoint's data. */
    public Builder commitTimeout(Duration timeout) {
      this.commitTimeout = positive(timeout, "commitTimeout");
      return this;
    }

    /** Commit calls in all, the first included, before a retryable failure is thrown (default 10). */
    public Builder maxCommitAttempts(int attempts) {
      if (attempts < 1) {
        throw new IllegalArgumentException("maxCommitAttempts must be at least 1, got " + attempts);
      }
      this.maxCommitAttempts = attempts;
      return this;
    }

    /** Backoff between commit attempts: {@code initial}, doubling up to {@code max} (100 ms, 5 s). */
    public Builder retryBackoff(Duration initial, Duration max) {
      positive(initial, "retryBackoff initial");
      positive(max, "retryBackoff max");
      if (max.compareTo(initial) < 0) {
        throw new IllegalArgumentException("retryBackoff max " + max + " is below initial " + initial);
      }
      this.retryInitial = initial;
      this.retryMax = max;
      return this;
    }

    public Builder retryListener(RetryListener listener) {
      this.retryListener = listener;
      return this;
    }

    /** Sends "authorization: Bearer <token>" with every call (sidecar --auth-token-file). */
    public Builder bearerToken(String token) {
      this.bearerToken = token;
      return this;
    }

    public DeltaSidecarClient build() {
      if (target == null || target.isEmpty()) {
        throw new IllegalArgumentException("target is required, e.g. 127.0.0.1:7543 or unix:/path.sock");
      }
      return new DeltaSidecarClient(this);
    }

    private static Duration positive(Duration d, String what) {
      if (d.isNegative() || d.isZero()) {
        throw new IllegalArgumentException(what + " must be positive, got " + d);
      }
      return d;
    }
  }
}
