/** Display helpers shared by the CLI and the console (browser-safe, no I/O). */
import type { Command, Device } from "@tether/protocol/api";

/** Quote an argv word for display the way a POSIX shell would need it. */
export function shellQuote(w: string): string {
  return /^[\w@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, "'\\''")}'`;
}

/** The command as the user would type it (a --shell command is shown as given). */
export function commandText(c: Pick<Command, "argv" | "shell">): string {
  return c.shell ? c.argv.join(" ") : c.argv.map(shellQuote).join(" ");
}

/** A span of seconds, two units at most: "42s", "5m 3s", "2h 10m", "3d 4h". */
export function fmtSpan(s: number): string {
  if (s < 60) return `${Math.round(s)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${Math.round(s % 60)}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

/** "just now", "4m 10s ago", "never" (null), or the input when it is not a date. */
export function ago(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return "never";
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  const s = Math.round((now - t) / 1000);
  if (s < 0) return `in ${fmtSpan(-s)}`;
  if (s < 5) return "just now";
  return `${fmtSpan(s)} ago`;
}

/** What an operator calls a device's state: online/offline once accepted, else its enrollment state. */
export type PresenceStatus = "online" | "offline" | "pending" | "rejected" | "revoked";

export function presenceStatus(d: Pick<Device, "state" | "online">): PresenceStatus {
  return d.state === "accepted" ? (d.online ? "online" : "offline") : d.state;
}

/** How many devices have each presence status (every status present, 0 when none). */
export function countByPresence(
  devices: readonly Pick<Device, "state" | "online">[],
): Record<PresenceStatus, number> {
  const n: Record<PresenceStatus, number> = { online: 0, offline: 0, pending: 0, rejected: 0, revoked: 0 };
  for (const d of devices) n[presenceStatus(d)]++;
  return n;
}

/** "1 API token", "2 API tokens". */
export function plural(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? "" : "s"}`;
}

/**
 * The one "last seen" sentence every view shows (CLI list and show, console list and page):
 * "online since 09:12 (5m 3s)" while connected, "last seen 4m ago" once offline, "never connected",
 * and for a pending device "waiting for approval (2m 5s)" (it polls; it has no control connection yet).
 */
export function presenceText(
  d: Pick<Device, "state" | "online" | "onlineSince" | "lastSeenAt" | "createdAt">,
  now = Date.now(),
): string {
  if (d.state === "pending") {
    const t = Date.parse(d.createdAt);
    return Number.isNaN(t)
      ? "waiting for approval"
      : `waiting for approval (${fmtSpan(Math.max(0, Math.round((now - t) / 1000)))})`;
  }
  if (d.state === "accepted" && d.online) {
    const since = d.onlineSince ?? d.lastSeenAt;
    const t = since ? Date.parse(since) : Number.NaN;
    if (Number.isNaN(t)) return "online";
    return `online since ${clock(t, now)} (${fmtSpan(Math.max(0, Math.round((now - t) / 1000)))})`;
  }
  return d.lastSeenAt ? `last seen ${ago(d.lastSeenAt, now)}` : "never connected";
}

/** Local wall-clock time: "09:12" within the last day, else "2026-11-30 09:12". */
export function clock(t: number, now = Date.now()): string {
  const d = new Date(t);
  const p = (n: number) => String(n).padStart(2, "0");
  const hm = `${p(d.getHours())}:${p(d.getMinutes())}`;
  return now - t < 86_400_000 && now >= t
    ? hm
    : `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${hm}`;
}
