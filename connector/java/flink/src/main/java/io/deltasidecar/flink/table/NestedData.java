package io.deltasidecar.flink.table;

import io.deltasidecar.flink.table.RowDataConverter.FlinkColumn;
import java.math.BigDecimal;
import java.time.Instant;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.flink.table.data.ArrayData;
import org.apache.flink.table.data.DecimalData;
import org.apache.flink.table.data.GenericArrayData;
import org.apache.flink.table.data.GenericMapData;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.MapData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.data.TimestampData;

/**
 * Values between Flink's internal data structures and the client's Java values (ColumnType's
 * classes), for any column type and in particular the nested ones: a Flink ARRAY ({@link
 * ArrayData}) is the client's {@code List}, a MAP ({@link MapData}) its {@code Map}, a ROW
 * ({@link RowData}) its STRUCT {@code Map} of field name to value, to any depth. Stateless.
 */
final class NestedData {
  private NestedData() {}

  /** The client value of the Flink internal value {@code v} (null for NULL) of column {@code c}. */
  static Object toClient(FlinkColumn c, Object v) {
    if (v == null) {
      return null;
    }
    return switch (c.type()) {
      case BOOLEAN, TINYINT, SMALLINT, INT, BIGINT, FLOAT, DOUBLE, BINARY -> v;
      case DECIMAL -> ((DecimalData) v).toBigDecimal();
      case STRING -> v.toString();
      case DATE -> LocalDate.ofEpochDay((Integer) v);
      case DATETIME, TIMESTAMP, TIMESTAMP_LTZ -> {
        TimestampData ts = (TimestampData) v;
        yield Instant.ofEpochMilli(ts.getMillisecond()).plusNanos(ts.getNanoOfMillisecond());
      }
      case ARRAY -> {
        FlinkColumn element = c.children().get(0);
        ArrayData a = (ArrayData) v;
        ArrayData.ElementGetter get = ArrayData.createElementGetter(element.logicalType());
        List<Object> out = new ArrayList<>(a.size());
        for (int i = 0; i < a.size(); i++) {
          out.add(toClient(element, get.getElementOrNull(a, i)));
        }
        yield out;
      }
      case MAP -> {
        FlinkColumn key = c.children().get(0);
        FlinkColumn value = c.children().get(1);
        MapData m = (MapData) v;
        ArrayData keys = m.keyArray();
        ArrayData values = m.valueArray();
        ArrayData.ElementGetter getKey = ArrayData.createElementGetter(key.logicalType());
        ArrayData.ElementGetter getValue = ArrayData.createElementGetter(value.logicalType());
        Map<Object, Object> out = new LinkedHashMap<>();
        for (int i = 0; i < m.size(); i++) {
          out.put(toClient(key, getKey.getElementOrNull(keys, i)),
              toClient(value, getValue.getElementOrNull(values, i)));
        }
        yield out;
      }
      case STRUCT -> {
        RowData r = (RowData) v;
        Map<String, Object> out = new LinkedHashMap<>();
        for (int f = 0; f < c.children().size(); f++) {
          FlinkColumn field = c.children().get(f);
          out.put(field.name(),
              toClient(field, RowData.createFieldGetter(field.logicalType(), f).getFieldOrNull(r)));
        }
        yield out;
      }
    };
  }

  /**
   * The Flink internal value of the client value {@code v} (null for NULL) of column {@code c}. A
   * STRUCT's fields are taken in order: the sidecar's field names match the DDL's, ignoring case
   * ({@link RowDataConverter#resolve}).
   */
  static Object toInternal(FlinkColumn c, Object v) {
    if (v == null) {
      return null;
    }
    return switch (c.type()) {
      case BOOLEAN, TINYINT, SMALLINT, INT, BIGINT, FLOAT, DOUBLE, BINARY -> v;
      case DECIMAL -> DecimalData.fromBigDecimal((BigDecimal) v, c.precision(), c.scale());
      case STRING -> StringData.fromString((String) v);
      case DATE -> (int) ((LocalDate) v).toEpochDay();
      case DATETIME, TIMESTAMP, TIMESTAMP_LTZ -> {
        Instant i = (Instant) v;
        yield TimestampData.fromEpochMillis(
            i.getEpochSecond() * 1000 + i.getNano() / 1_000_000, i.getNano() % 1_000_000);
      }
      case ARRAY -> {
        List<?> list = (List<?>) v;
        Object[] out = new Object[list.size()];
        for (int i = 0; i < out.length; i++) {
          out[i] = toInternal(c.children().get(0), list.get(i));
        }
        yield new GenericArrayData(out);
      }
      case MAP -> {
        Map<Object, Object> out = new LinkedHashMap<>();
        for (Map.Entry<?, ?> e : ((Map<?, ?>) v).entrySet()) {
          out.put(toInternal(c.children().get(0), e.getKey()),
              toInternal(c.children().get(1), e.getValue()));
        }
        yield new GenericMapData(out);
      }
      case STRUCT -> {
        GenericRowData out = new GenericRowData(c.children().size());
        int f = 0;
        for (Object x : ((Map<?, ?>) v).values()) {
          out.setField(f, toInternal(c.children().get(f), x));
          f++;
        }
        yield out;
      }
    };
  }
}
