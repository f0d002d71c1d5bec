/** A running session process, PTY or pipes (docs/protocol.md §17.4), as the runtime sees it. */
import { constants } from "node:os";
import type { TunnelSignal } from "@tether/protocol";
import type { LocalUser } from "../../local-users.js";

export interface ExitStatus {
  code: number | null;
  /** Node's name ("SIGKILL") when a signal ended it. */
  signal: string | null;
}

export interface SessionProc {
  /** The leader: its pid is the session id of all it starts. */
  readonly pid: number;
  /** The process ended and every byte it wrote was handed to the channel. */
  readonly exited: Promise<ExitStatus>;
}

export function signalName(n: number): string {
  for (const [name, v] of Object.entries(constants.signals)) if (v === n) return name;
  return `SIG${n}`;
}

export const nodeSignal = (s: TunnelSignal): NodeJS.Signals => `SIG${s}` as NodeJS.Signals;

/**
 * Run `spawn` with the supplementary groups of `user` (initgroups), restored right after.
 * A fork inherits them, and node-pty only calls setgid/setuid in the child: without this a
 * shell as another user would keep the agent's (root's) groups. The agent stays uid 0 the
 * whole time, so its own access does not change for the instant.
 */
export function withGroupsOf<T>(user: LocalUser | null, spawn: () => T): T {
  // process.initgroups is POSIX-only and missing from @types/node.
  const initgroups = (process as { initgroups?: (user: string, group: number) => void }).initgroups;
  if (!user || !process.getgroups || !process.setgroups || !initgroups) return spawn();
  const saved = process.getgroups();
  initgroups.call(process, user.name, user.gid);
  try {
    return spawn();
  } finally {
    process.setgroups(saved);
  }
}
