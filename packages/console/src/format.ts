/** Pure helpers for parsing form input and formatting values (no React). */

/** "1h", "30m", "2d", "90s", "1w" or a bare number of seconds → seconds; null if invalid. */
export function parseDuration(s: string): number | null {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$/i.exec(s);
  if (!m) return null;
  const unit = { "": 1, s: 1, m: 60, h: 3600, d: 86400, w: 604800 }[m[2].toLowerCase()] ?? 1;
  const v = Number(m[1]) * unit;
  return v > 0 && Number.isFinite(v) ? v : null;
}

/** "site=lab, role=arm" (commas, spaces or newlines between pairs) → labels; throws on a bad pair. */
export function parseLabels(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of s.split(/[,\s]+/).filter(Boolean)) {
    const i = part.indexOf("=");
    if (i <= 0) throw new Error(`"${part}" is not key=value`);
    const k = part.slice(0, i);
    if (!/^[A-Za-z0-9._/-]{1,63}$/.test(k))
      throw new Error(`label key "${k}" may use only A-Z a-z 0-9 . _ / -`);
    out[k] = part.slice(i + 1);
  }
  return out;
}

/** One source for relative times and spans: the SDK's (the CLI shows the same words). */
export { ago, clock, fmtSpan } from "@tether/sdk";

export function fmtTime(iso: string | null): string {
  if (!iso) return "—";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

export function fmtBytes(n: number | undefined): string {
  if (n === undefined) return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}
