/**
 * The agent's own health: RSS, CPU seconds, the telemetry buffer's fill, the age of the last
 * acknowledged upload, and every sample dropped on the device by reason (the buffer's and
 * the metrics module's own: series-limit, parse-error, ...), so no loss is silent.
 */
import type { TelemetryStatus } from "../../../telemetry/index.js";
import { counter, gauge, round, type Sample } from "../sample.js";
import type { Collector } from "./collector.js";

export function agentHealthCollector(
  status: () => TelemetryStatus,
  dropped: () => Record<string, number>,
): Collector {
  return {
    name: "agent",
    collect({ now }) {
      const cpu = process.cpuUsage();
      const out: Sample[] = [
        gauge("agent_rss_bytes", process.memoryUsage.rss()),
        counter("agent_cpu_seconds_total", round((cpu.user + cpu.system) / 1e6, 3)),
      ];
      const s = status();
      out.push(gauge("agent_buffer_bytes", s.bufferBytes));
      if (s.bufferLimit > 0)
        out.push(gauge("agent_buffer_used_percent", round((s.bufferBytes / s.bufferLimit) * 100, 2)));
      if (s.lastUploadAt !== null)
        out.push(gauge("agent_last_upload_age_seconds", round(Math.max(0, now - s.lastUploadAt) / 1000, 1)));
      const byReason = new Map<string, number>();
      for (const src of [s.dropped, dropped()])
        for (const [reason, n] of Object.entries(src)) byReason.set(reason, (byReason.get(reason) ?? 0) + n);
      for (const [reason, n] of byReason) out.push(counter("agent_dropped_samples_total", n, { reason }));
      return out;
    },
  };
}
