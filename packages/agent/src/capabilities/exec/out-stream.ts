/**
 * One output stream of a running command (docs/protocol.md §13). Keeps at most `limit`
 * bytes (the rest is counted and dropped), holds the bytes the server has not acknowledged
 * yet (at most the credit window, since the pipe is paused beyond it), and knows how far
 * it has sent. Pure data: no I/O, so it is tested without processes or brokers.
 */
export class OutStream {
  /** Bytes accepted (≤ limit). */
  kept = 0;
  /** Bytes the process wrote. */
  total = 0;
  /** Bytes the server acknowledged. */
  acked = 0;
  /** Bytes sent (acked ≤ sent ≤ kept). */
  sent = 0;
  private chunks: Buffer[] = [];

  constructor(
    readonly limit: number,
    readonly window: number,
  ) {}

  get truncated(): boolean {
    return this.total > this.kept;
  }

  /** Accept what the process wrote; returns true when the pipe should pause (window full). */
  push(chunk: Buffer): boolean {
    this.total += chunk.length;
    const room = this.limit - this.kept;
    if (room > 0) {
      const take = chunk.length <= room ? chunk : chunk.subarray(0, room);
      this.chunks.push(take);
      this.kept += take.length;
    }
    return this.shouldPause();
  }

  /** Past the limit nothing is kept, so reading on only drains the pipe. */
  shouldPause(): boolean {
    return this.kept < this.limit && this.kept - this.acked >= this.window;
  }

  /** The server has everything below `n`. Returns true if it asked for nothing new. */
  ack(n: number): void {
    if (n <= this.acked) return;
    let drop = Math.min(n, this.kept) - this.acked;
    this.acked += drop;
    while (drop > 0 && this.chunks.length) {
      const c = this.chunks[0];
      if (c.length <= drop) {
        this.chunks.shift();
        drop -= c.length;
      } else {
        this.chunks[0] = c.subarray(drop);
        drop = 0;
      }
    }
    if (this.sent < this.acked) this.sent = this.acked;
  }

  /** Go back to the last acknowledged byte (a gap, a new connection, a silent server). */
  rewind(): void {
    this.sent = this.acked;
  }

  /** The next chunk to send within the window, or null. Advances `sent`. */
  next(maxChunk: number): { off: number; data: Buffer } | null {
    const room = Math.min(this.kept - this.sent, this.window - (this.sent - this.acked), maxChunk);
    if (room <= 0) return null;
    const off = this.sent;
    const data = this.read(off - this.acked, room);
    this.sent += data.length;
    return { off, data };
  }

  /** Kept bytes the server has not acknowledged, with their offset (for the result). */
  tail(): { off: number; data: Buffer } {
    return { off: this.acked, data: this.read(0, this.kept - this.acked) };
  }

  get unacked(): number {
    return this.kept - this.acked;
  }

  get allAcked(): boolean {
    return this.acked >= this.kept;
  }

  private read(from: number, len: number): Buffer {
    const parts: Buffer[] = [];
    let skip = from;
    let need = len;
    for (const c of this.chunks) {
      if (need <= 0) break;
      if (skip >= c.length) {
        skip -= c.length;
        continue;
      }
      const part = c.subarray(skip, skip + need);
      parts.push(part);
      need -= part.length;
      skip = 0;
    }
    return parts.length === 1 ? parts[0] : Buffer.concat(parts);
  }
}
