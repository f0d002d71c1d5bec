/**
 * The system collectors in one list, and the runner: a collector that fails (a missing file:
 * no battery, no wireless) is logged once and skipped; the others still run. It is tried
 * again each interval (a USB battery may appear) and logged again only after it worked.
 */
import type { Logger } from "pino";
import type { Sample } from "../sample.js";
import { batteryCollector } from "./battery.js";
import type { CollectContext, Collector } from "./collector.js";
import { cpuCollector } from "./cpu.js";
import { diskIoCollector, diskUsageCollector } from "./disk.js";
import { loadCollector, processesCollector, uptimeCollector } from "./load.js";
import { memoryCollector } from "./memory.js";
import { networkCollector, wirelessCollector } from "./network.js";
import { temperatureCollector } from "./temperature.js";

export type { CollectContext, Collector, FsStats, Statfs } from "./collector.js";
export { realStatfs } from "./collector.js";

export function systemCollectors(): Collector[] {
  return [
    cpuCollector(),
    loadCollector(),
    memoryCollector(),
    diskUsageCollector(),
    diskIoCollector(),
    networkCollector(),
    wirelessCollector(),
    temperatureCollector(),
    batteryCollector(),
    uptimeCollector(),
    processesCollector(),
  ];
}

export class CollectorRunner {
  private readonly failing = new Set<string>();

  constructor(
    private readonly collectors: Collector[],
    private readonly log: Logger,
  ) {}

  run(ctx: CollectContext): Sample[] {
    const out: Sample[] = [];
    for (const c of this.collectors) {
      try {
        for (const s of c.collect(ctx)) out.push(s);
        this.failing.delete(c.name);
      } catch (err) {
        if (this.failing.has(c.name)) continue;
        this.failing.add(c.name);
        const e = err as NodeJS.ErrnoException;
        // Absent hardware is normal (no battery, no wireless): info, not a warning.
        const missing = e.code === "ENOENT" || e.code === "ENOTDIR";
        this.log[missing ? "info" : "warn"](
          { collector: c.name, err: e.message },
          missing ? `metrics: ${c.name} not available here; skipped` : `metrics: ${c.name} failed; skipped`,
        );
      }
    }
    return out;
  }

  /** Collectors that failed at their last run (tests, status). */
  get skipped(): string[] {
    return [...this.failing];
  }
}
