package io.deltasidecar.flink;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A real delta-sidecar process on a free loopback port with its own data dir (under {@code
 * workDir}) and a table root of its own or shared with other sidecars; it can be SIGKILLed and
 * restarted on the same dirs and port. The
 * binaries are named by the system properties {@code delta.sidecar} and {@code delta.deltactl}.
 * It uses nothing of the connector (readiness is a TCP connect), so that the tests also run with
 * the shaded connector jar alone on the class path.
 */
final class SidecarProcess implements AutoCloseable {
  private static final Duration START_TIMEOUT = Duration.ofSeconds(60);

  final Path sidecarBinary;
  final Path deltactlBinary;
  final Path dataDir;
  final Path tableRoot;
  final Path log;
  final String target;
  /** The kill point the next {@link #start} arms (DELTA_SIDECAR_KILL_POINT), or null. */
  private String killPoint;
  /** Flags added to every start (e.g. "--prepared-wait", "2s"). */
  private final List<String> extraArgs = new ArrayList<>();
  private Process process;

  SidecarProcess(Path workDir) throws IOException {
    this(workDir, workDir.resolve("root"));
  }

  /** A sidecar on {@code tableRoot}, which other sidecars may share. */
  SidecarProcess(Path workDir, Path tableRoot) throws IOException {
    sidecarBinary = binary("delta.sidecar", "delta-sidecar");
    deltactlBinary = binary("delta.deltactl", "deltactl");
    Files.createDirectories(workDir);
    dataDir = workDir.resolve("data");
    this.tableRoot = tableRoot;
    log = workDir.resolve("sidecar.log");
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      target = "127.0.0.1:" + s.getLocalPort();
    }
  }

  private static Path binary(String property, String name) {
    String path = System.getProperty(property);
    if (path == null || path.isEmpty() || !Files.isExecutable(Path.of(path))) {
      throw new IllegalStateException(
          "set -D" + property + " to the " + name + " binary (CTest passes the built one); got "
              + path);
    }
    return Path.of(path);
  }

  SidecarProcess start() throws IOException, InterruptedException {
    if (process != null && process.isAlive()) {
      throw new IllegalStateException("the sidecar is already running");
    }
    List<String> argv = new ArrayList<>();
    argv.add(sidecarBinary.toString());
    argv.add("--listen");
    argv.add(target);
    argv.add("--data-dir");
    argv.add(dataDir.toString());
    argv.add("--table-root");
    argv.add(tableRoot.toString());
    argv.add("--log-format");
    argv.add("json");
    argv.addAll(extraArgs);
    ProcessBuilder pb = new ProcessBuilder(argv).redirectErrorStream(true);
    pb.environment().remove("DELTA_SIDECAR_KILL_POINT");
    if (killPoint != null) {
      pb.environment().put("DELTA_SIDECAR_KILL_POINT", killPoint);
      killPoint = null;
    }
    pb.redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
    process = pb.start();
    waitReady();
    return this;
  }

  /** Waits until the sidecar accepts connections on its port (it listens once it has recovered). */
  private void waitReady() throws IOException, InterruptedException {
    long deadline = System.nanoTime() + START_TIMEOUT.toNanos();
    int port = Integer.parseInt(target.substring(target.lastIndexOf(':') + 1));
    IOException last = null;
    while (System.nanoTime() < deadline) {
      if (!process.isAlive()) {
        throw new IllegalStateException(
            "delta-sidecar exited with " + process.exitValue() + ":\n" + logText());
      }
      try (Socket s = new Socket()) {
        s.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 1000);
        return;
      } catch (IOException e) {
        last = e;
      }
      Thread.sleep(20);
    }
    throw new IllegalStateException(
        "delta-sidecar not ready after " + START_TIMEOUT + ": " + last + "\n" + logText());
  }

  /**
   * Makes the next start arm a kill point ({@code name} or {@code name:hit}, see {@code
   * delta-sidecar --list-kill-points}): the process SIGKILLs itself when it gets there. Only for
   * that start; a restart after it runs unarmed.
   */
  SidecarProcess armKillPoint(String spec) {
    this.killPoint = spec;
    return this;
  }

  /** Adds {@code flags} to the command line of every later start. */
  SidecarProcess withFlags(String... flags) {
    extraArgs.addAll(List.of(flags));
    return this;
  }

  /** Waits up to {@code timeout} for the process to exit; true when it did. */
  boolean awaitExit(Duration timeout) throws InterruptedException {
    return process == null || process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS);
  }

  boolean isRunning() {
    return process != null && process.isAlive();
  }

  /** SIGKILL, as a crash. */
  void kill() throws InterruptedException {
    if (process != null) {
      process.destroyForcibly();
      process.waitFor();
    }
  }

  void restart() throws IOException, InterruptedException {
    kill();
    start();
  }

  /** The log's length, to read only what is logged after it ({@link #registrationsSince}). */
  long logMark() throws IOException {
    return Files.exists(log) ? Files.size(log) : 0;
  }

  /** The writer ids of table {@code table} registered since {@code mark}, in log order. */
  List<String> registrationsSince(long mark, String table) throws IOException {
    return writersOfEvents(mark, table, "register");
  }

  /**
   * The writer ids of the committables this sidecar committed (or found committed) for table
   * {@code table} since {@code mark}, one per committable, in log order.
   */
  List<String> commitsSince(long mark, String table) throws IOException {
    return writersOfEvents(mark, table, "commit");
  }

  private List<String> writersOfEvents(long mark, String table, String event) throws IOException {
    List<String> writers = new ArrayList<>();
    byte[] bytes = Files.readAllBytes(log);
    String text =
        new String(bytes, (int) mark, bytes.length - (int) mark, java.nio.charset.StandardCharsets.UTF_8);
    java.util.regex.Pattern writer = java.util.regex.Pattern.compile("\"writer\":\"([^\"]*)\"");
    for (String line : text.split("\n")) {
      if (line.contains("\"event\":\"" + event + "\"")
          && line.contains("\"table\":\"" + table + "\"")) {
        java.util.regex.Matcher m = writer.matcher(line);
        if (m.find()) {
          writers.add(m.group(1));
        }
      }
    }
    return writers;
  }

  String logText() throws IOException {
    return Files.exists(log) ? Files.readString(log) : "";
  }

  @Override
  public void close() {
    if (process == null || !process.isAlive()) {
      return;
    }
    process.destroy();
    try {
      if (!process.waitFor(30, TimeUnit.SECONDS)) {
        process.destroyForcibly().waitFor();
      }
    } catch (InterruptedException e) {
      process.destroyForcibly();
      Thread.currentThread().interrupt();
    }
  }
}
