// Declares signatures from Apache Flink 1.20's public API, only the types and
// members that delta-sidecar's Flink sink uses, so that the sink compiles and is
// tested without Flink (its jars cannot be downloaded on the build machines).
// Not shipped: the sink's jar and pom never include it; real Flink provides
// these types at runtime. Bodies, where a type needs one, are minimal stand-ins.

package org.apache.flink.configuration;

import java.util.Objects;

public class ConfigOption<T> {
  private final String key;
  private final T defaultValue;
  private final String description;

  ConfigOption(String key, T defaultValue, String description) {
    this.key = Objects.requireNonNull(key);
    this.defaultValue = defaultValue;
    this.description = description;
  }

  public ConfigOption<T> withDescription(String description) {
    return new ConfigOption<>(key, defaultValue, description);
  }

  public String key() {
    return key;
  }

  public boolean hasDefaultValue() {
    return defaultValue != null;
  }

  public T defaultValue() {
    return defaultValue;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof ConfigOption<?> other
        && key.equals(other.key)
        && Objects.equals(defaultValue, other.defaultValue);
  }

  @Override
  public int hashCode() {
    return Objects.hash(key, defaultValue);
  }

  @Override
  public String toString() {
    return "Key: '" + key + "' , default: " + defaultValue;
  }
}
