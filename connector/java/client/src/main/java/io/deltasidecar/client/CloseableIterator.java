package io.deltasidecar.client;

import java.util.Iterator;

/**
 * An iterator over a streamed answer. Close it when stopping early: that cancels the call. Errors
 * of the stream surface from {@code hasNext}/{@code next} as {@link DeltaSidecarException}.
 */
public interface CloseableIterator<T> extends Iterator<T>, AutoCloseable {
  @Override
  void close();
}
