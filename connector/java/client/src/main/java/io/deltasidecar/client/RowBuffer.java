package io.deltasidecar.client;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * A growable byte array that packed rows are encoded into, little-endian. Reused batch after
 * batch, so the hot path allocates nothing per row. Not thread-safe.
 */
final class RowBuffer {
  private static final VarHandle SHORT_LE =
      MethodHandles.byteArrayViewVarHandle(short[].class, ByteOrder.LITTLE_ENDIAN);
  private static final VarHandle INT_LE =
      MethodHandles.byteArrayViewVarHandle(int[].class, ByteOrder.LITTLE_ENDIAN);
  private static final VarHandle LONG_LE =
      MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);

  byte[] buf;
  int pos;

  RowBuffer(int initialCapacity) {
    buf = new byte[Math.max(64, initialCapacity)];
  }

  int size() {
    return pos;
  }

  byte[] array() {
    return buf;
  }

  void reset() {
    pos = 0;
  }

  /** Moves the end back to {@code position}, dropping what was written after it. */
  void truncate(int position) {
    pos = position;
  }

  void ensure(int more) {
    if (buf.length - pos < more) {
      long want = Math.max((long) buf.length * 2, (long) pos + more);
      if (want > Integer.MAX_VALUE - 16) {
        throw new InvalidRecordException("a batch cannot hold more than 2 GiB");
      }
      buf = Arrays.copyOf(buf, (int) want);
    }
  }

  void put(byte v) {
    ensure(1);
    buf[pos++] = v;
  }

  void putShort(short v) {
    ensure(2);
    SHORT_LE.set(buf, pos, v);
    pos += 2;
  }

  void putInt(int v) {
    ensure(4);
    INT_LE.set(buf, pos, v);
    pos += 4;
  }

  void putLong(long v) {
    ensure(8);
    LONG_LE.set(buf, pos, v);
    pos += 8;
  }

  void putBytes(byte[] src, int off, int len) {
    ensure(len);
    System.arraycopy(src, off, buf, pos, len);
    pos += len;
  }

  /** Unsigned LEB128, shortest form. */
  void putVarint(long v) {
    ensure(10);
    while ((v & ~0x7FL) != 0) {
      buf[pos++] = (byte) ((v & 0x7F) | 0x80);
      v >>>= 7;
    }
    buf[pos++] = (byte) v;
  }

  static short getShort(byte[] b, int at) {
    return (short) SHORT_LE.get(b, at);
  }

  static int getInt(byte[] b, int at) {
    return (int) INT_LE.get(b, at);
  }

  static long getLong(byte[] b, int at) {
    return (long) LONG_LE.get(b, at);
  }
}
