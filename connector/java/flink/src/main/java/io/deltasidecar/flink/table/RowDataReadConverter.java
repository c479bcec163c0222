package io.deltasidecar.flink.table;

import io.deltasidecar.client.Row;
import io.deltasidecar.client.TableSchema;
import io.deltasidecar.flink.source.ChangeConverter;
import io.deltasidecar.flink.table.RowDataConverter.FlinkColumn;
import java.util.Arrays;
import java.util.List;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.types.RowKind;

/**
 * Reads rows of a delta-sidecar table into the {@link RowData} of a SQL/Table API source: the
 * DDL's physical columns in DDL order, or only the {@code projection} (DDL positions) in its
 * order. The type mapping is the sink's ({@link RowDataConverter}), read backwards; a TIMESTAMP
 * without time zone reads the stored instant's UTC wall-clock time. Columns are projected here,
 * after decoding: the sidecar projects columns only for Arrow reads.
 */
final class RowDataReadConverter implements ChangeConverter<RowData> {
  private static final long serialVersionUID = 1L;

  private final RowDataConverter ddl;
  private final int[] projection;
  /** Set by open(): the sidecar column index of each projected field, for schema version... */
  private int[] fieldToSchema;
  /** ...this one; a row of another version (the table was altered) resolves again. */
  private long schemaId;

  RowDataReadConverter(RowDataConverter ddl, int[] projection) {
    this.ddl = ddl;
    this.projection = projection.clone();
  }

  /**
   * Checks that the sidecar's table matches the DDL (as the sink does, except that a nullable DDL
   * column may read a NOT NULL one, and table columns the DDL does not declare are not read) and
   * resolves where each projected field comes from.
   */
  @Override
  public void open(TableSchema schema) {
    int[] schemaToDdl = ddl.resolve(schema, false);
    int[] ddlToSchema = new int[ddl.columns().size()];
    for (int i = 0; i < schemaToDdl.length; i++) {
      if (schemaToDdl[i] >= 0) {
        ddlToSchema[schemaToDdl[i]] = i;
      }
    }
    int[] fields = new int[projection.length];
    for (int f = 0; f < fields.length; f++) {
      fields[f] = ddlToSchema[projection[f]];
    }
    fieldToSchema = fields;
    schemaId = schema.schemaId();
  }

  @Override
  public RowData convert(RowKind kind, Row row, long snapshotId) {
    if (fieldToSchema == null) {
      throw new IllegalStateException("RowDataReadConverter.convert called before open");
    }
    if (row.schema().schemaId() != schemaId) {
      // Read under another schema version (an ALTER since open): its columns are where that
      // version has them. A DDL column the version lacks fails here, naming it.
      open(row.schema());
    }
    List<FlinkColumn> columns = ddl.columns();
    GenericRowData out = new GenericRowData(kind, fieldToSchema.length);
    for (int f = 0; f < fieldToSchema.length; f++) {
      out.setField(f, internal(columns.get(projection[f]), row.get(fieldToSchema[f])));
    }
    return out;
  }

  private static Object internal(FlinkColumn c, Object v) {
    return NestedData.toInternal(c, v);
  }

  @Override
  public String toString() {
    return "RowDataReadConverter{" + ddl + ", fields " + Arrays.toString(projection) + "}";
  }
}
