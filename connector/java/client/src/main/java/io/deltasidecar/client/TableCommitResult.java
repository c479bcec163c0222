package io.deltasidecar.client;

/**
 * The commit of one table: the snapshot that holds it, and whether the table had already
 * recorded the checkpoint (a retry or a replay: nothing new was written).
 */
public record TableCommitResult(String table, long snapshotId, boolean alreadyCommitted) {}
