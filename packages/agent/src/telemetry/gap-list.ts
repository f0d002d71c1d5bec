/**
 * A stream's pending gap records (docs/protocol.md §14.2, gaps): losses that have not yet
 * ridden an acknowledged batch. Never a silent drop, and never unbounded: adjacent losses of
 * the same reason merge, and past MAX_GAPS the oldest same-reason neighbours merge too.
 *
 * The first `attached` entries ride the batch in flight; they are never changed, so that
 * clearing them after the server's 200 cannot lose a loss merged in meanwhile.
 */
import type { TelemetryGap } from "@tether/protocol";

/** Gaps one stream keeps pending (well under TELEMETRY_LIMITS.maxGaps per batch). */
export const MAX_GAPS = 100;

const REASON_TEXT: Record<string, string> = {
  "buffer-full": "buffer full",
  "disk-full": "disk write failed",
  rejected: "refused by the server",
};

/** One line for people: "1,204 samples dropped: buffer full". */
export function gapDetail(count: number, reason: string, unit: string): string {
  return `${count.toLocaleString("en-US")} ${unit} dropped: ${REASON_TEXT[reason] ?? reason}`;
}

function merge(a: TelemetryGap, b: TelemetryGap, unit: string): TelemetryGap {
  const count = a.count + b.count;
  const reason = a.reason === b.reason || a.count >= b.count ? a.reason : b.reason;
  const out: TelemetryGap = {
    from: Math.min(a.from, b.from),
    to: Math.max(a.to, b.to),
    count,
    reason,
    detail: gapDetail(count, reason, unit),
  };
  if (a.stream) out.stream = a.stream;
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

  /** Record a loss: merged into the last pending one when it has the same reason and is not in flight. */
  add(gap: TelemetryGap): void {
    const last = this.gaps.length - 1;
    if (
      last >= this.attached &&
      this.gaps[last].reason === gap.reason &&
      this.gaps[last].stream === gap.stream
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
