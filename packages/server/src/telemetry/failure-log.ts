/**
 * Refused telemetry uploads are logged at most once a minute per key (a device, or the
 * source address when the token names no device), with the count since the last line, so a
 * misconfigured or hostile client cannot flood the log (docs/protocol.md §14.1). Bounded.
 */
import type { Logger } from "pino";

export class FailureLog {
  private readonly seen = new Map<string, { count: number; loggedAt: number }>();

  constructor(
    private readonly log: Logger,
    private readonly everyMs = 60_000,
    private readonly maxKeys = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Count one refusal; returns true when it was logged. */
  note(key: string, fields: Record<string, unknown>, msg: string): boolean {
    const t = this.now();
    const e = this.seen.get(key);
    if (e && t - e.loggedAt < this.everyMs) {
      e.count++;
      return false;
    }
    const refused = (e?.count ?? 0) + 1;
    this.seen.delete(key);
    if (this.seen.size >= this.maxKeys) this.seen.delete(this.seen.keys().next().value as string);
    this.seen.set(key, { count: 0, loggedAt: t });
    this.log.warn({ ...fields, refused }, msg);
    return true;
  }
}
