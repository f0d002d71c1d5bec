/**
 * Metrics for tests: a device's system series (CPU total and per core, memory, disk per mount,
 * temperature per sensor, battery, network counters, uptime) and optionally a custom one,
 * generated deterministically over a time range, with spans the device "lost" (no samples and
 * a gap record, as an agent whose buffer overflowed sends them), stored through the server's
 * real metric store and the telemetry layer's sequence claim (docs/protocol.md §14.2–14.4).
 */
import type { MetricSeriesWire, TelemetryBatch, TelemetryGap } from "@tether/protocol";
import type { TetherServer } from "@tether/server";
import { claimSeq } from "../../packages/server/src/telemetry/seq-claim.js";

export interface SeedProfile {
  /** Server ms of the first and last sample (the last is usually "now"). */
  from: number;
  to: number;
  /** Collection interval (default 10 s, the agent's). */
  stepMs?: number;
  /** CPU load around this (percent, default 30). */
  cpu?: number;
  /** Battery charge at `from` and its drain per hour (default 90 %, 6 %/h); null: no battery. */
  battery?: { start: number; drainPerHour: number } | null;
  /** CPU temperature around this (°C, default 55); the board sensor runs 12 °C cooler. */
  temperature?: number;
  /** Disk used on / (percent, default 40); /data runs fuller. */
  disk?: number;
  /** Spans without samples, each reported by a gap record (reason default buffer-full). */
  lost?: { from: number; to: number; reason?: string }[];
  /** The device clock's offset: server receive time − device send time (docs/protocol.md §14.2). */
  skewMs?: number;
  /** Add the custom series `ros_topic_hz{topic="/scan"}`. */
  custom?: boolean;
}

const CORES = 2;

/** Every series of the profile (points at the profile's times, none inside lost spans). */
export function generateSeries(p: SeedProfile): MetricSeriesWire[] {
  const step = p.stepMs ?? 10_000;
  const times: number[] = [];
  for (let t = p.from; t <= p.to; t += step) {
    if (!(p.lost ?? []).some((l) => t >= l.from && t <= l.to)) times.push(t);
  }
  // A slow wave plus a faster wobble: realistic enough to see, the same every run.
  const wave = (t: number, period: number, phase = 0) =>
    Math.sin((2 * Math.PI * (t - p.from)) / period + phase);
  const s = (name: string, labels: Record<string, string> | undefined, f: (t: number) => number) => ({
    name,
    ...(labels ? { labels } : {}),
    ...(name.endsWith("_total") ? { kind: "counter" as const } : {}),
    points: times.map((t): [number, number] => [t, Math.round(f(t) * 100) / 100]),
  });
  const cpu = p.cpu ?? 30;
  const temp = p.temperature ?? 55;
  const disk = p.disk ?? 40;
  const mem = 8 * 1024 ** 3;
  const out: MetricSeriesWire[] = [
    s("cpu_usage_percent", undefined, (t) =>
      clamp(cpu + 12 * wave(t, 900_000) + 4 * wave(t, 130_000), 0, 100),
    ),
    ...Array.from({ length: CORES }, (_, i) =>
      s("cpu_core_usage_percent", { cpu: String(i) }, (t) =>
        clamp(cpu + (i ? -8 : 8) + 15 * wave(t, 700_000, i), 0, 100),
      ),
    ),
    s("memory_total_bytes", undefined, () => mem),
    s("memory_used_bytes", undefined, (t) => mem * (0.45 + 0.05 * wave(t, 1_800_000))),
    s("memory_used_percent", undefined, (t) => 100 * (0.45 + 0.05 * wave(t, 1_800_000))),
    s("disk_used_percent", { mount: "/" }, (t) => disk + (t - p.from) / 3_600_000),
    s("disk_used_percent", { mount: "/data" }, () => Math.min(99, disk + 35)),
    s("disk_total_bytes", { mount: "/" }, () => 64 * 1024 ** 3),
    s("temperature_celsius", { sensor: "cpu" }, (t) => temp + 6 * wave(t, 1_200_000) + wave(t, 90_000)),
    s("temperature_celsius", { sensor: "board" }, (t) => temp - 12 + 3 * wave(t, 1_200_000)),
    // Counters: ~200 KiB/s received, ~50 KiB/s sent.
    s("net_rx_bytes_total", { interface: "wlan0" }, (t) => 1e9 + ((t - p.from) / 1000) * 200 * 1024),
    s("net_tx_bytes_total", { interface: "wlan0" }, (t) => 5e8 + ((t - p.from) / 1000) * 50 * 1024),
    s("uptime_seconds", undefined, (t) => 93_600 + (t - p.from) / 1000),
  ];
  const bat = p.battery === undefined ? { start: 90, drainPerHour: 6 } : p.battery;
  if (bat) {
    const charge = (t: number) => clamp(bat.start - (bat.drainPerHour * (t - p.from)) / 3_600_000, 0, 100);
    out.push(
      s("battery_capacity_percent", { battery: "BAT0" }, charge),
      s("battery_voltage_volts", { battery: "BAT0" }, (t) => 11.1 + (1.5 * charge(t)) / 100),
      s("battery_status", { battery: "BAT0" }, () => 2),
    );
  }
  if (p.custom) out.push(s("ros_topic_hz", { topic: "/scan" }, (t) => 10 + wave(t, 300_000)));
  return out;
}

const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));

/**
 * Store the profile's series for `deviceRef` (id or name, default project) as an agent would
 * upload them after an outage: one batch per `batchMs` of samples (default 10 min), each with
 * the next sequence number from `firstSeq`, the gap records in the batch after each lost span.
 * Returns the samples stored and the next sequence number.
 */
export async function seedMetrics(
  srv: TetherServer,
  deviceRef: string,
  p: SeedProfile,
  o: { firstSeq?: number; batchMs?: number; receivedAt?: number } = {},
): Promise<{ samples: number; nextSeq: number }> {
  const metrics = srv.capabilities.metrics;
  const projectId = await srv.services.accounts.projectId("default");
  const device = await srv.services.devices.find(projectId, deviceRef);
  const series = generateSeries(p);
  const batchMs = o.batchMs ?? 600_000;
  const receivedAt = o.receivedAt ?? Date.now();
  const skewMs = p.skewMs ?? 0;
  let seq = o.firstSeq ?? 1;
  let samples = 0;
  const pendingGaps: TelemetryGap[] = (p.lost ?? []).map((l) => ({
    from: l.from,
    to: l.to,
    // As many samples as the collectors would have taken in the span.
    count: series.length * Math.max(1, Math.round((l.to - l.from) / (p.stepMs ?? 10_000))),
    reason: l.reason ?? "buffer-full",
  }));
  const incoming = [];
  for (let start = p.from; start <= p.to; start += batchMs) {
    const end = Math.min(p.to + 1, start + batchMs);
    const part = series
      .map((s) => ({ ...s, points: s.points.filter(([t]) => t >= start && t < end) }))
      .filter((s) => s.points.length > 0);
    const gaps = pendingGaps.filter((g) => g.to < end);
    for (const g of gaps) pendingGaps.splice(pendingGaps.indexOf(g), 1);
    if (part.length === 0 && gaps.length === 0) continue;
    samples += part.reduce((n, s) => n + s.points.length, 0);
    const batch: TelemetryBatch = {
      v: 1,
      device: device.id,
      stream: "metrics",
      seq: seq++,
      sentAt: receivedAt - skewMs,
      ...(gaps.length ? { gaps } : {}),
      metrics: part,
    };
    incoming.push({ device, batch, receivedAt, skewMs });
  }
  const results = await metrics.store.ingest(incoming, claimSeq);
  const dup = results.filter((r) => r === "duplicate").length;
  if (dup) throw new Error(`seedMetrics: ${dup} batches were duplicates (firstSeq too low)`);
  return { samples, nextSeq: seq };
}
