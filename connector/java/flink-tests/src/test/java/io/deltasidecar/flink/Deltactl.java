package io.deltasidecar.flink;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Runs {@code deltactl --root <table root>} and returns its output lines. */
final class Deltactl {
  private final Path binary;
  private final Path root;

  Deltactl(SidecarProcess sidecar) {
    this.binary = sidecar.deltactlBinary;
    this.root = sidecar.tableRoot;
  }

  List<String> run(String... args) throws IOException, InterruptedException {
    List<String> argv = new ArrayList<>(List.of(binary.toString(), "--root", root.toString()));
    argv.addAll(List.of(args));
    ProcessBuilder pb = new ProcessBuilder(argv);
    pb.environment().remove("DELTA_TABLE_ROOT");
    Process p = pb.redirectErrorStream(false).start();
    p.getOutputStream().close();
    byte[] out = p.getInputStream().readAllBytes();
    byte[] err = p.getErrorStream().readAllBytes();
    int rc = p.waitFor();
    if (rc != 0) {
      throw new AssertionError(
          "deltactl " + String.join(" ", args) + " exited with " + rc + ": "
              + new String(err, StandardCharsets.UTF_8));
    }
    List<String> lines = new ArrayList<>();
    for (String line : new String(out, StandardCharsets.UTF_8).split("\n")) {
      if (!line.isEmpty()) {
        lines.add(line);
      }
    }
    return lines;
  }

  /** The table's rows, one JSON object per line, in primary-key order. */
  List<String> scan(String table) throws IOException, InterruptedException {
    return run("scan", table);
  }

  /** One JSON line per retained snapshot. */
  List<String> history(String table) throws IOException, InterruptedException {
    return run("history", table, "--format", "jsonl");
  }
}
