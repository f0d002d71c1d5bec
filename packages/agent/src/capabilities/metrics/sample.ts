/**
 * One sample as the metrics module handles it before a batch is sealed (docs/protocol.md §14.2:
 * a batch carries series `{name, labels, kind, points}`), and the rounding that keeps values
 * compact: round values compress much better on the server.
 */
export interface Sample {
  name: string;
  labels?: Record<string, string>;
  /** Names ending `_total` are counters; the rest gauges (the brief's naming rule). */
  kind?: "gauge" | "counter";
  value: number;
  /** Device-clock ms; absent: the collection time. */
  t?: number;
}

/** Round to `decimals` places (percent 2, °C 3); integers stay integers. */
export function round(v: number, decimals: number): number {
  const f = 10 ** decimals;
  return Math.round(v * f) / f;
}

/** The series identity: name plus sorted labels. */
export function seriesKey(name: string, labels?: Record<string, string>): string {
  if (!labels) return name;
  const keys = Object.keys(labels);
  if (keys.length === 0) return name;
  keys.sort();
  let k = name;
  for (const l of keys) k += `\u0000${l}\u0001${labels[l]}`;
  return k;
}

export const gauge = (name: string, value: number, labels?: Record<string, string>): Sample =>
  labels ? { name, labels, value } : { name, value };

export const counter = (name: string, value: number, labels?: Record<string, string>): Sample =>
  labels ? { name, labels, kind: "counter", value } : { name, kind: "counter", value };
