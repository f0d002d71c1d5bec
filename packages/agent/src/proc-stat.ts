/**
 * Linux /proc/PID/stat fields the agent needs to find and kill what it started, after a crash
 * too (docs/protocol.md §13, §17.4). Absent /proc (not Linux), each answers undefined.
 */
import { readFileSync } from "node:fs";

/** The fields after the command name ("pid (comm) state ppid pgrp session tty_nr tpgid …"). */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // comm may hold spaces and parentheses: the fields start after the last ")".
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  } catch {
    return undefined;
  }
}

/** Field 22: the process start time (clock ticks since boot), to tell a pid from its reuse. */
export function processStartTime(pid: number): string | undefined {
  return statFields(pid)?.[19];
}

export interface ProcStat {
  state: string;
  pgrp: number;
  session: number;
  /** The foreground process group of its controlling terminal; -1 without one. */
  tpgid: number;
  start: string;
}

/** Fields 3, 5, 6, 8 and 22 of one process. */
export function procStat(pid: number): ProcStat | undefined {
  const f = statFields(pid);
  if (!f) return undefined;
  return { state: f[0], pgrp: Number(f[2]), session: Number(f[3]), tpgid: Number(f[5]), start: f[19] };
}
