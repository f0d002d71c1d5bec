/**
 * A stream's pending gap records (docs/protocol.md §14.2, gaps): losses that have not yet
 * ridden an acknowledged batch. Never a silent drop, and never unbounded: adjacent losses of
 * the same reason merge, and past MAX_GAPS the oldest same-reason neighbours merge too.
 *
 * The first `attached` entries ride the batch in flight; they are never changed, so that
 * clearing them after the server's 200 cannot lose a loss merged in meanwhile.
 */
import { TELEMETRY_STREAMS, type TelemetryGap } from "@tether/protocol";

/** Gaps one stream keeps pending (well under TELEMETRY_LIMITS.maxGaps per batch). */
export const MAX_GAPS = 100;

const REASON_TEXT: Record<string, string> = {
  "buffer-full": "buffer full",
  "disk-full": "disk write failed",
  rejected: "refused by the server",
  "rate-limit": "rate limit",
};

/** One line for people: "1,204 samples dropped: buffer full" ("… dropped from app.log: rate limit"). */
export function gapDetail(count: number, reason: string, unit: string, source?: string): string {
  const from = source ? ` from ${source}` : "";
  return `${count.toLocaleString("en-US")} ${unit} dropped${from}: ${REASON_TEXT[reason] ?? reason}`;
}

/** Device times the server takes in a gap record (its envelope: |t| ≤ 4e15 ms, about year ±128,000). */
export const MAX_GAP_TIME = 4e15;
const REASON = /^[a-z][a-z0-9-]{0,31}$/;
const STREAMS = new Set<string>(TELEMETRY_STREAMS);

/**
 * A gap as the server will take it (docs/protocol.md §14.2: finite times within ±4e15 ms, from
 * ≤ to, a whole count, a reason and stream by the rules, detail ≤ 500 characters). A gap the
 * server refused would ride, and sink, every later batch (each one refused with it), so a
 * sample time from an application that is out of range (an Influx or Prometheus timestamp, a
 * gaps.json from elsewhere) is clamped here instead; a time that is no number becomes `now`.
 */
export function saneGap(g: unknown, now: number): TelemetryGap {
  const x = (g && typeof g === "object" ? g : {}) as Record<string, unknown>;
  const time = (t: unknown) =>
    typeof t === "number" && Number.isFinite(t)
      ? Math.min(MAX_GAP_TIME, Math.max(-MAX_GAP_TIME, t))
      : undefined;
  let from = time(x.from);
  let to = time(x.to);
  from ??= to ?? Math.min(MAX_GAP_TIME, Math.max(-MAX_GAP_TIME, now));
  to ??= from;
  if (to < from) [from, to] = [to, from];
  const count =
    typeof x.count === "number" && x.count > 0 ? Math.min(Math.round(x.count), Number.MAX_SAFE_INTEGER) : 0;
  const out: TelemetryGap = {
    from,
    to,
    count,
    reason: typeof x.reason === "string" && REASON.test(x.reason) ? x.reason : "unknown",
  };
  if (typeof x.stream === "string" && STREAMS.has(x.stream)) out.stream = x.stream;
  if (typeof x.source === "string" && x.source) out.source = x.source.slice(0, 512);
  if (typeof x.detail === "string") out.detail = x.detail.slice(0, 500);
  return out;
}

function merge(a: TelemetryGap, b: TelemetryGap, unit: string): TelemetryGap {
  const count = a.count + b.count;
  const reason = a.reason === b.reason || a.count >= b.count ? a.reason : b.reason;
  const out: TelemetryGap = {
    from: Math.min(a.from, b.from),
    to: Math.max(a.to, b.to),
    count,
    reason,
    detail: gapDetail(count, reason, unit, a.source === b.source ? a.source : undefined),
  };
  if (a.stream) out.stream = a.stream;
  // Logs: a gap names its source; merged ones keep it only when they share it.
  if (a.source && a.source === b.source) out.source = a.source;
  return out;
}

export class GapList {
  private gaps: TelemetryGap[];
  /** Leading entries riding the batch in flight (untouchable until cleared or released). */
  private attached = 0;

  constructor(
    initial: TelemetryGap[],
    /** "samples" or "lines", for the detail text. */
    private readonly unit: string,
    private readonly onChange: (gaps: TelemetryGap[]) => void,
  ) {
    this.gaps = initial.slice();
    this.cap();
  }

  get size(): number {
    return this.gaps.length;
  }

  /**
   * Record a loss: merged into the last pending one when it has the same reason, stream and
   * source (logs: one gap per source) and is not in flight.
   */
  add(gap: TelemetryGap): void {
    const last = this.gaps.length - 1;
    if (
      last >= this.attached &&
      this.gaps[last].reason === gap.reason &&
      this.gaps[last].stream === gap.stream &&
      this.gaps[last].source === gap.source
    ) {
      this.gaps[last] = merge(this.gaps[last], gap, this.unit);
    } else {
      this.gaps.push({ ...gap, detail: gap.detail ?? gapDetail(gap.count, gap.reason, this.unit) });
    }
    this.cap();
    this.onChange(this.gaps);
  }

  /** Take the pending gaps for the next upload (a copy); they stay until `acknowledged`. */
  attach(): TelemetryGap[] {
    this.attached = this.gaps.length;
    return this.gaps.slice();
  }

  /** The batch carrying the attached gaps was accepted: they are delivered. */
  acknowledged(): void {
    if (this.attached === 0) return;
    this.gaps.splice(0, this.attached);
    this.attached = 0;
    this.onChange(this.gaps);
  }

  /** The upload failed: the attached gaps ride the next try (and may merge again). */
  release(): void {
    this.attached = 0;
  }

  private cap(): void {
    while (this.gaps.length > MAX_GAPS) {
      const lo = Math.max(this.attached, 0);
      if (this.gaps.length - lo < 2) return; // all in flight: bounded by the last cap anyway
      let i = lo;
      for (let j = lo; j + 1 < this.gaps.length; j++) {
        if (this.gaps[j].reason === this.gaps[j + 1].reason) {
          i = j;
          break;
        }
      }
      this.gaps.splice(i, 2, merge(this.gaps[i], this.gaps[i + 1], this.unit));
    }
  }
}
