package io.deltasidecar.flink;

import io.deltasidecar.v1.Committable;
import java.util.Objects;

/**
 * What a writer hands on for one seal: the sidecar's {@link Committable} and the sidecar it was
 * staged on (the committer must send the commit where the seal is, see {@link SidecarLocation}).
 */
public record StagedCommittable(SidecarLocation stagedOn, Committable committable) {
  public StagedCommittable {
    Objects.requireNonNull(stagedOn, "stagedOn");
    Objects.requireNonNull(committable, "committable");
  }
}
