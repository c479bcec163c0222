package io.deltasidecar.flink;

import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/**
 * Reads the explicit big-endian layouts of the sink's serializers, turning every shortfall into
 * an {@link IOException} that names what was being read.
 */
final class SerializedBytes {
  private final String what;
  private final ByteBuffer buf;

  SerializedBytes(String what, byte[] bytes) {
    this.what = what;
    this.buf = ByteBuffer.wrap(bytes);
  }

  static void checkVersion(String what, int version, int supported) throws IOException {
    checkVersion(what, version, supported, supported);
  }

  /** Refuses a version outside {@code [oldest, newest]}. */
  static void checkVersion(String what, int version, int oldest, int newest) throws IOException {
    if (version < oldest || version > newest) {
      throw new IOException(
          "cannot read "
              + what
              + " of serializer version "
              + version
              + ": this build of the delta-sidecar Flink sink reads "
              + (oldest == newest ? "version " + newest + " only" : "versions " + oldest + " to " + newest));
    }
  }

  int readInt(String field) throws IOException {
    need(4, field);
    return buf.getInt();
  }

  long readLong(String field) throws IOException {
    need(8, field);
    return buf.getLong();
  }

  /** A u32 length, then that many bytes. */
  byte[] readBytes(String field) throws IOException {
    int length = readInt(field + " length");
    if (length < 0) {
      throw new IOException(what + " is corrupt: " + field + " length " + length + " is negative");
    }
    need(length, field);
    byte[] out = new byte[length];
    buf.get(out);
    return out;
  }

  /** A u32 length, then that many bytes of well-formed UTF-8. */
  String readString(String field) throws IOException {
    byte[] bytes = readBytes(field);
    try {
      CharBuffer chars =
          StandardCharsets.UTF_8
              .newDecoder()
              .onMalformedInput(CodingErrorAction.REPORT)
              .onUnmappableCharacter(CodingErrorAction.REPORT)
              .decode(ByteBuffer.wrap(bytes));
      return chars.toString();
    } catch (CharacterCodingException e) {
      throw new IOException(what + " is corrupt: " + field + " is not valid UTF-8", e);
    }
  }

  void expectEnd() throws IOException {
    if (buf.hasRemaining()) {
      throw new IOException(
          what + " is corrupt: " + buf.remaining() + " bytes follow its last field");
    }
  }

  private void need(int n, String field) throws IOException {
    if (buf.remaining() < n) {
      throw new IOException(
          what
              + " is truncated: "
              + field
              + " needs "
              + n
              + " bytes at offset "
              + buf.position()
              + " but only "
              + buf.remaining()
              + " remain");
    }
  }

  boolean hasRemaining() {
    return buf.hasRemaining();
  }

  /** Appends a u32 length and the bytes. */
  static void writeBytes(ByteBuffer out, byte[] bytes) {
    out.putInt(bytes.length);
    out.put(bytes);
  }

  /** Appends a u32 length and the bytes. */
  static void writeBytes(DataOutputStream out, byte[] bytes) throws IOException {
    out.writeInt(bytes.length);
    out.write(bytes);
  }

  /** Appends a u32 length and the string's UTF-8. */
  static void writeString(DataOutputStream out, String s) throws IOException {
    writeBytes(out, s.getBytes(StandardCharsets.UTF_8));
  }
}
