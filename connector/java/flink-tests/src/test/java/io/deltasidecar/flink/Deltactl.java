package io.deltasidecar.flink;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Runs {@code deltactl --root <table root>}: the tests' independent view of the table. */
final class Deltactl {
  private static final Pattern IDENTITY =
      Pattern.compile("\\{\"checkpoint\":(\\d+),\"writer\":\"((?:[^\"\\\\]|\\\\.)*)\"\\}");
  private static final Pattern KIND = Pattern.compile("\"kind\":\"([A-Z]+)\"");

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

  /** A (writer identity, checkpoint) recorded in a snapshot. */
  record Identity(String writer, long checkpoint) {}

  /** Every identity of every APPEND snapshot, in snapshot order (duplicates kept). */
  List<Identity> committedIdentities(String table) throws IOException, InterruptedException {
    List<Identity> ids = new ArrayList<>();
    appendSnapshots(table).forEach(ids::addAll);
    return ids;
  }

  /** The identities of each APPEND snapshot, one list per snapshot, in snapshot order. */
  List<List<Identity>> appendSnapshots(String table) throws IOException, InterruptedException {
    List<List<Identity>> snapshots = new ArrayList<>();
    for (String line : history(table)) {
      Matcher kind = KIND.matcher(line);
      if (!kind.find() || !kind.group(1).equals("APPEND")) {
        continue;
      }
      List<Identity> ids = new ArrayList<>();
      Matcher m = IDENTITY.matcher(line);
      while (m.find()) {
        ids.add(new Identity(m.group(2), Long.parseLong(m.group(1))));
      }
      snapshots.add(ids);
    }
    return snapshots;
  }

  /**
   * Fails when an identity was committed twice; returns the identities (at least one, or the
   * table was never committed to).
   */
  List<Identity> assertNoIdentityTwice(String table) throws IOException, InterruptedException {
    List<Identity> ids = committedIdentities(table);
    if (ids.isEmpty()) {
      throw new AssertionError("no commit with an identity in the history of " + table + ":\n"
          + String.join("\n", history(table)));
    }
    Set<Identity> seen = new HashSet<>();
    for (Identity id : ids) {
      if (!seen.add(id)) {
        throw new AssertionError(
            "identity " + id + " committed twice; history:\n" + String.join("\n", history(table)));
      }
    }
    return ids;
  }
}
