// Declares signatures from Apache Flink 1.20's public API, only the types and
// members that delta-sidecar's Flink sink uses, so that the sink compiles and is
// tested without Flink (its jars cannot be downloaded on the build machines).
// Not shipped: the sink's jar and pom never include it; real Flink provides
// these types at runtime. Bodies, where a type needs one, are minimal stand-ins.

package org.apache.flink.table.factories;

import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;

public final class FactoryUtil {
  private FactoryUtil() {}

  public static final ConfigOption<String> CONNECTOR =
      ConfigOptions.key("connector").stringType().noDefaultValue();

  public static final ConfigOption<Integer> PROPERTY_VERSION =
      ConfigOptions.key("property-version").intType().defaultValue(1);

  public static final ConfigOption<Integer> SINK_PARALLELISM =
      ConfigOptions.key("sink.parallelism").intType().noDefaultValue();
}
