/**
 * CPU usage, total and per core, from the deltas of /proc/stat between two collections:
 * busy = total − idle − iowait over the interval. The first collection only primes.
 */
import { gauge, round, type Sample } from "../sample.js";
import { type Collector, readUnder } from "./collector.js";

interface Times {
  total: number;
  idle: number;
}

/** The `cpu`/`cpuN` lines: user nice system idle iowait irq softirq steal (guest is inside user). */
export function parseProcStat(text: string): Map<string, Times> {
  const out = new Map<string, Times>();
  for (const line of text.split("\n")) {
    if (!line.startsWith("cpu")) continue;
    const [id, ...rest] = line.trim().split(/\s+/);
    const f = rest.slice(0, 8).map(Number);
    if (f.length < 4 || f.some((x) => !Number.isFinite(x))) continue;
    const idle = f[3]! + (f[4] ?? 0);
    out.set(id!, { total: f.reduce((a, b) => a + b, 0), idle });
  }
  return out;
}

export function cpuCollector(): Collector {
  let prev: Map<string, Times> | null = null;
  return {
    name: "cpu",
    collect({ procRoot }) {
      const now = parseProcStat(readUnder(procRoot, "stat"));
      if (!now.has("cpu")) throw new Error("no cpu line in stat");
      const before = prev;
      prev = now;
      if (!before) return [];
      const out: Sample[] = [];
      for (const [id, t] of now) {
        const p = before.get(id);
        if (!p) continue;
        const dt = t.total - p.total;
        // A counter that went back (CPU hot-unplugged and back): no figure this time.
        if (dt <= 0 || t.idle < p.idle) continue;
        const pct = round(Math.min(100, Math.max(0, ((dt - (t.idle - p.idle)) / dt) * 100)), 2);
        out.push(
          id === "cpu"
            ? gauge("cpu_usage_percent", pct)
            : gauge("cpu_core_usage_percent", pct, { cpu: id.slice(3) }),
        );
      }
      return out;
    },
  };
}
