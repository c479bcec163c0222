package io.deltasidecar.flink.table;

import static io.deltasidecar.flink.table.DeltaSidecarOptions.BATCH_BYTES;
import static io.deltasidecar.flink.table.DeltaSidecarOptions.BUCKETS;
import static io.deltasidecar.flink.table.DeltaSidecarOptions.CALL_TIMEOUT;
import static io.deltasidecar.flink.table.DeltaSidecarOptions.COMMIT_ATTEMPTS;
import static io.deltasidecar.flink.table.DeltaSidecarOptions.COMMIT_TOPOLOGY;
import static io.deltasidecar.flink.table.DeltaSidecarOptions.CONSUMER_ID;
import static io.deltasidecar.flink.table.DeltaSidecarOptions.LINGER;
import static io.deltasidecar.flink.table.DeltaSidecarOptions.MAX_IN_FLIGHT;
import static io.deltasidecar.flink.table.DeltaSidecarOptions.SCAN_MODE;
import static io.deltasidecar.flink.table.DeltaSidecarOptions.SCAN_POLL_INTERVAL;
import static io.deltasidecar.flink.table.DeltaSidecarOptions.SCAN_SNAPSHOT_ID;
import static io.deltasidecar.flink.table.DeltaSidecarOptions.TABLE;
import static io.deltasidecar.flink.table.DeltaSidecarOptions.TARGET;
import static io.deltasidecar.flink.table.DeltaSidecarOptions.WRITER_ID_PREFIX;

import io.deltasidecar.flink.DeltaSidecarSink;
import io.deltasidecar.flink.source.DeltaSidecarSource;
import io.deltasidecar.flink.source.ScanMode;
import org.apache.flink.api.common.RuntimeExecutionMode;
import org.apache.flink.configuration.ExecutionOptions;
import org.apache.flink.table.connector.source.DynamicTableSource;
import org.apache.flink.table.factories.DynamicTableSourceFactory;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Set;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.table.api.ValidationException;
import org.apache.flink.table.connector.sink.DynamicTableSink;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.factories.DynamicTableSinkFactory;
import org.apache.flink.table.factories.FactoryUtil;

/**
 * {@code 'connector' = 'delta-sidecar'}: a SQL / Table API upsert sink into a delta-sidecar table,
 * and a source reading one (a snapshot, or a snapshot and then its changes; {@code scan.*}).
 * Registered in {@code META-INF/services/org.apache.flink.table.factories.Factory}; its options
 * are in {@link DeltaSidecarOptions} and validated by {@link FactoryUtil}.
 *
 * <pre>
 * CREATE TABLE orders (id BIGINT, name STRING, score DOUBLE, PRIMARY KEY (id) NOT ENFORCED)
 * WITH ('connector' = 'delta-sidecar', 'table' = 'orders');
 * </pre>
 *
 * The writers create the table on the sidecar when it is missing (columns, key and {@code
 * PARTITIONED BY} columns from the DDL, {@code write.bucket.num} buckets) and refuse to start when
 * an existing table does not match the DDL. A partitioned DDL must lead its PRIMARY KEY with the
 * partition columns ({@code PRIMARY KEY (dt, id) NOT ENFORCED} with {@code PARTITIONED BY (dt)}).
 * See docs/connectors.md, "Flink sink" and "Flink source".
 */
public final class DeltaSidecarDynamicTableFactory
    implements DynamicTableSinkFactory, DynamicTableSourceFactory {
  public static final String IDENTIFIER = "delta-sidecar";

  @Override
  public String factoryIdentifier() {
    return IDENTIFIER;
  }

  @Override
  public Set<ConfigOption<?>> requiredOptions() {
    return Set.of(TABLE);
  }

  @Override
  public Set<ConfigOption<?>> optionalOptions() {
    Set<ConfigOption<?>> options = new LinkedHashSet<>();
    options.add(TARGET);
    options.add(BUCKETS);
    options.add(BATCH_BYTES);
    options.add(LINGER);
    options.add(MAX_IN_FLIGHT);
    options.add(WRITER_ID_PREFIX);
    options.add(CALL_TIMEOUT);
    options.add(COMMIT_ATTEMPTS);
    options.add(COMMIT_TOPOLOGY);
    options.add(FactoryUtil.SINK_PARALLELISM);
    options.add(SCAN_MODE);
    options.add(SCAN_SNAPSHOT_ID);
    options.add(CONSUMER_ID);
    options.add(SCAN_POLL_INTERVAL);
    return options;
  }

  @Override
  public DynamicTableSink createDynamicTableSink(Context context) {
    FactoryUtil.TableFactoryHelper helper = FactoryUtil.createTableFactoryHelper(this, context);
    helper.validate();
    ReadableConfig options = helper.getOptions();
    String table = tableOption(options);
    RowDataConverter converter =
        RowDataConverter.forSchema(
            table,
            context.getCatalogTable().getResolvedSchema(),
            context.getCatalogTable().getPartitionKeys());
    Integer parallelism = options.getOptional(FactoryUtil.SINK_PARALLELISM).orElse(null);
    if (parallelism != null && parallelism < 1) {
      throw new ValidationException(
          "option '" + FactoryUtil.SINK_PARALLELISM.key() + "' must be at least 1, got "
              + parallelism);
    }
    DeltaSidecarSink.Builder<RowData> sink;
    try {
      sink =
          DeltaSidecarSink.<RowData>builder()
              .targets(options.get(TARGET))
              .table(table)
              .recordConverter(converter)
              .maxBatchBytes(positive(options, BATCH_BYTES))
              .lingerTime(options.get(LINGER))
              .maxInFlightBatches(positive(options, MAX_IN_FLIGHT))
              .callTimeout(options.get(CALL_TIMEOUT))
              .maxCommitAttempts(positive(options, COMMIT_ATTEMPTS))
              .commitTopology(options.get(COMMIT_TOPOLOGY))
              .createTableIfMissing(
                  converter.sidecarSchema(),
                  converter.sidecarPrimaryKey(),
                  positive(options, BUCKETS),
                  converter.sidecarPartitionBy());
    } catch (IllegalArgumentException e) {
      throw new ValidationException(
          "invalid delta-sidecar options for table '" + table + "': " + e.getMessage(), e);
    }
    return new DeltaSidecarDynamicTableSink(
        sink,
        table,
        options.getOptional(WRITER_ID_PREFIX).orElse(null),
        parallelism,
        context.getCatalogTable().getPartitionKeys(),
        Map.of());
  }

  @Override
  public DynamicTableSource createDynamicTableSource(Context context) {
    FactoryUtil.TableFactoryHelper helper = FactoryUtil.createTableFactoryHelper(this, context);
    helper.validate();
    ReadableConfig options = helper.getOptions();
    String table = tableOption(options);
    RowDataConverter ddl =
        RowDataConverter.forSchema(
            table,
            context.getCatalogTable().getResolvedSchema(),
            context.getCatalogTable().getPartitionKeys());
    boolean batch =
        context.getConfiguration().get(ExecutionOptions.RUNTIME_MODE)
            == RuntimeExecutionMode.BATCH;
    ScanMode mode;
    try {
      mode =
          options.getOptional(SCAN_MODE).map(ScanMode::parse)
              .orElse(batch ? ScanMode.SNAPSHOT : ScanMode.LATEST);
    } catch (IllegalArgumentException e) {
      throw new ValidationException("option '" + SCAN_MODE.key() + "': " + e.getMessage(), e);
    }
    if (batch && !mode.isBounded()) {
      throw new ValidationException(
          "'" + SCAN_MODE.key() + "' = '" + mode.option() + "' reads without end; in batch mode"
              + " use 'snapshot'");
    }
    if (mode == ScanMode.FROM_SNAPSHOT && options.getOptional(SCAN_SNAPSHOT_ID).isEmpty()) {
      throw new ValidationException(
          "'" + SCAN_MODE.key() + "' = 'from-snapshot' needs '" + SCAN_SNAPSHOT_ID.key()
              + "', the snapshot to follow from (exclusive)");
    }
    DeltaSidecarSource.Builder<RowData> source =
        DeltaSidecarSource.<RowData>builder()
            .targets(options.get(TARGET))
            .table(table)
            .mode(mode)
            .pollInterval(options.get(SCAN_POLL_INTERVAL));
    options.getOptional(SCAN_SNAPSHOT_ID).ifPresent(source::snapshotId);
    options.getOptional(CONSUMER_ID).ifPresent(source::consumer);
    int[] all = new int[ddl.columns().size()];
    for (int i = 0; i < all.length; i++) {
      all[i] = i;
    }
    try {
      source.validate();
    } catch (IllegalArgumentException e) {
      throw new ValidationException(
          "invalid delta-sidecar options for table '" + table + "': " + e.getMessage(), e);
    }
    return new DeltaSidecarDynamicTableSource(
        source, table, mode, ddl, context.getPhysicalRowDataType(), all);
  }

  private static String tableOption(ReadableConfig options) {
    String table = options.get(TABLE);
    if (table.isBlank()) {
      throw new ValidationException(
          "the delta-sidecar connector needs the option '" + TABLE.key()
              + "' (the table's name on the sidecar)");
    }
    return table;
  }

  private static int positive(ReadableConfig options, ConfigOption<Integer> option) {
    int value = options.get(option);
    if (value < 1) {
      throw new ValidationException(
          "option '" + option.key() + "' must be at least 1, got " + value);
    }
    return value;
  }
}
