package io.deltasidecar.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.deltasidecar.client.DeltaSidecarClient;
import io.deltasidecar.flink.FlinkContexts.Request;
import io.deltasidecar.flink.FlinkContexts.Signal;
import io.deltasidecar.flink.table.DeltaSidecarDynamicTableFactory;
import io.deltasidecar.v1.Committable;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.math.BigDecimal;
import java.nio.file.Path;
import java.time.Instant;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.ServiceLoader;
import org.apache.flink.api.connector.sink2.Sink;
import org.apache.flink.table.api.ValidationException;
import org.apache.flink.table.catalog.CatalogTable;
import org.apache.flink.table.catalog.Column;
import org.apache.flink.table.catalog.ResolvedCatalogTable;
import org.apache.flink.table.catalog.ResolvedSchema;
import org.apache.flink.table.catalog.UniqueConstraint;
import org.apache.flink.table.connector.ChangelogMode;
import org.apache.flink.table.connector.sink.DynamicTableSink;
import org.apache.flink.table.connector.sink.SinkV2Provider;
import org.apache.flink.table.data.DecimalData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.TimestampData;
import org.apache.flink.table.factories.DynamicTableFactory;
import org.apache.flink.table.factories.DynamicTableSinkFactory;
import org.apache.flink.table.factories.Factory;
import org.apache.flink.table.types.AtomicDataType;
import org.apache.flink.table.types.logical.BigIntType;
import org.apache.flink.table.types.logical.BooleanType;
import org.apache.flink.table.types.logical.DateType;
import org.apache.flink.table.types.logical.DecimalType;
import org.apache.flink.table.types.logical.DoubleType;
import org.apache.flink.table.types.logical.FloatType;
import org.apache.flink.table.types.logical.IntType;
import org.apache.flink.table.types.logical.LocalZonedTimestampType;
import org.apache.flink.table.types.logical.LogicalType;
import org.apache.flink.table.types.logical.SmallIntType;
import org.apache.flink.table.types.logical.TimeType;
import org.apache.flink.table.types.logical.TimestampType;
import org.apache.flink.table.types.logical.TinyIntType;
import org.apache.flink.table.types.logical.VarBinaryType;
import org.apache.flink.table.types.logical.VarCharType;
import org.apache.flink.types.RowKind;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The SQL / Table API path: the factory, found through META-INF/services like Flink finds it,
 * builds a sink from a DDL's options and resolved schema (through the declared Flink types), and
 * that sink writes RowData changelogs into a table it creates on a real sidecar.
 */
class DynamicTableFactoryTest {
  @TempDir Path dir;
  private SidecarProcess sidecar;
  private Deltactl deltactl;
  private final List<SinkHarness<?>> harnesses = new ArrayList<>();

  @BeforeEach
  void startSidecar() throws Exception {
    sidecar = new SidecarProcess(dir).start();
    deltactl = new Deltactl(sidecar);
  }

  @AfterEach
  void stop() throws Exception {
    try {
      for (SinkHarness<?> h : harnesses) {
        h.close();
      }
    } finally {
      sidecar.close();
    }
  }

  private static Column col(String name, LogicalType type) {
    return Column.physical(name, new AtomicDataType(type));
  }

  /** The catalog's view of {@code CREATE TABLE ... WITH (options)}. */
  private static DynamicTableFactory.Context context(
      List<Column> columns, List<String> primaryKey, Map<String, String> options) {
    ResolvedSchema schema =
        new ResolvedSchema(
            columns,
            List.of(),
            primaryKey == null ? null : UniqueConstraint.primaryKey("PK_x", primaryKey));
    CatalogTable origin = () -> options;
    ResolvedCatalogTable table = new ResolvedCatalogTable(origin, schema);
    return new DynamicTableFactory.Context() {
      @Override
      public ResolvedCatalogTable getCatalogTable() {
        return table;
      }

      @Override
      public ClassLoader getClassLoader() {
        return DynamicTableFactoryTest.class.getClassLoader();
      }

      @Override
      public boolean isTemporary() {
        return false;
      }
    };
  }

  private Map<String, String> options(String table) {
    Map<String, String> o = new HashMap<>();
    o.put("connector", "delta-sidecar");
    o.put("table", table);
    o.put("target", sidecar.target);
    return o;
  }

  private static DynamicTableSinkFactory factory() {
    for (Factory f : ServiceLoader.load(Factory.class)) {
      if (f.factoryIdentifier().equals("delta-sidecar")) {
        return (DynamicTableSinkFactory) f;
      }
    }
    throw new AssertionError("no factory 'delta-sidecar' in META-INF/services");
  }

  @SuppressWarnings("unchecked")
  private static DeltaSidecarSink<RowData> runtimeSink(DynamicTableSink dts) throws Exception {
    SinkV2Provider provider =
        (SinkV2Provider)
            dts.getSinkRuntimeProvider(
                new DynamicTableSink.Context() {
                  @Override
                  public boolean isBounded() {
                    return false;
                  }
                });
    Sink<RowData> sink = provider.createSink();
    // Flink ships the sink inside the job graph: it must survive Java serialization.
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
      out.writeObject(sink);
    }
    try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(bytes.toByteArray()))) {
      return (DeltaSidecarSink<RowData>) in.readObject();
    }
  }

  private static final List<Column> TYPED =
      List.of(
          col("id", new BigIntType(false)),
          col("name", new VarCharType(20)),
          col("ok", new BooleanType()),
          col("tiny", new TinyIntType()),
          col("small", new SmallIntType()),
          col("num", new IntType()),
          col("f", new FloatType()),
          col("d", new DoubleType()),
          col("price", new DecimalType(10, 2)),
          col("day", new DateType()),
          col("at", new TimestampType(3)),
          col("precise", new LocalZonedTimestampType(9)),
          col("data", new VarBinaryType(10)),
          Column.metadata("meta", new AtomicDataType(new IntType()), "m", true));

  private static RowData typedRow(RowKind kind, long id, String name) {
    Instant at = Instant.parse("2024-01-02T03:04:05.123Z");
    return new TestRowData(
        kind,
        id,
        TestRowData.str(name),
        true,
        (byte) -1,
        (short) 300,
        70000,
        1.5f,
        2.25,
        DecimalData.fromBigDecimal(new BigDecimal("12.30"), 10, 2),
        (int) LocalDate.parse("2024-01-02").toEpochDay(),
        TimestampData.fromEpochMillis(at.toEpochMilli()),
        TimestampData.fromEpochMillis(at.toEpochMilli(), 456789),
        new byte[] {0, 1});
  }

  @Test
  void factoryCreatesAWorkingUpsertSinkThatCreatesTheTable() throws Exception {
    Map<String, String> o = options("typed");
    o.put("write.bucket.num", "2");
    o.put("sink.batch.bytes", "4096");
    o.put("sink.linger", "5 ms");
    o.put("sink.max-in-flight", "2");
    o.put("sink.writer-id-prefix", "sql-job");
    DynamicTableSink dts = factory().createDynamicTableSink(context(TYPED, List.of("id"), o));
    assertEquals(ChangelogMode.upsert(), dts.getChangelogMode(ChangelogMode.all()));
    DeltaSidecarSink<RowData> sink = runtimeSink(dts);
    assertEquals("sql-job", sink.writerIdPrefix());

    SinkHarness<RowData> h = new SinkHarness<>(sink);
    harnesses.add(h);
    h.open(1);
    h.write(0, typedRow(RowKind.INSERT, 1, "old"));
    h.write(0, new TestRowData(RowKind.INSERT, 2L, null, null, null, null, null, null, null, null,
        null, null, null, null));
    h.write(0, typedRow(RowKind.UPDATE_BEFORE, 1, "old"));
    h.write(0, typedRow(RowKind.UPDATE_AFTER, 1, "new"));
    h.write(0, typedRow(RowKind.INSERT, 3, "gone"));
    h.write(0, typedRow(RowKind.DELETE, 3, "gone"));
    List<Committable> committed = h.checkpoint(1);
    assertEquals(5, committed.get(0).getRows(), "UPDATE_BEFORE writes nothing");
    for (Request<Committable> r : h.complete(1)) {
      assertEquals(Signal.COMMITTED, r.signal);
    }

    String describe = String.join("\n", deltactl.run("describe", "typed"));
    for (String expected :
        List.of(
            "id BIGINT NOT NULL, name STRING, ok BOOLEAN, tiny TINYINT, small SMALLINT, num INT,"
                + " f FLOAT, d DOUBLE, price DECIMAL(10,2), day DATE, at DATETIME,"
                + " precise TIMESTAMP, data BINARY\"",
            "\"buckets\": 2")) {
      assertTrue(describe.contains(expected), expected + " not in " + describe);
    }
    assertEquals(
        List.of(
            "{\"id\":1,\"name\":\"new\",\"ok\":true,\"tiny\":-1,\"small\":300,\"num\":70000,"
                + "\"f\":1.5,\"d\":2.25,\"price\":\"12.30\",\"day\":\"2024-01-02\","
                + "\"at\":\"2024-01-02 03:04:05.123\",\"precise\":\"2024-01-02 03:04:05.123456789\","
                + "\"data\":\"AAE=\"}",
            "{\"id\":2,\"name\":null,\"ok\":null,\"tiny\":null,\"small\":null,\"num\":null,"
                + "\"f\":null,\"d\":null,\"price\":null,\"day\":null,\"at\":null,\"precise\":null,"
                + "\"data\":null}"),
        deltactl.scan("typed"));
  }

  @Test
  void anExistingTableThatDoesNotMatchTheDdlStopsTheWriter() throws Exception {
    try (DeltaSidecarClient c = DeltaSidecarClient.builder().target(sidecar.target).build()) {
      c.createTable("other", "id BIGINT, name BIGINT", "id", 4, false);
    }
    DynamicTableSink dts =
        factory()
            .createDynamicTableSink(
                context(
                    List.of(col("id", new BigIntType(false)), col("name", new VarCharType(5))),
                    List.of("id"),
                    options("other")));
    DeltaSidecarSink<RowData> sink = runtimeSink(dts);
    IOException e =
        assertThrows(
            IOException.class,
            () ->
                sink.createWriter(
                    new FlinkContexts.Writer(new FlinkContexts.Task(0, 1, 0), OptionalLong.empty())));
    assertInstanceOf(IllegalStateException.class, e.getCause());
    assertTrue(
        e.getMessage().contains("column 'name' is BIGINT on the sidecar but the DDL's VARCHAR(5)"),
        e.getMessage());
  }

  @Test
  void invalidDdlsAndOptionsAreRefusedWithTheReason() {
    List<Column> simple = List.of(col("id", new BigIntType(false)), col("v", new IntType()));
    DynamicTableSinkFactory f = factory();

    ValidationException noKey =
        assertThrows(
            ValidationException.class,
            () -> f.createDynamicTableSink(context(simple, null, options("t"))));
    assertTrue(noKey.getMessage().contains("PRIMARY KEY"), noKey.getMessage());

    List<Column> withTime = List.of(col("id", new BigIntType(false)), col("t", new TimeType(0)));
    ValidationException time =
        assertThrows(
            ValidationException.class,
            () -> f.createDynamicTableSink(context(withTime, List.of("id"), options("t"))));
    assertTrue(time.getMessage().contains("column 't': type TIME(0)"), time.getMessage());

    Map<String, String> noTable = options("t");
    noTable.remove("table");
    ValidationException missing =
        assertThrows(
            ValidationException.class,
            () -> f.createDynamicTableSink(context(simple, List.of("id"), noTable)));
    assertTrue(missing.getMessage().contains("'table'"), missing.getMessage());

    Map<String, String> unknown = options("t");
    unknown.put("sink.bogus", "1");
    ValidationException bogus =
        assertThrows(
            ValidationException.class,
            () -> f.createDynamicTableSink(context(simple, List.of("id"), unknown)));
    assertTrue(bogus.getMessage().contains("[sink.bogus]"), bogus.getMessage());

    Map<String, String> badLinger = options("t");
    badLinger.put("sink.linger", "soon");
    ValidationException linger =
        assertThrows(
            ValidationException.class,
            () -> f.createDynamicTableSink(context(simple, List.of("id"), badLinger)));
    assertTrue(linger.getMessage().contains("sink.linger"), linger.getMessage());

    Map<String, String> zeroBuckets = options("t");
    zeroBuckets.put("write.bucket.num", "0");
    ValidationException buckets =
        assertThrows(
            ValidationException.class,
            () -> f.createDynamicTableSink(context(simple, List.of("id"), zeroBuckets)));
    assertTrue(buckets.getMessage().contains("write.bucket.num"), buckets.getMessage());
  }
}
