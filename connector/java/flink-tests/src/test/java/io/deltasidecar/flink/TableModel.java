package io.deltasidecar.flink;

import java.util.ArrayList;
import java.util.List;
import java.util.TreeMap;

/**
 * The rows a table of "id BIGINT, name STRING, qty INT" (key id) must hold, and the stream
 * records that change it. Records are routed to subtask id mod parallelism, as a keyBy would.
 */
final class TableModel {
  static final String SCHEMA = "id BIGINT, name STRING, qty INT";
  static final String KEY = "id";

  /** One stream record: an upsert of (id, name, qty), or a delete of id. */
  record Event(long id, String name, int qty, boolean delete) implements java.io.Serializable {
    static Event upsert(long id, String name, int qty) {
      return new Event(id, name, qty, false);
    }

    static Event delete(long id) {
      return new Event(id, null, 0, true);
    }
  }

  /** The sink's converter for {@link Event}s (a serializable lambda, as users write them). */
  static final RecordConverter<Event> CONVERTER =
      (e, out) -> {
        if (e.delete()) {
          out.delete(e.id());
        } else {
          out.upsert(e.id(), e.name(), e.qty());
        }
      };

  private final TreeMap<Long, Event> rows = new TreeMap<>();

  void apply(Event e) {
    if (e.delete()) {
      rows.remove(e.id());
    } else {
      rows.put(e.id(), e);
    }
  }

  /** The lines {@code deltactl scan} prints for the model's rows. */
  List<String> scanLines() {
    List<String> lines = new ArrayList<>();
    for (Event e : rows.values()) {
      lines.add(line(e.id(), e.name(), e.qty()));
    }
    return lines;
  }

  static String line(long id, String name, int qty) {
    return "{\"id\":" + id + ",\"name\":\"" + name + "\",\"qty\":" + qty + "}";
  }
}
