/**
 * What the benchmark reaches inside a running server: the telemetry layer (the `telemetry`
 * capability's api) and the metric store (the `metrics` capability's api). Looked up by
 * shape, so the benchmark keeps working while the capabilities' api objects grow.
 */
import type { TetherServer } from "@tether/server";

export interface StoreLike {
  stats(): Record<string, unknown>;
  compact(now?: number): Promise<Record<string, unknown>>;
}

export interface LayerLike {
  stats(): Record<string, unknown> & {
    groupCommits?: number;
    samplesAccepted?: number;
    batchesAccepted?: number;
  };
}

export function telemetryOf(srv: TetherServer): LayerLike | undefined {
  const t = (srv.capabilities as unknown as Record<string, any>).telemetry;
  return t && typeof t.stats === "function" ? (t as LayerLike) : undefined;
}

export function metricStoreOf(srv: TetherServer): StoreLike | undefined {
  const m = (srv.capabilities as unknown as Record<string, any>).metrics;
  if (!m) return undefined;
  for (const c of [m.store, m.metrics, m]) if (c && typeof c.compact === "function") return c as StoreLike;
  return undefined;
}
