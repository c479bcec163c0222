package io.deltasidecar.flink;

import java.io.Serializable;
import java.net.InetAddress;
import java.util.Locale;
import java.util.Objects;

/**
 * Which sidecar a writer staged its checkpoints on, as far as the committer needs to know: the
 * {@code target} the writer connected to, and, when that target reaches only a sidecar on the
 * writer's own machine (a loopback address, {@code localhost}, a unix socket), the {@code host}
 * of the task manager it ran on. Two writers on different task managers with target {@code
 * 127.0.0.1:7543} staged on two different sidecars; two writers with target {@code
 * sidecar.prod:7543} staged on the same one ({@code host} is empty).
 *
 * <p>{@link #UNKNOWN} marks committables serialized before the sink recorded locations (version 1
 * committer state). Any sidecar on the table root commits any writer's checkpoints, so the
 * committer only uses locations to choose a sidecar it can reach.
 */
public record SidecarLocation(String host, String target) implements Serializable {
  public static final SidecarLocation UNKNOWN = new SidecarLocation("", "");

  public SidecarLocation {
    Objects.requireNonNull(host, "host");
    Objects.requireNonNull(target, "target");
  }

  /** The location of the sidecar {@code target} reaches from this JVM's machine. */
  public static SidecarLocation of(String target) {
    return new SidecarLocation(isMachineLocal(target) ? LocalHost.NAME : "", target);
  }

  public boolean isUnknown() {
    return target.isEmpty();
  }

  /** True when the target names a sidecar on the caller's machine only. */
  public boolean isMachineLocal() {
    return !host.isEmpty();
  }

  /** True when this JVM's machine reaches this sidecar: not machine-local, or staged here. */
  public boolean isReachableFromHere() {
    return !isMachineLocal() || host.equals(LocalHost.NAME);
  }

  /**
   * True when {@code target} reaches a sidecar on the connecting machine only: a unix socket, or
   * a loopback or unspecified address ({@code 127.x}, {@code ::1}, {@code localhost}, {@code
   * 0.0.0.0}), also behind gRPC's {@code dns:///} or {@code ipv4:} / {@code ipv6:} schemes.
   */
  static boolean isMachineLocal(String target) {
    String t = target.trim().toLowerCase(Locale.ROOT);
    if (t.startsWith("unix:") || t.startsWith("unix-abstract:")) {
      return true;
    }
    for (String scheme : new String[] {"dns:///", "dns:", "ipv4:", "ipv6:"}) {
      if (t.startsWith(scheme)) {
        t = t.substring(scheme.length());
        break;
      }
    }
    String host;
    if (t.startsWith("[")) {
      int end = t.indexOf(']');
      host = end < 0 ? t.substring(1) : t.substring(1, end);
    } else {
      int colon = t.indexOf(':');
      int lastColon = t.lastIndexOf(':');
      // One colon: host:port; several: a bare IPv6 address.
      host = colon >= 0 && colon == lastColon ? t.substring(0, colon) : t;
    }
    return host.equals("localhost")
        || host.endsWith(".localhost")
        || host.startsWith("127.")
        || host.equals("::1")
        || host.equals("0:0:0:0:0:0:0:1")
        || host.equals("0.0.0.0")
        || host.equals("::");
  }

  @Override
  public String toString() {
    if (isUnknown()) {
      return "the committer's own sidecar";
    }
    return isMachineLocal() ? target + " on " + host : target;
  }

  /** This machine's name, resolved once. */
  private static final class LocalHost {
    static final String NAME = resolve();

    private static String resolve() {
      try {
        String name = InetAddress.getLocalHost().getHostName();
        if (name != null && !name.isEmpty()) {
          return name;
        }
      } catch (java.io.IOException | SecurityException e) {
        // Fall through: containers without a resolvable hostname.
      }
      String env = System.getenv("HOSTNAME");
      return env != null && !env.isEmpty() ? env : "unknown-host";
    }
  }
}
