/**
 * One forwarded TCP connection on the device (docs/protocol.md §17.5): connect to the
 * destination, answer OPEN_OK or OPEN_FAIL, then carry bytes both ways. Backpressure end to
 * end comes from pipe(): the channel's write() returns false once the server's window is used,
 * which pauses the socket; the socket's write() returning false stops reading the channel, so
 * no window credit goes back to the server. Half-close is carried as EOF both ways (the socket
 * is half-open, like the TCP connection it stands for).
 */
import net from "node:net";
import type { AgentChannel } from "../../tunnels/index.js";
import { connectFailure } from "./connect-error.js";

/**
 * After the channel closed, how long the destination may take to accept the last bytes the
 * server sent before its EOF; a destination that stops reading is cut off then.
 */
const FLUSH_MS = 30_000;

export interface ConnectOptions {
  /** Give up connecting after this long (OPEN_FAIL "timed out"). */
  connectTimeoutMs: number;
}

/** Connect `ch` to host:port; returns the socket (it emits 'close' exactly once, when done). */
export function forwardConnection(
  ch: AgentChannel,
  host: string,
  port: number,
  o: ConnectOptions,
): net.Socket {
  // "[::1]" as the user wrote it is "::1" to connect().
  const target = host.replace(/^\[(.*)\]$/, "$1");
  const socket = net.connect({ host: target, port, allowHalfOpen: true });
  let connected = false;
  let settled = false;
  let gone = false;

  const fail = (err: NodeJS.ErrnoException | "timeout") => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    socket.destroy();
    if (!gone) ch.fail("TETHER_ERR_FORWARD_FAILED", connectFailure(err, target, port));
  };
  const timer = setTimeout(() => fail("timeout"), o.connectTimeoutMs);

  socket.once("connect", () => {
    clearTimeout(timer);
    if (settled) return;
    settled = true;
    connected = true;
    socket.setNoDelay(true);
    ch.ready();
    socket.pipe(ch); // the destination's FIN → ch.end() → EOF to the server
    ch.pipe(socket); // the server's EOF → socket.end() → FIN to the destination
  });

  socket.on("error", (err) => {
    if (!connected) fail(err);
    else ch.destroy(); // reset or write error: CLOSE, as a TCP reset would
  });
  socket.on("close", (hadError) => {
    clearTimeout(timer);
    if (!connected || gone) return;
    // Both directions ended (FIN each way): the channel still sends what it buffered, then
    // EOF. Anything else (an error, a destroy by closeAll) drops the channel: CLOSE.
    if (!hadError && socket.readableEnded && socket.writableFinished) {
      if (!ch.writableEnded) ch.end();
    } else ch.destroy();
  });

  ch.on("error", () => socket.destroy());
  ch.on("close", () => {
    gone = true;
    clearTimeout(timer);
    if (connected && socket.writableEnded && !socket.writableFinished) {
      // The server's EOF came with the close: let the destination take the last bytes.
      const t = setTimeout(() => socket.destroy(), FLUSH_MS);
      t.unref();
      socket.once("finish", () => socket.destroy());
      socket.once("close", () => clearTimeout(t));
    } else socket.destroy();
  });
  return socket;
}
