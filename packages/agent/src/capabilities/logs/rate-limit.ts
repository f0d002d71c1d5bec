/**
 * Log rate limits (docs/protocol.md §15): a token bucket per source and one per device
 * (lines per second, with a burst). A line passes when both have a token; what does not pass
 * is counted per source, with the span of its times and which limit bit, for the gap record
 * sealed with the next batch ("1,204 lines dropped from app.log between … and …").
 */

export class TokenBucket {
  private tokens: number;
  private at: number;

  constructor(
    private rate: number,
    private burst: number,
    now: number,
  ) {
    this.tokens = burst;
    this.at = now;
  }

  set(rate: number, burst: number): void {
    this.rate = rate;
    this.burst = burst;
    this.tokens = Math.min(this.tokens, burst);
  }

  private refill(now: number): void {
    if (now > this.at) {
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) / 1000) * this.rate);
    }
    this.at = now;
  }

  /** Whether one token is there (without taking it). */
  has(now: number): boolean {
    this.refill(now);
    return this.tokens >= 1;
  }

  take(now: number): boolean {
    this.refill(now);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Nothing spent for a while: it is full again (the caller may forget it). */
  full(now: number): boolean {
    this.refill(now);
    return this.tokens >= this.burst;
  }
}

export interface Loss {
  count: number;
  from: number;
  to: number;
  /** Lines refused by the source's limit and by the device's. */
  bySource: number;
  byDevice: number;
}

export interface RateLimits {
  rate: number;
  burst: number;
  deviceRate: number;
  deviceBurst: number;
}

/** Sources with a bucket at most; past it, the idle (full) buckets are forgotten. */
const MAX_BUCKETS = 1000;

export class LogRateLimiter {
  private readonly sources = new Map<string, TokenBucket>();
  private readonly device: TokenBucket;
  private losses = new Map<string, Loss>();

  constructor(
    private limits: RateLimits,
    private readonly now: () => number,
  ) {
    this.device = new TokenBucket(limits.deviceRate, limits.deviceBurst, now());
  }

  get current(): RateLimits {
    return this.limits;
  }

  set(limits: RateLimits): void {
    this.limits = limits;
    this.device.set(limits.deviceRate, limits.deviceBurst);
    for (const b of this.sources.values()) b.set(limits.rate, limits.burst);
  }

  /** May this line of `src` (device time `t`) pass? A refusal is counted. */
  admit(src: string, t: number): boolean {
    const now = this.now();
    let b = this.sources.get(src);
    if (!b) {
      if (this.sources.size >= MAX_BUCKETS) {
        for (const [k, x] of this.sources) if (x.full(now)) this.sources.delete(k);
      }
      b = new TokenBucket(this.limits.rate, this.limits.burst, now);
      this.sources.set(src, b);
    }
    const sourceOk = b.has(now);
    const deviceOk = this.device.has(now);
    if (sourceOk && deviceOk) {
      b.take(now);
      this.device.take(now);
      return true;
    }
    const l = this.losses.get(src);
    if (l) {
      l.count++;
      l.from = Math.min(l.from, t);
      l.to = Math.max(l.to, t);
      if (sourceOk) l.byDevice++;
      else l.bySource++;
    } else {
      this.losses.set(src, {
        count: 1,
        from: t,
        to: t,
        bySource: sourceOk ? 0 : 1,
        byDevice: sourceOk ? 1 : 0,
      });
    }
    return false;
  }

  /** The losses since the last call, per source. */
  takeLosses(): Map<string, Loss> {
    const l = this.losses;
    this.losses = new Map();
    return l;
  }
}
