package io.deltasidecar.client;

import java.math.BigInteger;
import java.util.List;

/**
 * What the value codec needs of one column type, computed once per schema: a top-level column's
 * or, for the children of a nested type, an element's, key's, value's or field's. Immutable.
 */
final class ValueSpec {
  final ColumnType type;
  /** "column 'x' (TYPE)" for a column, "(TYPE)" for a child of a nested type. */
  final String label;
  final boolean topLevel;
  final int precision;
  final int scale;
  /** DECIMAL: 10^precision, which the unscaled value's magnitude stays below. */
  final BigInteger decimalBound;
  /** TIMESTAMP_LTZ(p): 10^(9-p), which nanoseconds are a multiple of; 1 otherwise. */
  final long instantUnit;
  /** Nested types: ARRAY {element}, MAP {key, value}, STRUCT the fields. */
  final ValueSpec[] children;
  /** STRUCT: the field names, in order. */
  final String[] fieldNames;

  private ValueSpec(TableSchema.Column c, String label, boolean topLevel) {
    this.type = c.type();
    this.label = label;
    this.topLevel = topLevel;
    this.precision = c.precision();
    this.scale = c.scale();
    this.decimalBound = type == ColumnType.DECIMAL ? BigInteger.TEN.pow(c.precision()) : null;
    long unit = 1;
    if (type == ColumnType.TIMESTAMP_LTZ) {
      for (int d = c.precision(); d < 9; d++) {
        unit *= 10;
      }
    }
    this.instantUnit = unit;
    List<TableSchema.Column> kids = c.children();
    this.children = new ValueSpec[kids.size()];
    this.fieldNames = new String[kids.size()];
    for (int k = 0; k < kids.size(); k++) {
      TableSchema.Column child = kids.get(k);
      children[k] = new ValueSpec(child, "(" + child.typeName() + ")", false);
      fieldNames[k] = child.name();
    }
  }

  static ValueSpec forColumn(TableSchema.Column c) {
    return new ValueSpec(c, "column '" + c.name() + "' (" + c.typeName() + ")", true);
  }
}
