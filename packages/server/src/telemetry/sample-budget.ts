/**
 * A device's ingest budget (docs/protocol.md §14.3, docs/security.md "A hostile device"): a
 * token bucket of samples (metric points, log lines) per device, so what one device can make
 * the server store is bounded by rate × retention. A batch over the budget is answered 429
 * and stays in the agent's buffer; an honest agent catching up after a long outage is slowed,
 * never refused for good. One entry per device that uploaded recently; idle full buckets are
 * forgotten.
 */
export interface SampleBudgetLimits {
  /** Samples per second a device may upload, sustained (default 50,000). */
  perSecond: number;
  /** Samples it may upload at once, e.g. after an outage (default 2,000,000). */
  burst: number;
}

export const DEFAULT_SAMPLE_BUDGET: SampleBudgetLimits = { perSecond: 50_000, burst: 2_000_000 };

export class SampleBudget {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly limits: SampleBudgetLimits,
    private readonly now: () => number = Date.now,
  ) {}

  /** Take `n` samples from the device's bucket: 0 when allowed, else the ms to wait first. */
  take(deviceId: string, n: number): number {
    const t = this.now();
    const { perSecond, burst } = this.limits;
    const b = this.buckets.get(deviceId) ?? { tokens: burst, at: t };
    b.tokens = Math.min(burst, b.tokens + ((t - b.at) / 1000) * perSecond);
    b.at = t;
    // A batch larger than the whole burst could never pass: let it through on a full bucket.
    const need = Math.min(n, burst);
    if (b.tokens < need) {
      this.buckets.set(deviceId, b);
      return Math.ceil(((need - b.tokens) / perSecond) * 1000);
    }
    b.tokens -= need;
    this.buckets.set(deviceId, b);
    if (this.buckets.size > 10_000) this.sweep(t);
    return 0;
  }

  /** Forget buckets that have refilled (they hold nothing a fresh one would not). */
  private sweep(t: number): void {
    const { perSecond, burst } = this.limits;
    for (const [id, b] of this.buckets) {
      if (b.tokens + ((t - b.at) / 1000) * perSecond >= burst) this.buckets.delete(id);
    }
  }
}

/** Samples a batch carries (metric points, log lines). */
export function samplesIn(batch: { metrics?: { points?: unknown[] }[]; logs?: unknown[] }): number {
  let n = Array.isArray(batch.logs) ? batch.logs.length : 0;
  if (Array.isArray(batch.metrics))
    for (const s of batch.metrics) if (Array.isArray(s?.points)) n += s.points.length;
  return n;
}
