/** Plain padded tables, with device-supplied text made safe for terminals. */

import { escapeControl } from "./escape.js";

export type Cell = string | number | boolean | null | undefined;

export const cell = (v: Cell): string =>
  v === null || v === undefined || v === "" ? "-" : escapeControl(String(v));

/** Columns padded to the widest cell; header in capitals. */
export function table(headers: string[], rows: Cell[][]): string {
  const cells = rows.map((r) => r.map(cell));
  const head = headers.map((h) => h.toUpperCase());
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i])))
      .join("  ")
      .trimEnd();
  return `${[line(head), ...cells.map(line)].join("\n")}\n`;
}

/** "key: value" lines, keys aligned. */
export function details(pairs: [string, Cell][]): string {
  const w = Math.max(...pairs.map(([k]) => k.length)) + 1;
  return `${pairs.map(([k, v]) => `${`${k}:`.padEnd(w)} ${cell(v)}`).join("\n")}\n`;
}

export const formatLabels = (l: Record<string, string> | undefined): string =>
  l && Object.keys(l).length
    ? Object.entries(l)
        .map(([k, v]) => `${k}=${v}`)
        .join(",")
    : "";
