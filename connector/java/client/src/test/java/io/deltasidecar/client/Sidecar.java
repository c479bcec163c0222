package io.deltasidecar.client;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A real delta-sidecar process for tests, on a port the system picks (or a given one, to restart
 * on the same address), with its own staging and table directories. The binaries come from the
 * system properties {@code delta.sidecar} and {@code delta.deltactl} (CTest passes the ones in
 * the build tree), or the environment variables DELTA_SIDECAR_BIN and DELTACTL_BIN.
 */
final class Sidecar implements AutoCloseable {
  private static final Pattern SERVING = Pattern.compile("serving on (\\S+)");
  private static final long START_TIMEOUT_SECONDS = 60;

  private final Path dataDir;
  private final Path tableRoot;
  private final Path log;
  private final String listen;
  private Process process;
  private String target;

  private Sidecar(Path dir, String listen) {
    this.dataDir = dir.resolve("staging");
    this.tableRoot = dir.resolve("tables");
    this.log = dir.resolve("sidecar.log");
    this.listen = listen;
  }

  /** Starts a sidecar on 127.0.0.1 and a free port, keeping its state under {@code dir}. */
  static Sidecar start(Path dir) {
    return startOn(dir, "127.0.0.1:0");
  }

  /** Starts a sidecar listening on {@code listen} ("127.0.0.1:0", "unix:/path.sock"). */
  static Sidecar startOn(Path dir, String listen) {
    Sidecar s = new Sidecar(dir, listen);
    s.launch(listen);
    return s;
  }

  static Path binary(String property, String env, String name) {
    String p = System.getProperty(property, System.getenv(env));
    if (p == null || p.isEmpty()) {
      throw new IllegalStateException(
          "set -D" + property + "=<path to " + name + "> (or " + env + ") to run this test");
    }
    Path path = Path.of(p);
    if (!Files.isExecutable(path)) {
      throw new IllegalStateException(name + " not found or not executable at " + path);
    }
    return path;
  }

  /** "127.0.0.1:port" or "unix:/path" to give the client. */
  String target() {
    return target;
  }

  Path tableRoot() {
    return tableRoot;
  }

  /** SIGKILL: no shutdown, nothing flushed beyond what the sidecar already synced. */
  void kill() {
    process.destroyForcibly();
    waitForExit();
  }

  /** Starts the sidecar again on the same directories and address after {@link #kill()}. */
  void restart() {
    if (process.isAlive()) {
      throw new IllegalStateException("the sidecar is still running");
    }
    // The same port as before, so clients reconnect to the address they know.
    launch(target);
  }

  /** SIGTERM and wait: the graceful shutdown. */
  @Override
  public void close() {
    if (process != null && process.isAlive()) {
      process.destroy();
      try {
        if (!process.waitFor(30, TimeUnit.SECONDS)) {
          process.destroyForcibly();
        }
      } catch (InterruptedException e) {
        process.destroyForcibly();
        Thread.currentThread().interrupt();
      }
      waitForExit();
    }
  }

  /** `deltactl --root <table root> scan <table>`: one JSON object per live row, in key order. */
  List<String> deltactlScan(String table) {
    return deltactl("scan", table);
  }

  List<String> deltactl(String... args) {
    List<String> cmd = new ArrayList<>();
    cmd.add(binary("delta.deltactl", "DELTACTL_BIN", "deltactl").toString());
    cmd.add("--root");
    cmd.add(tableRoot.toString());
    cmd.addAll(List.of(args));
    try {
      Process p = new ProcessBuilder(cmd).redirectErrorStream(false).start();
      CompletableFuture<String> err =
          CompletableFuture.supplyAsync(() -> readAll(p.getErrorStream()));
      List<String> lines = new ArrayList<>();
      try (BufferedReader r =
          new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
        for (String line; (line = r.readLine()) != null; ) {
          lines.add(line);
        }
      }
      int status = p.waitFor();
      if (status != 0) {
        throw new AssertionError(String.join(" ", cmd) + " exited " + status + ": " + err.get());
      }
      return lines;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (InterruptedException | ExecutionException e) {
      throw new AssertionError(e);
    }
  }

  private void launch(String address) {
    List<String> cmd =
        List.of(
            binary("delta.sidecar", "DELTA_SIDECAR_BIN", "delta-sidecar").toString(),
            "--listen", address,
            "--data-dir", dataDir.toString(),
            "--table-root", tableRoot.toString(),
            "--shutdown-timeout", "10s");
    try {
      Files.createDirectories(dataDir);
      Files.createDirectories(tableRoot);
      process = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot start " + cmd, e);
    }
    // The log is drained on a thread for the whole life of the process (a full pipe would stall
    // the sidecar); the "serving on <address>" line says it accepts calls.
    CompletableFuture<String> serving = new CompletableFuture<>();
    Process p = process;
    Thread drain =
        new Thread(
            () -> {
              try (BufferedReader r =
                      new BufferedReader(
                          new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
                  var out =
                      Files.newBufferedWriter(
                          log,
                          StandardCharsets.UTF_8,
                          java.nio.file.StandardOpenOption.CREATE,
                          java.nio.file.StandardOpenOption.APPEND)) {
                for (String line; (line = r.readLine()) != null; ) {
                  out.write(line);
                  out.newLine();
                  out.flush();
                  Matcher m = SERVING.matcher(line);
                  if (m.find()) {
                    serving.complete(m.group(1));
                  }
                }
              } catch (IOException e) {
                serving.completeExceptionally(e);
              }
              serving.completeExceptionally(
                  new IllegalStateException("delta-sidecar exited before serving"));
            },
            "sidecar-log");
    drain.setDaemon(true);
    drain.start();
    try {
      String served = serving.get(START_TIMEOUT_SECONDS, TimeUnit.SECONDS);
      target = served;
    } catch (ExecutionException | TimeoutException e) {
      process.destroyForcibly();
      throw new IllegalStateException(
          "delta-sidecar did not start (" + String.join(" ", cmd) + "):\n" + readLog(), e);
    } catch (InterruptedException e) {
      process.destroyForcibly();
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  String readLog() {
    try {
      return Files.exists(log) ? Files.readString(log) : "(no log)";
    } catch (IOException e) {
      return "(log unreadable: " + e + ")";
    }
  }

  private void waitForExit() {
    try {
      process.waitFor();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private static String readAll(java.io.InputStream in) {
    try {
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      return "(unreadable: " + e + ")";
    }
  }
}
