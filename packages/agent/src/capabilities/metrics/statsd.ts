/**
 * StatsD (and DogStatsD tags) over UDP: the parser and the per-interval aggregation.
 * Lines: `name:value|type[|@rate][|#k:v,k2:v2]`, several per datagram (newline-separated) and
 * several values per line (`name:1:2:3|ms`). Types: c counter, g gauge (`+n`/`-n` are deltas),
 * ms/h/d timers and histograms (summarised per interval), s set (distinct values per interval).
 *
 * What a flush emits (docs/protocol.md §14, application metrics):
 * - counter `a.b` → `a_b_total` (kind counter, cumulative since agent start, sample rate applied)
 * - gauge → `a_b`, its last value, every interval until idle for an hour
 * - timer/histogram → `a_b_count`, `_sum`, `_min`, `_max`, `_avg` over the interval
 * - set → `a_b`: distinct values seen in the interval
 */
import type { Drops } from "./drops.js";
import { sanitizeLabels, sanitizeMetricName } from "./names.js";
import { round, type Sample, seriesKey } from "./sample.js";

export type StatsdType = "c" | "g" | "ms" | "h" | "d" | "s";

export interface StatsdMetric {
  name: string;
  type: StatsdType;
  /** Numbers for c, g, ms, h, d; the raw member for s. */
  values: (number | string)[];
  /** Gauge values given with a sign: deltas. */
  delta: boolean;
  rate: number;
  tags: [string, string][];
}

const TYPES = new Set(["c", "g", "ms", "h", "d", "s"]);
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** One line: the metric, null for a line that is not a metric (blank, DogStatsD events and service checks), or an error. */
export function parseStatsdLine(line: string): StatsdMetric | null | { error: string } {
  const l = line.trim();
  if (l === "" || l.startsWith("_e{") || l.startsWith("_sc|")) return null;
  const colon = l.indexOf(":");
  if (colon <= 0) return { error: "expected name:value|type" };
  const name = l.slice(0, colon);
  const [valuePart, type, ...sections] = l.slice(colon + 1).split("|");
  if (!type || !TYPES.has(type)) return { error: `unknown type ${JSON.stringify(type ?? "")}` };
  const raw = valuePart!.split(":");
  let rate = 1;
  const tags: [string, string][] = [];
  for (const s of sections) {
    if (s.startsWith("@")) {
      rate = Number(s.slice(1));
      if (!(rate > 0 && rate <= 1)) return { error: `bad sample rate ${s}` };
    } else if (s.startsWith("#")) {
      for (const t of s.slice(1).split(",")) {
        const i = t.indexOf(":");
        // A tag without a value carries nothing a label can hold: dropped.
        if (i > 0) tags.push([t.slice(0, i), t.slice(i + 1)]);
      }
    }
    // Other DogStatsD sections (c: container, T timestamp, e: external data) are ignored.
  }
  if (type === "s") return { name, type, values: raw, delta: false, rate, tags };
  if (raw.some((v) => !NUMBER.test(v))) return { error: `bad value ${JSON.stringify(valuePart)}` };
  const values = raw.map(Number);
  // `1e999`, or a value over a tiny sample rate, would make a counter Infinity for good.
  if (values.some((v) => !Number.isFinite(v) || !Number.isFinite(v / rate))) {
    return { error: `value out of range ${JSON.stringify(valuePart)}` };
  }
  const delta = type === "g" && /^[+-]/.test(raw[0]!);
  return { name, type: type as StatsdType, values, delta, rate, tags };
}

interface Entry {
  kind: "counter" | "gauge" | "timer" | "set";
  name: string;
  labels?: Record<string, string>;
  value: number;
  count: number;
  sum: number;
  min: number;
  max: number;
  members: Set<string> | null;
  updatedAt: number;
  /** Updated since the last flush. */
  fresh: boolean;
}

export interface StatsdLimits {
  /** Aggregation entries kept (name + labels + type); new ones beyond are dropped as series-limit. */
  maxEntries: number;
  /** Distinct members one set counts per interval. */
  maxSetMembers: number;
  /** Counters and gauges not updated for this long are forgotten. */
  idleMs: number;
}

export const DEFAULT_STATSD_LIMITS: StatsdLimits = {
  maxEntries: 10_000,
  maxSetMembers: 10_000,
  idleMs: 3_600_000,
};

export class StatsdAggregator {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly drops: Drops,
    private readonly limits: StatsdLimits = DEFAULT_STATSD_LIMITS,
  ) {}

  /** A datagram (or any text): every line parsed, garbage counted as parse-error. */
  ingest(text: string, now: number): void {
    for (const line of text.split("\n")) {
      const m = parseStatsdLine(line);
      if (m === null) continue;
      if ("error" in m) this.drops.add("parse-error");
      else this.add(m, now);
    }
  }

  add(m: StatsdMetric, now: number): void {
    const base = sanitizeMetricName(m.name);
    if (!base) {
      this.drops.add("parse-error", m.values.length);
      return;
    }
    const labels = sanitizeLabels(m.tags);
    const kind = m.type === "c" ? "counter" : m.type === "g" ? "gauge" : m.type === "s" ? "set" : "timer";
    // Room for the suffix a flush adds (_total, _count: 6 characters) within METRIC_NAME's 128.
    const name =
      kind === "counter" && !base.endsWith("_total")
        ? `${base.slice(0, 122)}_total`
        : kind === "timer"
          ? base.slice(0, 122)
          : base;
    const key = `${kind}\u0002${seriesKey(name, labels)}`;
    let e = this.entries.get(key);
    if (!e) {
      if (this.entries.size >= this.limits.maxEntries) {
        this.drops.add("series-limit", m.values.length);
        return;
      }
      e = {
        kind,
        name,
        labels,
        value: 0,
        count: 0,
        sum: 0,
        min: Infinity,
        max: -Infinity,
        members: null,
        updatedAt: now,
        fresh: false,
      };
      this.entries.set(key, e);
    }
    e.updatedAt = now;
    e.fresh = true;
    for (const v of m.values) {
      if (kind === "set") {
        e.members ??= new Set();
        if (e.members.size < this.limits.maxSetMembers) e.members.add(String(v));
      } else if (kind === "counter") {
        e.value += (v as number) / m.rate;
      } else if (kind === "gauge") {
        e.value = m.delta ? e.value + (v as number) : (v as number);
      } else {
        const x = v as number;
        e.count += 1 / m.rate;
        e.sum += x / m.rate;
        if (x < e.min) e.min = x;
        if (x > e.max) e.max = x;
      }
    }
  }

  /** The interval's samples at `now`; timers and sets restart, counters and gauges carry on. */
  flush(now: number): Sample[] {
    const out: Sample[] = [];
    for (const [key, e] of this.entries) {
      const { name, labels } = e;
      const at = (n: string, value: number, kind?: "counter"): Sample => ({
        name: n,
        labels,
        value,
        t: now,
        kind,
      });
      if (e.kind === "counter" || e.kind === "gauge") {
        if (now - e.updatedAt > this.limits.idleMs) {
          this.entries.delete(key);
          continue;
        }
        out.push(at(name, round(e.value, 6), e.kind === "counter" ? "counter" : undefined));
      } else if (e.fresh) {
        if (e.kind === "set") {
          out.push(at(name, e.members?.size ?? 0));
        } else {
          out.push(at(`${name}_count`, round(e.count, 3)));
          out.push(at(`${name}_sum`, round(e.sum, 6)));
          out.push(at(`${name}_min`, e.min));
          out.push(at(`${name}_max`, e.max));
          out.push(at(`${name}_avg`, round(e.count ? e.sum / e.count : 0, 6)));
        }
        // Nothing carries to the next interval: the entry goes, its series may come back.
        this.entries.delete(key);
        continue;
      }
      e.fresh = false;
    }
    for (const s of out) if (s.kind === undefined) delete s.kind;
    for (const s of out) if (s.labels === undefined) delete s.labels;
    return out;
  }

  get size(): number {
    return this.entries.size;
  }
}
