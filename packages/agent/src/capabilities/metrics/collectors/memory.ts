/** Memory and swap from /proc/meminfo (kB → bytes). */
import { gauge, round } from "../sample.js";
import { type Collector, readUnder } from "./collector.js";

export function parseMeminfo(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    const m = /^([\w()]+):\s+(\d+)(?:\s+kB)?/.exec(line);
    if (m) out.set(m[1]!, Number(m[2]) * (line.includes("kB") ? 1024 : 1));
  }
  return out;
}

export function memoryCollector(): Collector {
  return {
    name: "memory",
    collect({ procRoot }) {
      const m = parseMeminfo(readUnder(procRoot, "meminfo"));
      const total = m.get("MemTotal");
      if (!total) throw new Error("meminfo: no MemTotal");
      // Kernels before 3.14 have no MemAvailable: free + buffers + page cache approximates it.
      const available =
        m.get("MemAvailable") ?? (m.get("MemFree") ?? 0) + (m.get("Buffers") ?? 0) + (m.get("Cached") ?? 0);
      const used = total - available;
      const out = [
        gauge("memory_total_bytes", total),
        gauge("memory_available_bytes", available),
        gauge("memory_used_bytes", used),
        gauge("memory_used_percent", round((used / total) * 100, 2)),
      ];
      const swapTotal = m.get("SwapTotal");
      if (swapTotal !== undefined) {
        out.push(gauge("swap_total_bytes", swapTotal));
        out.push(gauge("swap_used_bytes", swapTotal - (m.get("SwapFree") ?? swapTotal)));
      }
      return out;
    },
  };
}
