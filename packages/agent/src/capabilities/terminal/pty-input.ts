/**
 * Input towards a PTY with backpressure (docs/protocol.md §17.4). node-pty's write() queues
 * without bound and says nothing when the kernel is full; this Writable writes the master fd
 * itself and calls back only once the bytes are in the kernel, so a channel piped into it
 * stops being read, its window is not granted, and a paste flood waits at the user's end.
 */
import { write, writeSync } from "node:fs";
import { Writable } from "node:stream";

const MAX_RETRY_MS = 50;

/** `isOpen()` false once node-pty is closing the fd: input after that is dropped (the process is gone). */
export function ptyInput(fd: number, isOpen: () => boolean): Writable {
  const writeAll = (buf: Buffer, off: number, delay: number, done: () => void): void => {
    if (!isOpen() || off >= buf.length) {
      done();
      return;
    }
    // A keystroke fits the kernel's buffer at once: write it now (the master fd is
    // non-blocking), saving a thread-pool round trip on every key (bench:terminal, echo).
    if (delay === 1) {
      try {
        const n = writeSync(fd, buf, off, buf.length - off);
        if (off + n >= buf.length) {
          done();
          return;
        }
        off += n;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EAGAIN") {
          done(); // EIO: the slave side closed; nobody reads input any more
          return;
        }
      }
    }
    write(fd, buf, off, buf.length - off, null, (err, n) => {
      if (err?.code === "EAGAIN") {
        // The line discipline is full (the process reads no input): try again shortly.
        setTimeout(() => writeAll(buf, off, Math.min(delay * 2, MAX_RETRY_MS), done), delay);
        return;
      }
      if (err) {
        done(); // EIO: the slave side closed; nobody reads input any more
        return;
      }
      writeAll(buf, off + n, 1, done);
    });
  };
  return new Writable({
    highWaterMark: 16 * 1024,
    write(chunk: Buffer, _enc, cb) {
      writeAll(chunk, 0, 1, () => cb());
    },
  });
}
