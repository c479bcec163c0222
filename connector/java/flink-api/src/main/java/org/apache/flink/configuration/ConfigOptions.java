// Declares signatures from Apache Flink 1.20's public API, only the types and
// members that delta-sidecar's Flink sink uses, so that the sink compiles and is
// tested without Flink (its jars cannot be downloaded on the build machines).
// Not shipped: the sink's jar and pom never include it; real Flink provides
// these types at runtime. Bodies, where a type needs one, are minimal stand-ins.

package org.apache.flink.configuration;

import java.time.Duration;

public class ConfigOptions {
  private ConfigOptions() {}

  public static OptionBuilder key(String key) {
    return new OptionBuilder(key);
  }

  public static final class OptionBuilder {
    private final String key;

    OptionBuilder(String key) {
      this.key = key;
    }

    public TypedConfigOptionBuilder<Boolean> booleanType() {
      return new TypedConfigOptionBuilder<>(key);
    }

    public TypedConfigOptionBuilder<Integer> intType() {
      return new TypedConfigOptionBuilder<>(key);
    }

    public TypedConfigOptionBuilder<Long> longType() {
      return new TypedConfigOptionBuilder<>(key);
    }

    public TypedConfigOptionBuilder<String> stringType() {
      return new TypedConfigOptionBuilder<>(key);
    }

    public TypedConfigOptionBuilder<Duration> durationType() {
      return new TypedConfigOptionBuilder<>(key);
    }
  }

  public static class TypedConfigOptionBuilder<T> {
    private final String key;

    TypedConfigOptionBuilder(String key) {
      this.key = key;
    }

    public ConfigOption<T> defaultValue(T value) {
      return new ConfigOption<>(key, value, "");
    }

    public ConfigOption<T> noDefaultValue() {
      return new ConfigOption<>(key, null, "");
    }
  }
}
