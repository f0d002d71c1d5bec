/**
 * The fleet summary (docs/protocol.md §14.5): each device's latest key figures and an hour of
 * CPU (1-minute maxima) as a sparkline, for a thousand devices in tens of milliseconds. The
 * store answers from its in-memory key-figure rings (store.summary: one call for all the
 * devices, not one range query each); the upload state adds the clock skew.
 */
import { type FleetSummaryRow, KEY_FIGURES } from "@tether/protocol";
import type { MetricStore } from "./store/types.js";

export const SPARK_POINTS = 60;
const NO_FIGURES = Object.fromEntries(Object.keys(KEY_FIGURES).map((k) => [k, null]));

export interface SummaryDeps {
  store: Pick<MetricStore, "summary">;
  uploadState(ids: string[]): Promise<Map<string, { lastUploadAt: number; skewMs: number }>>;
}

export async function fleetSummary(
  deps: SummaryDeps,
  devices: { id: string; name: string }[],
  now = Date.now(),
): Promise<FleetSummaryRow[]> {
  const ids = devices.map((d) => d.id);
  if (ids.length === 0) return [];
  const [sums, uploads] = await Promise.all([
    deps.store.summary(ids, { now, sparks: ["cpu"] }),
    deps.uploadState(ids),
  ]);
  const byId = new Map(sums.map((s) => [s.deviceId, s]));
  return devices.map((d) => {
    const s = byId.get(d.id);
    return {
      device: d.name,
      deviceId: d.id,
      at: s?.at ?? null,
      skewMs: uploads.get(d.id)?.skewMs ?? null,
      figures: { ...(s?.figures ?? NO_FIGURES) },
      spark: s?.spark.cpu ?? new Array(SPARK_POINTS).fill(null),
    };
  });
}
