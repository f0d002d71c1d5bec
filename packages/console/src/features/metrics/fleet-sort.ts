/**
 * The fleet metrics table's columns and order (pure). Each column's first click sorts the way
 * an operator looks for trouble: the busiest CPU, the fullest disk, the hottest device first,
 * the emptiest battery first, the longest silent first. A device without the figure is last
 * either way.
 */
import type { FleetSummaryRow } from "@tether/sdk";

export type FleetSortKey = "name" | "cpu" | "memory" | "disk" | "temperature" | "battery" | "age";
export const FLEET_SORT_KEYS: readonly FleetSortKey[] = [
  "name",
  "cpu",
  "memory",
  "disk",
  "temperature",
  "battery",
  "age",
];

/** The direction of a column's first click. */
export const FIRST_DESC: Record<FleetSortKey, boolean> = {
  name: false,
  cpu: true,
  memory: true,
  disk: true,
  temperature: true,
  battery: false,
  age: true,
};

/** `sort` of the URL ("battery", "-temperature") → key and direction; the default is by name. */
export function parseSort(s: string | null): { key: FleetSortKey; desc: boolean } {
  const desc = !!s?.startsWith("-");
  const key = (s ?? "").replace(/^-/, "") as FleetSortKey;
  return FLEET_SORT_KEYS.includes(key) ? { key, desc } : { key: "name", desc: false };
}

/** The `sort` value a click on `key` sets: its first direction, then the other. */
export function nextSort(cur: { key: FleetSortKey; desc: boolean }, key: FleetSortKey): string | null {
  const desc = cur.key === key ? !cur.desc : FIRST_DESC[key];
  if (key === "name" && !desc) return null;
  return desc ? `-${key}` : key;
}

function value(r: FleetSummaryRow, key: FleetSortKey, now: number): number | null {
  if (key === "age") return r.at === null ? null : now - r.at;
  const v = r.figures[key];
  return v === undefined || v === null || !Number.isFinite(v) ? null : v;
}

export function sortRows(
  rows: readonly FleetSummaryRow[],
  sort: { key: FleetSortKey; desc: boolean },
  now: number,
): FleetSummaryRow[] {
  const byName = (a: FleetSummaryRow, b: FleetSummaryRow) =>
    a.device.localeCompare(b.device, undefined, { numeric: true }) || a.deviceId.localeCompare(b.deviceId);
  if (sort.key === "name") {
    const out = [...rows].sort(byName);
    return sort.desc ? out.reverse() : out;
  }
  return [...rows].sort((a, b) => {
    const va = value(a, sort.key, now);
    const vb = value(b, sort.key, now);
    if (va === null || vb === null) return va === vb ? byName(a, b) : va === null ? 1 : -1;
    return (sort.desc ? vb - va : va - vb) || byName(a, b);
  });
}
