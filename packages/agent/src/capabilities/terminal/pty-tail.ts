/**
 * How a PTY session ends (docs/protocol.md §17.4: all output reaches the user, then EXIT with
 * the process's own status). node-pty 1.1 gets the end wrong three ways, all seen in tests:
 *
 * - libuv ends a read stream when poll reports POLLHUP after a short read (uv__stream_io), but
 *   a PTY master reports POLLHUP as soon as the slave closes, with output still buffered in the
 *   kernel; the stream 'end's and node-pty closes the fd without reading it (`base64 …;
 *   printf END` lost up to a few KB).
 * - 200 ms after the process exits node-pty destroys the stream if it has not closed: with the
 *   stream paused for flow control, whatever the kernel still holds is dropped.
 * - The slave closes when the process closes its stdio, which coreutils do just before they
 *   exit (close_stdout); closing the master at that moment hangs up the terminal and the
 *   kernel kills the still-running process with SIGHUP (`cat` at EOF reported as SIGHUP in
 *   about one run in ten).
 *
 * All paths go through the stream's destroy(); this wraps it: it hands over what the stream
 * buffered, reads the fd itself (non-blocking) until EIO (all read, slave closed) or EAGAIN
 * (some other process keeps the slave open), at most TAIL_MAX bytes, and while the leader is
 * still alive it holds the close back until the leader has exited. It reaches into node-pty's
 * internals (`_socket`, `fd`); without them it changes nothing.
 */
import { readSync } from "node:fs";
import type { Readable } from "node:stream";
import type { IPty } from "node-pty";

/** Most bytes read after the end: a PTY's kernel buffers hold far less; a cap against a writer that never stops. */
export const TAIL_MAX = 1 << 20;
/** Longest pause between two looks at a leader that closed its terminal but lives on. */
const LEADER_POLL_MAX_MS = 100;

export interface TailHooks {
  /** Bytes node-pty would have dropped, in order after everything it delivered. */
  onTail(b: Buffer): void;
  /** The fd is about to close: no more input. */
  onClosing(): void;
  /** Whether the session leader is still running (not exited, not reaped). */
  leaderAlive(): boolean;
}

export function keepPtyTail(p: IPty, hooks: TailHooks): void {
  const internals = p as unknown as { _socket?: Readable; fd?: number };
  const sock = internals._socket;
  const fd = internals.fd;
  if (!sock || typeof sock.destroy !== "function" || typeof fd !== "number") return;
  const destroy = sock.destroy;
  let total = 0;
  const drain = () => {
    try {
      // Buffered in the stream while paused: read() emits it as 'data', in order.
      while (sock.readableLength > 0 && sock.read() !== null) {}
    } catch {}
    const buf = Buffer.allocUnsafe(64 * 1024);
    while (total < TAIL_MAX) {
      let n: number;
      try {
        n = readSync(fd, buf, 0, Math.min(buf.length, TAIL_MAX - total), null);
      } catch {
        break; // EIO: the slave closed and everything was read; EAGAIN: nothing more now
      }
      if (n <= 0) break;
      total += n;
      hooks.onTail(Buffer.from(buf.subarray(0, n)));
    }
  };
  let finished = false;
  let timer: NodeJS.Timeout | undefined;
  const finish = (self: Readable, args: Parameters<Readable["destroy"]>) => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    drain();
    hooks.onClosing();
    sock.destroy = destroy;
    destroy.apply(self, args);
  };
  sock.destroy = function (this: Readable, ...args: Parameters<Readable["destroy"]>) {
    if (finished) return destroy.apply(this, args);
    drain();
    if (!hooks.leaderAlive()) {
      finish(this, args);
      return this;
    }
    if (timer === undefined) {
      const look = (delay: number) => {
        timer = setTimeout(() => {
          if (hooks.leaderAlive()) look(Math.min(delay * 2, LEADER_POLL_MAX_MS));
          else finish(this, args);
        }, delay);
      };
      look(1);
    }
    return this;
  } as Readable["destroy"];
}
