/** Pure helpers for remote command execution: statuses, output decoding, display text (no React). */
import type { Command, CommandRun, CommandSummary, RunStatus } from "./types";

/** States that can still change (the rest are final). */
export const LIVE_STATUSES: ReadonlySet<string> = new Set<RunStatus>([
  "pending",
  "queued",
  "sent",
  "running",
]);

/** Summary order: outcomes first, then what is still in flight. */
const SUMMARY_ORDER: RunStatus[] = [
  "succeeded",
  "failed",
  "timed_out",
  "error",
  "offline",
  "expired",
  "cancelled",
  "lost",
  "skipped",
  "running",
  "sent",
  "queued",
  "pending",
];

export function statusLabel(s: string): string {
  return s.replace(/_/g, " ");
}

/** "ok" | "bad" | "live" | "wait" | "off": the colour family of a run status. */
export function statusTone(s: string): string {
  switch (s) {
    case "succeeded":
      return "ok";
    case "failed":
    case "timed_out":
    case "error":
    case "lost":
      return "bad";
    case "running":
    case "sent":
      return "live";
    case "pending":
    case "queued":
      return "wait";
    default:
      return "off";
  }
}

/** Non-zero counts of a summary, in display order. */
export function summaryParts(s: CommandSummary): { status: RunStatus; n: number }[] {
  return SUMMARY_ORDER.map((status) => ({ status, n: s[status] ?? 0 })).filter((p) => p.n > 0);
}

/** A summary counted from the runs themselves (current while the stored one is not). */
export function summarize(runs: CommandRun[]): CommandSummary {
  const s = Object.fromEntries([
    ...SUMMARY_ORDER.map((k) => [k, 0]),
    ["total", runs.length],
  ]) as CommandSummary;
  for (const r of runs) if (r.status in s) s[r.status]++;
  return s;
}

export function summaryText(s: CommandSummary): string {
  const parts = summaryParts(s);
  return parts.length ? parts.map((p) => `${p.n} ${statusLabel(p.status)}`).join(" · ") : "no devices";
}

/** Quote an argv word for display the way a POSIX shell would need it. */
function shellQuote(w: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`;
}

/** The command as the user would type it. */
export function commandText(c: Pick<Command, "argv" | "shell">): string {
  return c.shell ? c.argv.join(" ") : c.argv.map(shellQuote).join(" ");
}

export function targetText(c: Pick<Command, "target">): string {
  const t = c.target ?? {};
  const parts: string[] = [];
  if (t.all) parts.push("all devices");
  if (t.selector) parts.push(t.selector);
  if (t.devices?.length) parts.push(t.devices.length === 1 ? t.devices[0] : `${t.devices.length} devices`);
  return parts.join(" · ") || "—";
}

export function fmtDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}

/** Base64 → bytes; undecodable input gives no bytes rather than an exception. */
export function base64Bytes(b64: string): Uint8Array {
  let bin: string;
  try {
    bin = atob(b64);
  } catch {
    return new Uint8Array(0);
  }
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** Stored output (utf8 text, or base64 bytes when they were not valid UTF-8) → display text. */
export function storedText(data: string, encoding: "utf8" | "base64" | undefined): string {
  if (encoding !== "base64") return data;
  return new TextDecoder("utf-8", { fatal: false }).decode(base64Bytes(data));
}

/** Seconds typed in a form → milliseconds; null if not a positive number within `maxMs`. */
export function secondsToMs(s: string, maxMs: number): number | null {
  const v = Number(s.trim());
  if (!s.trim() || !Number.isFinite(v) || v <= 0) return null;
  const ms = Math.round(v * 1000);
  return ms >= 1 && ms <= maxMs ? ms : null;
}

/** An optional non-negative integer field: "" → undefined, bad → null. */
export function optionalInt(s: string, min: number): number | undefined | null {
  if (!s.trim()) return undefined;
  const v = Number(s.trim());
  return Number.isInteger(v) && v >= min ? v : null;
}

export const MAX_TIMEOUT_MS = 24 * 3600 * 1000;
