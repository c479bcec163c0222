package io.deltasidecar.flink.table;

import io.deltasidecar.flink.source.DeltaSidecarSource;
import io.deltasidecar.flink.source.ScanMode;
import java.util.Arrays;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.table.connector.ChangelogMode;
import org.apache.flink.table.connector.source.DynamicTableSource;
import org.apache.flink.table.connector.source.ScanTableSource;
import org.apache.flink.table.connector.source.SourceProvider;
import org.apache.flink.table.connector.source.abilities.SupportsProjectionPushDown;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.types.DataType;

/**
 * The planner's view of reading a delta-sidecar table: a {@link DeltaSidecarSource} of {@link
 * RowData}, insert-only for scan mode snapshot, an upsert changelog (INSERT, UPDATE_AFTER,
 * DELETE by the DDL's primary key) for latest and from-snapshot. Projection is pushed into the
 * source's readers (applied to each decoded row).
 */
public final class DeltaSidecarDynamicTableSource
    implements ScanTableSource, SupportsProjectionPushDown {
  private final DeltaSidecarSource.Builder<RowData> source;
  private final String table;
  private final ScanMode mode;
  private final RowDataConverter ddl;
  private DataType producedType;
  private int[] projection;

  DeltaSidecarDynamicTableSource(
      DeltaSidecarSource.Builder<RowData> source,
      String table,
      ScanMode mode,
      RowDataConverter ddl,
      DataType producedType,
      int[] projection) {
    this.source = source;
    this.table = table;
    this.mode = mode;
    this.ddl = ddl;
    this.producedType = producedType;
    this.projection = projection.clone();
  }

  @Override
  public ChangelogMode getChangelogMode() {
    return mode.isBounded() ? ChangelogMode.insertOnly() : ChangelogMode.upsert();
  }

  @Override
  public ScanRuntimeProvider getScanRuntimeProvider(ScanContext context) {
    TypeInformation<RowData> type = context.createTypeInformation(producedType);
    return SourceProvider.of(
        source.converter(new RowDataReadConverter(ddl, projection), type).build());
  }

  @Override
  public boolean supportsNestedProjection() {
    return false;
  }

  @Override
  public void applyProjection(int[][] projectedFields, DataType producedDataType) {
    int[] fields = new int[projectedFields.length];
    for (int f = 0; f < fields.length; f++) {
      fields[f] = projection[projectedFields[f][0]];
    }
    projection = fields;
    producedType = producedDataType;
  }

  @Override
  public DynamicTableSource copy() {
    return new DeltaSidecarDynamicTableSource(source, table, mode, ddl, producedType, projection);
  }

  @Override
  public String asSummaryString() {
    return "delta-sidecar(table=" + table + ", scan.mode=" + mode.option() + ", fields="
        + Arrays.toString(projection) + ")";
  }
}
