/**
 * The last bytes a shell printed (docs/protocol.md §17.3): a participant who joins late gets them
 * first, so its screen is not empty. Fixed size; the oldest bytes are overwritten.
 */
export class OutputRing {
  private readonly buf: Buffer;
  private start = 0;
  private length = 0;

  constructor(readonly size: number) {
    this.buf = Buffer.alloc(size);
  }

  push(data: Uint8Array): void {
    if (data.length >= this.size) {
      this.buf.set(data.subarray(data.length - this.size));
      this.start = 0;
      this.length = this.size;
      return;
    }
    const end = (this.start + this.length) % this.size;
    const first = Math.min(data.length, this.size - end);
    this.buf.set(data.subarray(0, first), end);
    this.buf.set(data.subarray(first), 0);
    const over = Math.max(0, this.length + data.length - this.size);
    this.start = (this.start + over) % this.size;
    this.length = Math.min(this.size, this.length + data.length);
  }

  /**
   * What is kept, oldest first. A cut through a UTF-8 character at the start is skipped (its
   * continuation bytes would show as replacement characters).
   */
  contents(): Buffer {
    const out = Buffer.alloc(this.length);
    const first = Math.min(this.length, this.size - this.start);
    this.buf.copy(out, 0, this.start, this.start + first);
    this.buf.copy(out, first, 0, this.length - first);
    let skip = 0;
    while (skip < Math.min(3, out.length) && (out[skip] & 0xc0) === 0x80) skip++;
    return out.subarray(skip);
  }
}
