// Sliding anti-replay window (RFC 6479 / WireGuard style), see docs/protocol.md §5.
// Accepts each counter at most once; counters at or below highest - size are refused.
// Bit for counter c lives at slot c mod size; every slot in [highest-size+1, highest]
// maps to a distinct counter, and slots are cleared as the window slides forward.

const MAX_COUNTER = (1n << 64n) - 1n;

export class ReplayWindow {
  readonly size: number;
  private readonly bits: Uint32Array;
  private highest = -1n;

  constructor(size = 1024) {
    if (!Number.isInteger(size) || size <= 0) throw new RangeError("window size must be a positive integer");
    this.size = size;
    this.bits = new Uint32Array(Math.ceil(size / 32));
  }

  /** Highest counter accepted so far, or -1n if none. */
  get highestAccepted(): bigint {
    return this.highest;
  }

  private slot(counter: bigint): number {
    return Number(counter % BigInt(this.size));
  }

  private getBit(i: number): boolean {
    return (this.bits[i >>> 5]! & (1 << (i & 31))) !== 0;
  }

  private setBit(i: number, on: boolean): void {
    if (on) this.bits[i >>> 5]! |= 1 << (i & 31);
    else this.bits[i >>> 5]! &= ~(1 << (i & 31));
  }

  /** True if `counter` is acceptable: not seen yet and not older than the window. Does not modify state. */
  check(counter: bigint): boolean {
    if (typeof counter !== "bigint" || counter < 0n || counter > MAX_COUNTER) return false;
    if (counter > this.highest) return true;
    if (counter <= this.highest - BigInt(this.size)) return false;
    return !this.getBit(this.slot(counter));
  }

  /** Marks `counter` as seen. Call only after the message authenticated. Too-old counters are ignored. */
  accept(counter: bigint): void {
    if (typeof counter !== "bigint" || counter < 0n || counter > MAX_COUNTER) return;
    if (counter > this.highest) {
      const diff = counter - this.highest;
      if (diff >= BigInt(this.size)) {
        this.bits.fill(0);
      } else {
        for (let c = this.highest + 1n; c <= counter; c++) this.setBit(this.slot(c), false);
      }
      this.highest = counter;
    } else if (counter <= this.highest - BigInt(this.size)) {
      return;
    }
    this.setBit(this.slot(counter), true);
  }
}
