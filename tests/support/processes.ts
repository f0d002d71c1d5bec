/**
 * Processes a remote command started on this machine: read their pids from a file the
 * command wrote, wait until they are gone, and kill any a failed test left behind
 * (`killLeftovers()` in `after`).
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { waitFor } from "../e2e/harness.js";

/** Remote processes our commands started (killed by killLeftovers if a test failed midway). */
const remotePids = new Set<number>();

/** The process accepts signals (a zombie still does). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * A process has ended: no such pid, or a zombie. (This sandbox's init does not reap the
 * orphans a killed process group leaves, so a dead background child stays a zombie; its
 * state letter is what tells it from a running one.)
 */
export function gone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ESRCH") return true;
    throw err;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
  } catch {
    return true;
  }
}

/** Resident set size of a process now, KiB (VmRSS; NaN once it has exited). */
export function rssKiB(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]);
}

/** Peak resident set size of a process, KiB (VmHWM). */
export function peakRssKiB(pid: number): number {
  return Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]);
}

/** Pids a remote command wrote to a file (space-separated, newline-terminated). */
export async function pidsIn(file: string): Promise<number[]> {
  const pids = await waitFor(() => {
    if (!existsSync(file)) return undefined;
    const t = readFileSync(file, "utf8");
    return t.endsWith("\n") ? t.trim().split(/\s+/).map(Number) : undefined;
  }, `pids in ${file}`);
  for (const p of pids) {
    assert.ok(Number.isInteger(p) && p > 1, `pid ${p} from ${file}`);
    remotePids.add(p);
  }
  return pids;
}

export async function waitGone(pids: number[], what: string): Promise<void> {
  await waitFor(() => pids.every(gone), what);
  for (const p of pids) remotePids.delete(p);
}

/** SIGKILL the remote processes pidsIn saw that are still running. */
export function killLeftovers(): void {
  for (const pid of remotePids) {
    try {
      if (!gone(pid)) process.kill(pid, "SIGKILL");
    } catch {}
  }
  remotePids.clear();
}
