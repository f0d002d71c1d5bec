/** /proc readings for bench:telemetry: CPU time and peak RSS of one process. */
import { readFileSync } from "node:fs";

/** USER_HZ: 100 on Linux. */
const TICK_MS = 10;

/** utime + stime of a process, in seconds. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(f[11]) + Number(f[12])) * TICK_MS) / 1000;
}

/** Peak resident set size (VmHWM) and current (VmRSS), in KiB. */
export function memKiB(pid: number): { hwm: number; rss: number } {
  const s = readFileSync(`/proc/${pid}/status`, "utf8");
  return {
    hwm: Number(/VmHWM:\s+(\d+)/.exec(s)?.[1] ?? Number.NaN),
    rss: Number(/VmRSS:\s+(\d+)/.exec(s)?.[1] ?? Number.NaN),
  };
}
