/**
 * Join two channels, byte for byte (docs/protocol.md §17.5): the user's channel for one local
 * TCP connection and the tunnel channel to the device. pipe() carries the backpressure (a
 * channel's write() returns false once the peer's window is used, which pauses the other
 * side's reading, so neither grants window it cannot pass on) and the half-close (one side's
 * EOF ends the other's writable side: EOF onwards).
 *
 * Closing: a side that closes after both of its directions ended cleanly leaves the other to
 * finish sending what it holds (its own EOF and CLOSE follow). A side that closes any other way
 * (CLOSE before EOF: the user's connection was reset, the device's destination went away, the
 * session ended) takes the other down at once, as a TCP reset would.
 */
import type { Duplex } from "node:stream";

const clean = (s: Duplex): boolean => s.readableEnded && s.writableFinished;

export function bridge(a: Duplex, b: Duplex): void {
  a.on("error", () => {});
  b.on("error", () => {});
  a.pipe(b);
  b.pipe(a);
  a.once("close", () => {
    if (!clean(a) && !b.destroyed) b.destroy();
  });
  b.once("close", () => {
    if (!clean(b) && !a.destroyed) a.destroy();
  });
}
