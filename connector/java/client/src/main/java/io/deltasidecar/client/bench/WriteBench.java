package io.deltasidecar.client.bench;

import io.deltasidecar.client.DeltaSidecarClient;
import io.deltasidecar.client.RecordWriter;
import io.deltasidecar.client.Registration;
import io.deltasidecar.client.WriterOptions;
import io.deltasidecar.v1.Committable;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.OptionalLong;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Write throughput of the Java client, with the workload shape of delta-loadgen: W writers (writer
 * w owns the ids with id % W == w), rows of about {@code --row-bytes} packed bytes ("id BIGINT,
 * writer INT, seq BIGINT, amount DOUBLE, payload STRING"), 30% updates and 10% deletes of existing
 * keys, and a checkpoint every {@code --checkpoint-interval-ms}: every writer seals it, then one
 * Commit commits all of them (as Flink's committer does), at most two checkpoints ahead of the last
 * commit. The clock runs from the first write to the end of the final commit. Prints one JSON line
 * with rows/s and MB/s (packed row bytes, 10^6 bytes per MB), like delta-loadgen's summary, and
 * the CPU the client used: in all, and in the writer threads per row.
 */
public final class WriteBench {
  private static final String SCHEMA =
      "id BIGINT, writer INT, seq BIGINT, amount DOUBLE, payload STRING";
  // Bytes of an upsert before the payload: op, null bitmap, id, writer, seq, amount.
  private static final int FIXED_UPSERT_BYTES = 1 + 1 + 8 + 4 + 8 + 8;
  private static final int PAYLOADS = 4096;
  private static final int MAX_UNCOMMITTED_CHECKPOINTS = 2;

  private String target = "127.0.0.1:7543";
  private String table = "javabench";
  private long rows = 5_000_000;
  private int writers = 2;
  private long keySpace = 0;
  private double updateRatio = 0.3;
  private double deleteRatio = 0.1;
  private int rowBytes = 100;
  private long checkpointIntervalMs = 1000;
  private int batchBytes = 1 << 20;
  private int inFlight = 8;
  private int buckets = 16;
  private long seed = 1;
  private String writerPrefix;
  private boolean cpuBreakdown;

  // Coordination between the writers, the checkpoint trigger and the committer; guarded by `this`
  // except the volatile `requested`, which writers read once per row.
  private volatile long requested;
  private long committed;
  private long commitSubmitted;
  private long finalId;
  private int finishedWriters;
  private final List<ConcurrentHashMap<Long, Committable>> prepared = new ArrayList<>();
  private final AtomicReference<Throwable> failure = new AtomicReference<>();
  private long[] bytes;
  private final java.util.concurrent.atomic.AtomicLong writerCpuNanos =
      new java.util.concurrent.atomic.AtomicLong();

  public static void main(String[] args) throws Exception {
    WriteBench bench = new WriteBench();
    if (!bench.parse(args)) {
      return;
    }
    System.exit(bench.run());
  }

  private boolean parse(String[] args) {
    for (int i = 0; i < args.length; i++) {
      String a = args[i];
      if (a.equals("--help") || a.equals("-h")) {
        System.out.println(
            "WriteBench: write throughput of the Java client against a running delta-sidecar,\n"
                + "with delta-loadgen's workload shape. Prints one JSON line.\n"
                + "  --target HOST:PORT|unix:PATH   (127.0.0.1:7543)\n"
                + "  --table NAME                   (javabench; created if missing)\n"
                + "  --rows N                       total ops across writers (5000000)\n"
                + "  --writers W                    (2)\n"
                + "  --key-space K                  keys 0..K-1 (rows/2)\n"
                + "  --update-ratio R --delete-ratio R   (0.3, 0.1)\n"
                + "  --row-bytes B                  packed bytes of an upsert (100)\n"
                + "  --checkpoint-interval-ms MS    (1000)\n"
                + "  --batch-bytes B --in-flight N  writer batching (1048576, 8)\n"
                + "  --buckets N --seed S --writer-prefix P\n"
                + "  --cpu-breakdown                CPU seconds per thread group on stderr (Linux)");
        return false;
      }
      if (a.equals("--cpu-breakdown")) {
        cpuBreakdown = true;
        continue;
      }
      if (i + 1 >= args.length) {
        throw new IllegalArgumentException(a + " needs a value");
      }
      String v = args[++i];
      switch (a) {
        case "--target" -> target = v;
        case "--table" -> table = v;
        case "--rows" -> rows = Long.parseLong(v);
        case "--writers" -> writers = Integer.parseInt(v);
        case "--key-space" -> keySpace = Long.parseLong(v);
        case "--update-ratio" -> updateRatio = Double.parseDouble(v);
        case "--delete-ratio" -> deleteRatio = Double.parseDouble(v);
        case "--row-bytes" -> rowBytes = Integer.parseInt(v);
        case "--checkpoint-interval-ms" -> checkpointIntervalMs = Long.parseLong(v);
        case "--batch-bytes" -> batchBytes = Integer.parseInt(v);
        case "--in-flight" -> inFlight = Integer.parseInt(v);
        case "--buckets" -> buckets = Integer.parseInt(v);
        case "--seed" -> seed = Long.parseLong(v);
        case "--writer-prefix" -> writerPrefix = v;
        default -> throw new IllegalArgumentException("unknown option " + a + " (see --help)");
      }
    }
    if (rowBytes < FIXED_UPSERT_BYTES + 1 || writers < 1 || rows < 1) {
      throw new IllegalArgumentException(
          "need --rows >= 1, --writers >= 1 and --row-bytes >= " + (FIXED_UPSERT_BYTES + 1));
    }
    if (keySpace == 0) {
      keySpace = Math.max(1, rows / 2);
    }
    if (writerPrefix == null) {
      writerPrefix = "javabench-" + table;
    }
    return true;
  }

  private int run() throws Exception {
    try (DeltaSidecarClient client = DeltaSidecarClient.connect(target)) {
      client.createTable(table, SCHEMA, "id", buckets, true);
      WriterOptions options =
          WriterOptions.builder().maxBatchBytes(batchBytes).maxInFlightBatches(inFlight).build();
      List<RecordWriter> recordWriters = new ArrayList<>();
      for (int w = 0; w < writers; w++) {
        Registration reg = client.register(table, writerPrefix + "/" + w, OptionalLong.empty());
        recordWriters.add(client.openWriter(reg, options));
        prepared.add(new ConcurrentHashMap<>());
      }
      bytes = new long[writers];
      ExecutorService committer = Executors.newSingleThreadExecutor();
      List<Thread> threads = new ArrayList<>();
      long start = System.nanoTime();
      for (int w = 0; w < writers; w++) {
        int index = w;
        Thread t = new Thread(() -> writeLoop(index, recordWriters.get(index)), "writer-" + w);
        threads.add(t);
        t.start();
      }
      long checkpoints = coordinate(client, committer);
      double seconds = (System.nanoTime() - start) / 1e9;
      for (Thread t : threads) {
        t.join();
      }
      committer.shutdown();
      for (RecordWriter w : recordWriters) {
        w.close();
      }
      if (cpuBreakdown) {
        printCpuBreakdown();
      }
      if (failure.get() != null) {
        System.err.println("WriteBench: failed: " + failure.get());
        return 1;
      }
      long totalBytes = 0;
      for (long b : bytes) {
        totalBytes += b;
      }
      System.out.printf(
          Locale.ROOT,
          "{\"rows\":%d,\"writers\":%d,\"checkpoints\":%d,\"seconds\":%.3f,\"rows_per_s\":%d,"
              + "\"mb_per_s\":%.2f,\"client_cpu_s\":%.2f,\"writer_cpu_ns_per_row\":%d}%n",
          rows, writers, checkpoints, seconds, Math.round(rows / seconds), totalBytes / seconds / 1e6,
          processCpuSeconds(), Math.round(writerCpuNanos.get() / (double) rows));
      return 0;
    }
  }

  /** Triggers checkpoints by time, commits those every writer sealed, then the final one. */
  private synchronized long coordinate(DeltaSidecarClient client, ExecutorService committer)
      throws InterruptedException {
    long nextTrigger = System.nanoTime() + checkpointIntervalMs * 1_000_000L;
    while (failure.get() == null) {
      if (finalId > 0 && committed == finalId) {
        return finalId;
      }
      long now = System.nanoTime();
      if (finalId == 0 && finishedWriters == writers) {
        finalId = requested + 1;
        requested = finalId;
        notifyAll();
      } else if (finalId == 0 && now >= nextTrigger
          && requested - committed < MAX_UNCOMMITTED_CHECKPOINTS) {
        requested = requested + 1;
        nextTrigger = now + checkpointIntervalMs * 1_000_000L;
        notifyAll();
      }
      long next = commitSubmitted + 1;
      if (next <= requested && allPrepared(next)) {
        List<Committable> all = new ArrayList<>();
        for (ConcurrentHashMap<Long, Committable> p : prepared) {
          all.add(p.remove(next));
        }
        commitSubmitted = next;
        committer.execute(
            () -> {
              try {
                client.commit(all);
              } catch (Throwable t) {
                failure.compareAndSet(null, t);
              }
              synchronized (this) {
                committed = next;
                notifyAll();
              }
            });
        continue;
      }
      long waitMs = Math.max(1, (nextTrigger - System.nanoTime()) / 1_000_000L);
      wait(finalId > 0 ? 1000 : waitMs);
    }
    return committed;
  }

  private boolean allPrepared(long id) {
    for (ConcurrentHashMap<Long, Committable> p : prepared) {
      if (!p.containsKey(id)) {
        return false;
      }
    }
    return true;
  }

  private void sealUpTo(int w, RecordWriter writer, long[] lastPrepared, long upTo) {
    while (lastPrepared[0] < upTo) {
      long id = ++lastPrepared[0];
      prepared.get(w).put(id, writer.prepareCommit(id));
    }
    synchronized (this) {
      notifyAll();
    }
  }

  private void writeLoop(int w, RecordWriter writer) {
    try {
      long ops = rows / writers + (w < rows % writers ? 1 : 0);
      long keys = keySpace > w ? (keySpace - w + writers - 1) / writers : 0;
      int payloadLen = rowBytes - FIXED_UPSERT_BYTES - 1;
      while (payloadLen > 0 && FIXED_UPSERT_BYTES + varintSize(payloadLen) + payloadLen > rowBytes) {
        payloadLen--;
      }
      String[] payloads = payloads(w, payloadLen);
      Integer writerValue = w;
      Object[] values = new Object[5];
      long rng = mix64(seed * 0x2545f4914f6cdd1dL + w * 0x9e3779b97f4a7c15L + 7);
      long allocated = 0;
      long[] lastPrepared = {0};
      for (long op = 0; op < ops; op++) {
        long want = requested;
        if (want > lastPrepared[0]) {
          sealUpTo(w, writer, lastPrepared, want);
        }
        rng += 0x9e3779b97f4a7c15L;
        long r1 = mix64(rng);
        rng += 0x9e3779b97f4a7c15L;
        long r2 = mix64(rng);
        double u = (r1 >>> 11) * 0x1.0p-53;
        long slot;
        boolean delete = false;
        if (allocated > 0 && u < deleteRatio) {
          delete = true;
          slot = Long.remainderUnsigned(r2, allocated);
        } else if (allocated > 0 && (u < deleteRatio + updateRatio || allocated == keys)) {
          slot = Long.remainderUnsigned(r2, allocated);
        } else {
          slot = allocated++;
        }
        long id = w + slot * writers;
        if (delete) {
          writer.delete(id);
        } else {
          values[0] = id;
          values[1] = writerValue;
          values[2] = op;
          values[3] = (Long.remainderUnsigned(r2 >>> 17, 100_000_000L)) / 100.0;
          values[4] = payloads[(int) (r2 & (PAYLOADS - 1))];
          writer.upsert(values);
        }
      }
      synchronized (this) {
        finishedWriters++;
        notifyAll();
      }
      // Done writing: keep sealing the checkpoints the coordinator requests, the final one last.
      for (;;) {
        long want;
        synchronized (this) {
          while (requested <= lastPrepared[0] && failure.get() == null) {
            wait();
          }
          if (failure.get() != null) {
            return;
          }
          want = requested;
        }
        sealUpTo(w, writer, lastPrepared, want);
        synchronized (this) {
          if (finalId > 0 && lastPrepared[0] >= finalId) {
            break;
          }
        }
      }
      bytes[w] = writer.bytesSent();
      writerCpuNanos.addAndGet(
          java.lang.management.ManagementFactory.getThreadMXBean().getCurrentThreadCpuTime());
    } catch (Throwable t) {
      failure.compareAndSet(null, t);
      synchronized (this) {
        notifyAll();
      }
    }
  }

  /** CPU seconds of the live threads of this process, grouped by name without digits. */
  private static void printCpuBreakdown() throws java.io.IOException {
    java.util.Map<String, Long> ticks = new java.util.TreeMap<>();
    try (var tasks = java.nio.file.Files.list(java.nio.file.Path.of("/proc/self/task"))) {
      for (java.nio.file.Path t : (Iterable<java.nio.file.Path>) tasks::iterator) {
        try {
          String name = java.nio.file.Files.readString(t.resolve("comm")).trim().replaceAll("\\d+", "N");
          String stat = java.nio.file.Files.readString(t.resolve("stat"));
          String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
          ticks.merge(name, Long.parseLong(f[11]) + Long.parseLong(f[12]), Long::sum);
        } catch (java.io.IOException | RuntimeException e) {
          // The thread ended meanwhile.
        }
      }
    }
    ticks.forEach((name, t) -> System.err.printf(Locale.ROOT, "cpu %-28s %.2f s%n", name, t / 100.0));
  }

  /** CPU time of this whole process (all threads, JIT and GC included). */
  private static double processCpuSeconds() {
    java.lang.management.OperatingSystemMXBean os =
        java.lang.management.ManagementFactory.getOperatingSystemMXBean();
    if (os instanceof com.sun.management.OperatingSystemMXBean sun) {
      return sun.getProcessCpuTime() / 1e9;
    }
    return -1;
  }

  /** Distinct lowercase payloads of one length (an application's strings, made up front). */
  private String[] payloads(int w, int len) {
    String[] out = new String[PAYLOADS];
    long s = mix64(seed ^ 0x5eed ^ ((long) w << 32));
    char[] c = new char[len];
    for (int i = 0; i < PAYLOADS; i++) {
      for (int k = 0; k < len; k++) {
        s = mix64(s + 0x9e3779b97f4a7c15L);
        c[k] = (char) ('a' + Long.remainderUnsigned(s, 26));
      }
      out[i] = new String(c);
    }
    return out;
  }

  private static int varintSize(long n) {
    int size = 1;
    while (n >= 0x80) {
      n >>>= 7;
      size++;
    }
    return size;
  }

  private static long mix64(long z) {
    z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
    z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
    return z ^ (z >>> 31);
  }
}
