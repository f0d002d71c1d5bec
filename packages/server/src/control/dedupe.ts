/**
 * Receiver-side duplicate suppression by message id (docs/protocol.md §8): everything at or
 * below `low` has been processed, plus the ids in `above`. Bounded because senders deliver
 * in order, so `above` collapses into `low` as gaps fill.
 */
export class SeenIds {
  constructor(
    public low = 0,
    public above: number[] = [],
  ) {}

  has(mid: number): boolean {
    return mid <= this.low || this.above.includes(mid);
  }

  add(mid: number): void {
    if (this.has(mid)) return;
    this.above.push(mid);
    this.above.sort((a, b) => a - b);
    while (this.above.length && this.above[0] === this.low + 1) {
      this.low++;
      this.above.shift();
    }
    // A sender never leaves more than its outbox size of gaps; cap to keep state bounded.
    if (this.above.length > 10_000) {
      this.low = this.above[this.above.length - 10_000 - 1];
      this.above = this.above.slice(-10_000);
    }
  }
}
