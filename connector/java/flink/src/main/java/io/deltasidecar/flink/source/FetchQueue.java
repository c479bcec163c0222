package io.deltasidecar.flink.source;

import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.CompletableFuture;

/**
 * A bounded hand-over from a fetch thread to the reader's task thread, with the availability
 * future Flink's {@code SourceReader#isAvailable} needs: the future is completed whenever an
 * element is put or {@link #wakeUp()} is called, and a fresh one is handed out only while the
 * queue is empty. Thread-safe for one producer and one consumer.
 */
final class FetchQueue<E> {
  private final ArrayBlockingQueue<E> queue;
  private CompletableFuture<Void> available = new CompletableFuture<>(); // guarded by this

  FetchQueue(int capacity) {
    queue = new ArrayBlockingQueue<>(capacity);
  }

  /** Waits for room, then adds {@code element}; InterruptedException when interrupted first. */
  void put(E element) throws InterruptedException {
    queue.put(element);
    wakeUp();
  }

  /** The next element, or null when there is none now. */
  E poll() {
    return queue.poll();
  }

  /** Completes the availability future, so the task thread polls again. */
  synchronized void wakeUp() {
    available.complete(null);
  }

  /** Completed when an element may be there; a pending future only while the queue is empty. */
  synchronized CompletableFuture<Void> availability() {
    if (available.isDone() && queue.isEmpty()) {
      available = new CompletableFuture<>();
    }
    return available;
  }

  void clear() {
    queue.clear();
  }
}
