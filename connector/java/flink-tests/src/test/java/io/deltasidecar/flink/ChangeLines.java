package io.deltasidecar.flink;

import io.deltasidecar.client.Row;
import io.deltasidecar.flink.source.ChangeConverter;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeMap;
import org.apache.flink.types.RowKind;

/**
 * The records of the source in the readers' tests: one line per row of a {@link
 * TableModel#SCHEMA} table, "{kind}|{snapshot}|{deltactl scan line}" ("+I|3|{"id":1,...}"), a
 * delete's line holding the id only; and a view materialised from such lines.
 */
final class ChangeLines implements ChangeConverter<String> {
  private static final long serialVersionUID = 1L;

  @Override
  public String convert(RowKind kind, Row row, long snapshotId) {
    long id = (Long) row.get("id");
    String line =
        kind == RowKind.DELETE
            ? "{\"id\":" + id + "}"
            : TableModel.line(id, (String) row.get("name"), (Integer) row.get("qty"));
    return kind.shortString() + "|" + snapshotId + "|" + line;
  }

  static String kind(String record) {
    return record.substring(0, record.indexOf('|'));
  }

  static long snapshot(String record) {
    int a = record.indexOf('|');
    return Long.parseLong(record.substring(a + 1, record.indexOf('|', a + 1)));
  }

  static String line(String record) {
    return record.substring(record.indexOf('|', record.indexOf('|') + 1) + 1);
  }

  static long id(String record) {
    String line = line(record);
    int start = line.indexOf(':') + 1;
    int end = line.indexOf(',', start);
    return Long.parseLong(line.substring(start, end < 0 ? line.length() - 1 : end));
  }

  /** key -> scan line, with upserts and deletes applied in order. */
  static final class View implements java.io.Serializable {
    private static final long serialVersionUID = 1L;
    final TreeMap<Long, String> rows = new TreeMap<>();

    void apply(String record) {
      if (kind(record).equals("-D")) {
        rows.remove(id(record));
      } else {
        rows.put(id(record), line(record));
      }
    }

    List<String> lines() {
      return new ArrayList<>(rows.values());
    }
  }
}
