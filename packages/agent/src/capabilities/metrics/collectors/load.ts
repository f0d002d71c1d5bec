/** Load averages, uptime and the process count (/proc/loadavg, /proc/uptime, /proc/<pid>). */
import { readdirSync } from "node:fs";
import { gauge, round, type Sample } from "../sample.js";
import { type Collector, readUnder } from "./collector.js";

export function loadCollector(): Collector {
  return {
    name: "load",
    collect({ procRoot }) {
      const f = readUnder(procRoot, "loadavg").trim().split(/\s+/);
      const [l1, l5, l15] = f.slice(0, 3).map(Number);
      if (![l1, l5, l15].every(Number.isFinite)) throw new Error("loadavg: unexpected format");
      return [gauge("load1", l1!), gauge("load5", l5!), gauge("load15", l15!)];
    },
  };
}

export function uptimeCollector(): Collector {
  return {
    name: "uptime",
    collect({ procRoot }) {
      const up = Number(readUnder(procRoot, "uptime").trim().split(/\s+/)[0]);
      if (!Number.isFinite(up)) throw new Error("uptime: unexpected format");
      return [gauge("uptime_seconds", round(up, 2))];
    },
  };
}

/** Processes: the numeric directories of /proc; else the total of loadavg's 4th field (tasks). */
export function processesCollector(): Collector {
  return {
    name: "processes",
    collect({ procRoot }): Sample[] {
      let n = 0;
      try {
        for (const e of readdirSync(procRoot)) if (/^\d+$/.test(e)) n++;
      } catch {
        n = 0;
      }
      if (n === 0) {
        const tasks = /\/(\d+)/.exec(readUnder(procRoot, "loadavg"));
        if (!tasks) throw new Error("no process count");
        n = Number(tasks[1]);
      }
      return [gauge("processes", n)];
    },
  };
}
