/** Reads of the layer's tables: gap records and each device's upload state (docs/protocol.md §14.3). */
import type { TelemetryStream } from "@tether/protocol";
import type { Kysely } from "kysely";
import type { StoredGap } from "./types.js";
import type { TelemetryLayerTables } from "./migrations.js";

/** Device ids per IN list: well under both databases' parameter limits. */
const CHUNK = 500;
/** Gap records one read returns at most (the newest by time of loss when there are more). */
export const MAX_GAPS_READ = 10_000;

function* chunks<T>(xs: T[]): Generator<T[]> {
  for (let i = 0; i < xs.length; i += CHUNK) yield xs.slice(i, i + CHUNK);
}

export async function readGaps(
  db: Kysely<TelemetryLayerTables>,
  q: { deviceIds: string[]; stream?: TelemetryStream; from: number; to: number; limit?: number },
): Promise<StoredGap[]> {
  const limit = Math.min(q.limit ?? MAX_GAPS_READ, MAX_GAPS_READ);
  const out: StoredGap[] = [];
  for (const ids of chunks([...new Set(q.deviceIds)])) {
    let sel = db
      .selectFrom("telemetry_gaps")
      .selectAll()
      .where("device_id", "in", ids)
      .where("from_ms", "<=", q.to)
      .where("to_ms", ">=", q.from);
    if (q.stream) sel = sel.where("stream", "=", q.stream);
    const rows = await sel.orderBy("from_ms", "desc").limit(limit).execute();
    for (const r of rows) {
      out.push({
        deviceId: r.device_id,
        stream: r.stream as TelemetryStream,
        from: Number(r.from_ms),
        to: Number(r.to_ms),
        count: Number(r.count),
        reason: r.reason,
        ...(r.detail != null ? { detail: r.detail } : {}),
        receivedAt: Number(r.received_at),
      });
    }
  }
  out.sort((a, b) => b.from - a.from);
  return out.slice(0, limit).reverse();
}

export async function readUploadState(
  db: Kysely<TelemetryLayerTables>,
  deviceIds: string[],
): Promise<Map<string, { lastUploadAt: number; skewMs: number }>> {
  const out = new Map<string, { lastUploadAt: number; skewMs: number }>();
  for (const ids of chunks([...new Set(deviceIds)])) {
    const rows = await db
      .selectFrom("telemetry_streams")
      .select(["device_id", "last_received_at", "skew_ms"])
      .where("device_id", "in", ids)
      .execute();
    for (const r of rows) {
      const at = Number(r.last_received_at);
      const had = out.get(r.device_id);
      // The newest upload of any stream, with the skew it measured.
      if (!had || at > had.lastUploadAt)
        out.set(r.device_id, { lastUploadAt: at, skewMs: Number(r.skew_ms) });
    }
  }
  return out;
}
