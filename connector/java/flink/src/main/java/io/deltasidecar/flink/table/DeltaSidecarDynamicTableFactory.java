package io.deltasidecar.flink.table;

import io.deltasidecar.flink.DeltaSidecarSink;
import java.time.Duration;
import java.util.LinkedHashSet;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.table.api.ValidationException;
import org.apache.flink.table.connector.sink.DynamicTableSink;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.factories.DynamicTableSinkFactory;
import org.apache.flink.table.factories.FactoryUtil;

/**
 * {@code 'connector' = 'delta-sidecar'}: a SQL / Table API upsert sink into a delta-sidecar table.
 * Registered in {@code META-INF/services/org.apache.flink.table.factories.Factory}.
 *
 * <pre>
 * CREATE TABLE orders (id BIGINT, name STRING, score DOUBLE, PRIMARY KEY (id) NOT ENFORCED)
 * WITH ('connector' = 'delta-sidecar', 'table' = 'orders', 'sink.writer-id-prefix' = 'orders-job');
 * </pre>
 *
 * The writers create the table on the sidecar when it is missing (columns and key from the DDL,
 * {@code write.bucket.num} buckets) and refuse to start when an existing table does not match the
 * DDL. See docs/connectors.md, "Flink sink", for the options.
 */
public final class DeltaSidecarDynamicTableFactory implements DynamicTableSinkFactory {
  public static final String IDENTIFIER = "delta-sidecar";

  public static final ConfigOption<String> TABLE =
      ConfigOptions.key("table")
          .stringType()
          .noDefaultValue()
          .withDescription("Name of the table on the sidecar.");
  public static final ConfigOption<String> TARGET =
      ConfigOptions.key("target")
          .stringType()
          .defaultValue("127.0.0.1:7543")
          .withDescription("The sidecar beside each task manager: host:port or unix:/path.sock.");
  public static final ConfigOption<Integer> BUCKETS =
      ConfigOptions.key("write.bucket.num")
          .intType()
          .defaultValue(16)
          .withDescription("Buckets of the table when the sink creates it.");
  public static final ConfigOption<Integer> BATCH_BYTES =
      ConfigOptions.key("sink.batch.bytes")
          .intType()
          .defaultValue(1 << 20)
          .withDescription("A batch is sent once it holds this many bytes.");
  public static final ConfigOption<Duration> LINGER =
      ConfigOptions.key("sink.linger")
          .durationType()
          .defaultValue(Duration.ofMillis(100))
          .withDescription("A partial batch is sent once its first row is this old.");
  public static final ConfigOption<Integer> MAX_IN_FLIGHT =
      ConfigOptions.key("sink.max-in-flight")
          .intType()
          .defaultValue(8)
          .withDescription("Unacknowledged batches per writer before writes block.");
  public static final ConfigOption<String> WRITER_ID_PREFIX =
      ConfigOptions.key("sink.writer-id-prefix")
          .stringType()
          .noDefaultValue()
          .withDescription(
              "Stable prefix of the writer ids (default flink-sql/<table>); must differ between"
                  + " jobs or statements writing the same table.");

  private static final Pattern DURATION =
      Pattern.compile("(\\d{1,12})\\s*(ms|s|min|h|d)?", Pattern.CASE_INSENSITIVE);

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
    options.add(FactoryUtil.SINK_PARALLELISM);
    return options;
  }

  @Override
  public DynamicTableSink createDynamicTableSink(Context context) {
    Map<String, String> options = context.getCatalogTable().getOptions();
    checkKeys(options);
    String table = options.get(TABLE.key());
    if (table == null || table.isBlank()) {
      throw new ValidationException(
          "the delta-sidecar connector needs the option '" + TABLE.key()
              + "' (the table's name on the sidecar)");
    }
    RowDataConverter converter =
        RowDataConverter.forSchema(table, context.getCatalogTable().getResolvedSchema());
    String prefix = options.getOrDefault(WRITER_ID_PREFIX.key(), "flink-sql/" + table);
    Integer parallelism =
        options.containsKey(FactoryUtil.SINK_PARALLELISM.key())
            ? positiveInt(options, FactoryUtil.SINK_PARALLELISM)
            : null;
    DeltaSidecarSink<RowData> sink;
    try {
      sink =
          DeltaSidecarSink.<RowData>builder()
              .target(options.getOrDefault(TARGET.key(), TARGET.defaultValue()))
              .table(table)
              .writerIdPrefix(prefix)
              .recordConverter(converter)
              .maxBatchBytes(positiveInt(options, BATCH_BYTES))
              .lingerTime(duration(options, LINGER))
              .maxInFlightBatches(positiveInt(options, MAX_IN_FLIGHT))
              .createTableIfMissing(
                  converter.sidecarSchema(),
                  converter.sidecarPrimaryKey(),
                  positiveInt(options, BUCKETS))
              .build();
    } catch (IllegalArgumentException e) {
      throw new ValidationException(
          "invalid delta-sidecar options for table '" + table + "': " + e.getMessage(), e);
    }
    return new DeltaSidecarDynamicTableSink(sink, parallelism);
  }

  private void checkKeys(Map<String, String> options) {
    Set<String> known = new TreeSet<>();
    known.add(FactoryUtil.CONNECTOR.key());
    known.add(FactoryUtil.PROPERTY_VERSION.key());
    for (ConfigOption<?> o : requiredOptions()) {
      known.add(o.key());
    }
    for (ConfigOption<?> o : optionalOptions()) {
      known.add(o.key());
    }
    Set<String> unknown = new TreeSet<>(options.keySet());
    unknown.removeAll(known);
    if (!unknown.isEmpty()) {
      throw new ValidationException(
          "unsupported option(s) " + unknown + " for connector '" + IDENTIFIER
              + "'; supported: " + known);
    }
  }

  private static int positiveInt(Map<String, String> options, ConfigOption<Integer> option) {
    String text = options.get(option.key());
    if (text == null) {
      return option.defaultValue();
    }
    int value;
    try {
      value = Integer.parseInt(text.trim());
    } catch (NumberFormatException e) {
      throw new ValidationException(
          "option '" + option.key() + "' must be an integer, got '" + text + "'");
    }
    if (value < 1) {
      throw new ValidationException(
          "option '" + option.key() + "' must be at least 1, got " + value);
    }
    return value;
  }

  /** Flink's duration syntax, the units ms, s, min, h and d; a plain number is milliseconds. */
  private static Duration duration(Map<String, String> options, ConfigOption<Duration> option) {
    String text = options.get(option.key());
    if (text == null) {
      return option.defaultValue();
    }
    Matcher m = DURATION.matcher(text.trim());
    if (!m.matches()) {
      throw new ValidationException(
          "option '" + option.key() + "' must be a duration such as '100 ms', '2 s' or '1 min',"
              + " got '" + text + "'");
    }
    long n = Long.parseLong(m.group(1));
    String unit = m.group(2) == null ? "ms" : m.group(2).toLowerCase(Locale.ROOT);
    return switch (unit) {
      case "s" -> Duration.ofSeconds(n);
      case "min" -> Duration.ofMinutes(n);
      case "h" -> Duration.ofHours(n);
      case "d" -> Duration.ofDays(n);
      default -> Duration.ofMillis(n);
    };
  }
}
