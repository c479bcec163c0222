// Declares signatures from Apache Flink 1.20's public API, only the types and
// members that delta-sidecar's Flink sink uses, so that the sink compiles and is
// tested without Flink (its jars cannot be downloaded on the build machines).
// Not shipped: the sink's jar and pom never include it; real Flink provides
// these types at runtime. Bodies, where a type needs one, are minimal stand-ins.

package org.apache.flink.table.types.logical;

public enum LogicalTypeRoot {
  CHAR,
  VARCHAR,
  BOOLEAN,
  BINARY,
  VARBINARY,
  DECIMAL,
  TINYINT,
  SMALLINT,
  INTEGER,
  BIGINT,
  FLOAT,
  DOUBLE,
  DATE,
  TIME_WITHOUT_TIME_ZONE,
  TIMESTAMP_WITHOUT_TIME_ZONE,
  TIMESTAMP_WITH_TIME_ZONE,
  TIMESTAMP_WITH_LOCAL_TIME_ZONE,
  INTERVAL_YEAR_MONTH,
  INTERVAL_DAY_TIME,
  ARRAY,
  MULTISET,
  MAP,
  ROW,
  DISTINCT_TYPE,
  STRUCTURED_TYPE,
  NULL,
  RAW,
  SYMBOL,
  UNRESOLVED
}
