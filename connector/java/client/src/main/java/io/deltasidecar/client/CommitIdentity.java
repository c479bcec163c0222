package io.deltasidecar.client;

/** A (writer identity, checkpoint) pair a snapshot records as committed. */
public record CommitIdentity(String writerId, long checkpointId) {}
