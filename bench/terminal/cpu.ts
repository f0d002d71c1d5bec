/**
 * Where the CPU goes: utime + stime (and reaped children's) of every process, from /proc. Per
 * measured run, this process ("client") and its descendants by name (node processes by role):
 * robust where wall time is not, since a busy neighbour on a shared 2-core machine stretches
 * the clock, not the CPU a path needs per byte. And how busy everything else keeps the machine.
 */
import { readdirSync, readFileSync } from "node:fs";
import { loadavg } from "node:os";
import { progress, sleep } from "../lib/util.js";

/** USER_HZ: 100 on Linux. */
const TICK_MS = 10;

export interface CpuSnapshot {
  at: number;
  /** user + nice + system time of the whole machine (/proc/stat), ms summed over cores. */
  machineMs: number;
  procs: Map<number, { ppid: number; name: string; ms: number }>;
}

function machineMs(): number {
  const f = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!.trim().split(/\s+/);
  return (Number(f[1]) + Number(f[2]) + Number(f[3])) * TICK_MS;
}

/** Every process's parent, name (or role) and CPU ms (own + reaped children's). */
export function cpuSnapshot(roles: Record<number, string> = {}): CpuSnapshot {
  const procs: CpuSnapshot["procs"] = new Map();
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const st = readFileSync(`/proc/${d}/stat`, "utf8");
      const name = st.slice(st.indexOf("(") + 1, st.lastIndexOf(")"));
      const f = st.slice(st.lastIndexOf(")") + 2).split(" ");
      const ms = (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) * TICK_MS;
      procs.set(Number(d), { ppid: Number(f[1]), name: roles[Number(d)] ?? name, ms });
    } catch {} // gone meanwhile
  }
  return { at: performance.now(), machineMs: machineMs(), procs };
}

function tree(s: CpuSnapshot, roots: number[]): Set<number> {
  const kids = new Map<number, number[]>();
  for (const [pid, v] of s.procs) kids.set(v.ppid, [...(kids.get(v.ppid) ?? []), pid]);
  const out = new Set<number>();
  const stack = [...roots];
  while (stack.length) {
    const pid = stack.pop()!;
    out.add(pid);
    stack.push(...(kids.get(pid) ?? []));
  }
  return out;
}

/**
 * CPU ms used between two snapshots by this process ("client") and its descendants, by name.
 * A process that ended in between is counted in its parent's reaped time.
 */
export function cpuByName(a: CpuSnapshot, b: CpuSnapshot): Record<string, number> {
  const out: Record<string, number> = {};
  for (const pid of tree(b, [process.pid])) {
    const v = b.procs.get(pid);
    if (!v) continue;
    const name = pid === process.pid ? "client" : v.name;
    out[name] = (out[name] ?? 0) + Math.max(0, v.ms - (a.procs.get(pid)?.ms ?? 0));
  }
  return out;
}

/**
 * Cores kept busy between two snapshots by everything but this benchmark's processes: the
 * machine's user + system time less this process tree's. (Not summed per foreign process: a
 * process reaping a long-lived child would count that child's whole life at once.) Softirq time,
 * where loopback traffic is processed, is left out on both sides.
 */
export function foreignCores(a: CpuSnapshot, b: CpuSnapshot): number {
  let ours = 0;
  for (const pid of tree(b, [process.pid]))
    ours += Math.max(0, (b.procs.get(pid)?.ms ?? 0) - (a.procs.get(pid)?.ms ?? 0));
  return Math.max(0, b.machineMs - a.machineMs - ours) / Math.max(1, b.at - a.at);
}

/**
 * Waits (up to capS) until other processes use < 0.3 cores, as bench:exec does; says so while
 * it waits, and warns when it gives up (the figures are then disturbed).
 */
export async function waitForQuiet(capS: number): Promise<{ foreignCores: number; waitedS: number }> {
  const t0 = Date.now();
  for (;;) {
    const a = cpuSnapshot();
    await sleep(2000);
    const busy = foreignCores(a, cpuSnapshot());
    const waitedS = (Date.now() - t0) / 1000;
    if (busy < 0.3 || waitedS >= capS) {
      if (busy >= 0.3)
        progress(
          `WARNING: other processes keep ${busy.toFixed(2)} cores busy (load average ${loadavg()[0]!.toFixed(2)}); measuring anyway: the figures are disturbed`,
        );
      return { foreignCores: busy, waitedS };
    }
    progress(`other processes keep ${busy.toFixed(2)} cores busy; waiting for a quieter machine`);
    await sleep(8000);
  }
}
