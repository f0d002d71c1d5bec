/**
 * Samples the metrics module dropped before the buffer, by reason (series-limit, parse-error,
 * string-field, oversize, rate-limit): counted since agent start and reported as
 * agent_dropped_samples_total{reason}, never silent (docs/protocol.md §14.2, gaps).
 */
export class Drops {
  private readonly counts = new Map<string, number>();

  add(reason: string, n = 1): void {
    if (n > 0) this.counts.set(reason, (this.counts.get(reason) ?? 0) + n);
  }

  get(reason: string): number {
    return this.counts.get(reason) ?? 0;
  }

  snapshot(): Record<string, number> {
    return Object.fromEntries(this.counts);
  }
}
