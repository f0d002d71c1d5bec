/** Pure helpers for remote command execution: statuses, display text (no React). */
import {
  type Command,
  type CommandRun,
  type CommandSummary,
  type CreateCommand,
  FINAL_RUN_STATUSES,
  LIVE_RUN_STATUSES,
  MAX_QUEUE_TTL_MS,
  MAX_TIMEOUT_MS,
  type RunStatus,
} from "@tether/sdk";
import { parseDuration } from "../../format";

/** Summary order: outcomes first, then what is still in flight (latest stage first). */
const SUMMARY_ORDER: readonly RunStatus[] = [...FINAL_RUN_STATUSES, ...[...LIVE_RUN_STATUSES].reverse()];

export function statusLabel(s: string): string {
  return s.replace(/_/g, " ");
}

/** The colour family of each run status. */
const TONE: Record<RunStatus, "ok" | "bad" | "live" | "wait" | "off"> = {
  succeeded: "ok",
  failed: "bad",
  timed_out: "bad",
  error: "bad",
  lost: "bad",
  running: "live",
  sent: "live",
  pending: "wait",
  queued: "wait",
  offline: "off",
  expired: "off",
  cancelled: "off",
  skipped: "off",
};

/** "ok" | "bad" | "live" | "wait" | "off": the colour family of a run status. */
export function statusTone(s: RunStatus): string {
  return TONE[s] ?? "off";
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

/** How a command picked its devices, in names: "site=lab", "all devices", "robot-01", "3 devices". */
export function targetText(c: Pick<Command, "target" | "runs">): string {
  const t = c.target ?? {};
  const parts: string[] = [];
  if (t.all) parts.push("all devices");
  if (t.selector) parts.push(t.selector);
  if (t.devices?.length) {
    // Names as they were at the start; older commands: the runs' names, else what was typed.
    const names = t.deviceNames?.length
      ? t.deviceNames
      : c.runs && c.runs.length === t.devices.length
        ? c.runs.map((r) => r.device)
        : t.devices;
    parts.push(
      names.length <= 3 ? names.join(", ") : `${names.slice(0, 2).join(", ")} and ${names.length - 2} more`,
    );
  }
  return parts.join(" · ") || "—";
}

/**
 * A run's error in the console's words (the server's are written for the CLI: "--queue-ttl").
 */
export function runErrorText(r: Pick<CommandRun, "status" | "error">): string | null {
  if (!r.error) return null;
  if (r.status === "offline" && /queue-ttl/.test(r.error))
    return "The device was offline, so the command did not run. To have it wait for the device, set “Wait if offline”.";
  return r.error.replace(/^./, (ch) => ch.toUpperCase());
}

export function fmtDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}

/** Seconds typed in a form → milliseconds; null if not a positive number within `maxMs`. */
function secondsToMs(s: string, maxMs: number): number | null {
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

/** "Wait if offline": "" → 0 (do not wait); "10m", "2h", "90" (seconds) → ms; null if invalid. */
export function queueTtlMs(s: string): number | null {
  if (!s.trim()) return 0;
  const secs = parseDuration(s);
  if (secs === null) return null;
  const ms = Math.round(secs * 1000);
  return ms >= 1000 && ms <= MAX_QUEUE_TTL_MS ? ms : null;
}

export const QUEUE_TTL_HINT =
  "How long an offline device may take to come back, e.g. 10m or 2h (at most 30d).";

/**
 * What both run forms send for their shared fields (the command, "Timeout (s)", "Wait if
 * offline"), or the sentence that says which one is wrong.
 */
export function runFields(
  text: string,
  timeout: string,
  queueTtl: string,
): { error: string } | { fields: Pick<CreateCommand, "argv" | "shell" | "timeoutMs" | "queueTtlMs"> } {
  const cmd = text.trim();
  if (!cmd) return { error: "Type a command." };
  const timeoutMs = secondsToMs(timeout, MAX_TIMEOUT_MS);
  if (timeoutMs === null) return { error: "The timeout is a number of seconds, at most 86400." };
  const ttl = queueTtlMs(queueTtl);
  if (ttl === null) return { error: "“Wait if offline” is a duration such as 10m, 2h or 1d, at most 30d." };
  return { fields: { argv: [cmd], shell: true, timeoutMs, ...(ttl > 0 ? { queueTtlMs: ttl } : {}) } };
}
