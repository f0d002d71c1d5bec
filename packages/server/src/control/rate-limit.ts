/**
 * The per-device message rate limit of the control channel (docs/security.md "A hostile
 * device"): a token bucket per device over every frame it publishes, checked before any
 * work is done on the frame. Frames over the limit are dropped (a durable message is then
 * not acknowledged, so a well-behaved agent re-sends it after its next handshake). Drops
 * are counted in the control stats and reported at most once per interval per device: one
 * warn line, and the device's `rate_limited` counter (the API's `rateLimited`, printed by
 * `tether devices show`) grows by what was dropped.
 */
import type { Kysely } from "kysely";
import { sql } from "kysely";
import type { Logger } from "pino";
import type { DB } from "../store/schema.js";
import type { ControlStats } from "./downlink.js";

export interface RateLimitOptions {
  /** Sustained messages per second per device. */
  perSecond: number;
  /** Bucket size: messages a device may send at once after a quiet spell. */
  burst: number;
  /** At most one warn line and one counter update per device per this many ms. */
  reportMs: number;
}

interface Bucket {
  tokens: number;
  at: number;
  /** Dropped since the last report. */
  unreported: number;
  lastReport: number;
  timer?: NodeJS.Timeout;
}

export class DeviceRateLimit {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly db: Kysely<DB>,
    private readonly log: Logger,
    private readonly stats: ControlStats,
    private readonly o: RateLimitOptions,
  ) {}

  /** Take one token for a frame from this device; false = drop it. */
  take(deviceId: string): boolean {
    const now = performance.now();
    let b = this.buckets.get(deviceId);
    if (!b) {
      b = { tokens: this.o.burst, at: now, unreported: 0, lastReport: -Infinity };
      this.buckets.set(deviceId, b);
    } else {
      b.tokens = Math.min(this.o.burst, b.tokens + ((now - b.at) / 1000) * this.o.perSecond);
      b.at = now;
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return true;
    }
    this.stats.rateLimited++;
    b.unreported++;
    if (now - b.lastReport >= this.o.reportMs) void this.report(deviceId, b);
    else if (!b.timer) {
      b.timer = setTimeout(() => void this.report(deviceId, b), b.lastReport + this.o.reportMs - now);
      b.timer.unref();
    }
    return false;
  }

  private async report(deviceId: string, b: Bucket): Promise<void> {
    clearTimeout(b.timer);
    b.timer = undefined;
    const n = b.unreported;
    if (n === 0) return;
    b.unreported = 0;
    b.lastReport = performance.now();
    this.log.warn(
      { deviceId, dropped: n, perSecond: this.o.perSecond, burst: this.o.burst },
      `device over its control message rate limit (${this.o.perSecond}/s, burst ${this.o.burst}): dropped ${n} message(s)`,
    );
    try {
      await this.db
        .updateTable("devices")
        .set({ rate_limited: sql`rate_limited + ${n}` })
        .where("id", "=", deviceId)
        .execute();
    } catch (err) {
      this.log.warn({ err, deviceId }, "could not record rate-limited messages");
    }
  }

  /** Revocation or deletion: forget the device's bucket. */
  forget(deviceId: string): void {
    const b = this.buckets.get(deviceId);
    if (b) clearTimeout(b.timer);
    this.buckets.delete(deviceId);
  }

  close(): void {
    for (const b of this.buckets.values()) clearTimeout(b.timer);
  }
}
