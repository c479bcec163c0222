package io.deltasidecar.flink;

import java.util.ArrayList;
import java.util.List;
import java.util.TreeMap;

/**
 * The independent model of what the test jobs must leave in a table of "id BIGINT, name STRING,
 * qty INT" (key id): sequence number i of the job's source becomes an upsert (i, "a-i", 0), then
 * an upsert (i, "b-i", i % 1000), then, when i is a multiple of 7, a delete of i. Computed here
 * without Flink or the sink.
 */
final class TableModel {
  static final String SCHEMA = "id BIGINT, name STRING, qty INT";
  static final String KEY = "id";

  /**
   * One stream record: an upsert of (id, name, qty), or a delete of id. A Flink POJO (public
   * fields, public no-argument constructor), so that Flink 1.20 and 2 both serialize it with
   * their POJO serializer rather than Kryo.
   */
  public static final class Event implements java.io.Serializable {
    private static final long serialVersionUID = 1L;
    public long id;
    public String name;
    public int qty;
    public boolean delete;

    public Event() {}

    Event(long id, String name, int qty, boolean delete) {
      this.id = id;
      this.name = name;
      this.qty = qty;
      this.delete = delete;
    }

    static Event upsert(long id, String name, int qty) {
      return new Event(id, name, qty, false);
    }

    static Event delete(long id) {
      return new Event(id, null, 0, true);
    }

    long id() {
      return id;
    }

    String name() {
      return name;
    }

    int qty() {
      return qty;
    }

    boolean delete() {
      return delete;
    }
  }

  /** The events of sequence number i, in the order the job emits them. */
  static List<Event> eventsOf(long i) {
    List<Event> events = new ArrayList<>(3);
    events.add(Event.upsert(i, "a-" + i, 0));
    events.add(Event.upsert(i, "b-" + i, (int) (i % 1000)));
    if (i % 7 == 0) {
      events.add(Event.delete(i));
    }
    return events;
  }

  private final TreeMap<Long, Event> rows = new TreeMap<>();

  void apply(Event e) {
    if (e.delete()) {
      rows.remove(e.id());
    } else {
      rows.put(e.id(), e);
    }
  }

  /** The model after the events of sequence numbers 1..n. */
  static TableModel ofSequence(long n) {
    TableModel m = new TableModel();
    for (long i = 1; i <= n; i++) {
      eventsOf(i).forEach(m::apply);
    }
    return m;
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
