/**
 * The agent's series limit (tether.metrics.maxSeries, default 2000): the distinct series
 * (name + labels) seen recently. A new series beyond the limit is refused (its samples are
 * dropped and counted as series-limit, with a gap record); known series always pass. Series
 * unseen for an hour are forgotten, so churned labels do not hold the limit for ever.
 */
export class SeriesBook {
  private readonly seen = new Map<string, number>();

  constructor(
    private max: number,
    private readonly idleMs = 3_600_000,
  ) {}

  /**
   * May this series' sample go into the batch? `force`: the agent's own system series, bounded
   * by the hardware, always pass (and count), so the limit never hides a robot's CPU, battery or
   * the agent_dropped_samples_total that reports the limit itself.
   */
  admit(key: string, now: number, force = false): boolean {
    if (force || this.seen.has(key)) {
      this.seen.set(key, now);
      return true;
    }
    if (this.seen.size >= this.max) return false;
    this.seen.set(key, now);
    return true;
  }

  /** Forget series idle for longer than idleMs (once per interval). */
  prune(now: number): void {
    for (const [k, at] of this.seen) if (now - at > this.idleMs) this.seen.delete(k);
  }

  setMax(max: number): void {
    this.max = max;
  }

  get size(): number {
    return this.seen.size;
  }
}
