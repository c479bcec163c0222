package io.deltasidecar.client;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Carries a client's connections to a sidecar on a unix socket through a loopback TCP port.
 *
 * <p>grpc-netty reaches unix sockets only through netty's native epoll transport, whose JNI
 * library Debian's netty does not ship. The JDK (16+) connects to unix sockets itself, so the
 * client listens on 127.0.0.1 (port chosen by the system), and for each connection the channel
 * makes there opens one to the socket and copies bytes both ways, one thread per direction. Only
 * this process's channel is meant to connect; the port is bound to the loopback interface.
 */
final class UnixSocketRelay implements AutoCloseable {
  private final UnixDomainSocketAddress socket;
  private final ServerSocketChannel listener;
  private final String address;
  private final Set<java.nio.channels.Channel> open = ConcurrentHashMap.newKeySet();
  private volatile boolean closed;

  private UnixSocketRelay(UnixDomainSocketAddress socket, ServerSocketChannel listener)
      throws IOException {
    this.socket = socket;
    this.listener = listener;
    InetSocketAddress a = (InetSocketAddress) listener.getLocalAddress();
    this.address = a.getAddress().getHostAddress() + ":" + a.getPort();
  }

  /** The path of "unix:/path", "unix:///path" or "unix:relative/path". */
  static String socketPath(String target) {
    String path = target.substring("unix:".length());
    if (path.startsWith("///")) {
      path = path.substring(2);
    }
    if (path.isEmpty()) {
      throw new IllegalArgumentException("target '" + target + "' names no socket path");
    }
    return path;
  }

  static UnixSocketRelay start(String path) throws IOException {
    ServerSocketChannel listener = ServerSocketChannel.open();
    listener.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
    UnixSocketRelay relay = new UnixSocketRelay(UnixDomainSocketAddress.of(path), listener);
    Thread accept = new Thread(relay::acceptLoop, "delta-sidecar-unix-relay");
    accept.setDaemon(true);
    accept.start();
    return relay;
  }

  /** The "127.0.0.1:port" the channel connects to. */
  String address() {
    return address;
  }

  private void acceptLoop() {
    while (!closed) {
      SocketChannel tcp;
      try {
        tcp = listener.accept();
      } catch (IOException e) {
        return; // closed
      }
      SocketChannel unix;
      try {
        unix = SocketChannel.open(StandardProtocolFamily.UNIX);
        unix.connect(socket);
      } catch (IOException e) {
        // The sidecar is not there (yet): drop the connection, the channel sees UNAVAILABLE
        // and reconnects like after any refused connection.
        closeQuietly(tcp);
        continue;
      }
      open.add(tcp);
      open.add(unix);
      pump(tcp, unix, "to-sidecar");
      pump(unix, tcp, "from-sidecar");
    }
  }

  private void pump(SocketChannel from, SocketChannel to, String direction) {
    Thread t =
        new Thread(
            () -> {
              ByteBuffer buf = ByteBuffer.allocateDirect(256 << 10);
              try {
                while (from.read(buf) >= 0) {
                  buf.flip();
                  while (buf.hasRemaining()) {
                    to.write(buf);
                  }
                  buf.clear();
                }
              } catch (IOException e) {
                // A reset on either side ends both directions below.
              } finally {
                closeQuietly(from);
                closeQuietly(to);
                open.remove(from);
                open.remove(to);
              }
            },
            "delta-sidecar-unix-relay-" + direction);
    t.setDaemon(true);
    t.start();
  }

  @Override
  public void close() {
    closed = true;
    closeQuietly(listener);
    for (java.nio.channels.Channel c : open) {
      closeQuietly(c);
    }
  }

  private static void closeQuietly(java.nio.channels.Channel c) {
    try {
      c.close();
    } catch (IOException e) {
      // Nothing to do: the connection is gone either way.
    }
  }
}
