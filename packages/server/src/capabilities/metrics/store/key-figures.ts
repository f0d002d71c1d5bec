/**
 * The fleet summary's key figures (packages/protocol/src/metrics.ts KEY_FIGURES; docs/protocol.md
 * §14.5): per device a ring of the last 60 one-minute slots of each figure, combined across the
 * figure's series and samples by its rule (max or min — both idempotent, so a ring rebuilt from
 * the database merges with samples that arrived meanwhile). A cache, never the only copy.
 */
import { KEY_FIGURES, type KeyFigure } from "@tether/protocol";

export const FIGURES = Object.keys(KEY_FIGURES) as KeyFigure[];
const byMetric = new Map<string, number>(FIGURES.map((f, i) => [KEY_FIGURES[f].metric, i]));
const useMax = FIGURES.map((f) => KEY_FIGURES[f].combine === "max");

/** The figure a metric feeds, or -1. */
export function figureIndex(metric: string): number {
  return byMetric.get(metric) ?? -1;
}

export function combineFigure(fig: number, a: number, b: number): number {
  return useMax[fig] ? Math.max(a, b) : Math.min(a, b);
}

const SLOTS = 60;
const MINUTE = 60_000;

export class FigureRing {
  /** Minute number (t / 60 000) each slot holds, per figure; -1 = empty. */
  private readonly minute = new Float64Array(FIGURES.length * SLOTS).fill(-1);
  private readonly value = new Float64Array(FIGURES.length * SLOTS);
  /** Rebuilt from the database once (the ring may hold fresh samples before that). */
  loaded = false;

  add(fig: number, t: number, v: number): void {
    const m = Math.floor(t / MINUTE);
    const i = fig * SLOTS + (m % SLOTS);
    const held = this.minute[i]!;
    if (held === m) this.value[i] = combineFigure(fig, this.value[i]!, v);
    else if (held < m) {
      this.minute[i] = m;
      this.value[i] = v;
    }
  }

  /** The 60 minutes ending with the one holding `now`, oldest first; null where no sample. */
  spark(fig: number, now: number): (number | null)[] {
    const last = Math.floor(now / MINUTE);
    const out: (number | null)[] = new Array(SLOTS);
    for (let j = 0; j < SLOTS; j++) {
      const m = last - (SLOTS - 1) + j;
      const i = fig * SLOTS + (m % SLOTS);
      out[j] = this.minute[i] === m ? this.value[i]! : null;
    }
    return out;
  }
}
