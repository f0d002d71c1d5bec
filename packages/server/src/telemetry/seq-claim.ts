/**
 * The per-device, per-stream batch sequence (docs/protocol.md §14.3): a stream handler calls
 * the claim inside its own transaction on the telemetry database and stores the batch only if
 * it returns true. One conditional upsert: the row changes only when the seq is newer, so a
 * retried or replayed batch is a duplicate, and two batches of one stream in one group
 * commit see each other (same transaction). Gap records are stored in the same transaction,
 * so they are exactly-once too.
 */
import { TELEMETRY_LIMITS } from "@tether/protocol";
import { type Kysely, PostgresAdapter, sql } from "kysely";
import type { IncomingBatch, SeqClaim } from "./types.js";
import type { TelemetryLayerTables } from "./migrations.js";

/** Gap records kept per device and stream; older ones are deleted as new ones arrive. */
export const GAPS_KEPT = 1000;

export const claimSeq: SeqClaim = async (trx, b) => {
  const db = trx as Kysely<TelemetryLayerTables>;
  const { device, batch, receivedAt, skewMs } = b;
  const r = await db
    .insertInto("telemetry_streams")
    .values({
      device_id: device.id,
      stream: batch.stream,
      last_seq: batch.seq,
      last_received_at: receivedAt,
      skew_ms: skewMs,
    })
    .onConflict((oc) =>
      oc
        .columns(["device_id", "stream"])
        .doUpdateSet((eb) => ({
          last_seq: eb.ref("excluded.last_seq"),
          last_received_at: eb.ref("excluded.last_received_at"),
          skew_ms: eb.ref("excluded.skew_ms"),
        }))
        .where("telemetry_streams.last_seq", "<", batch.seq),
    )
    .executeTakeFirst();
  if (Number(r.numInsertedOrUpdatedRows ?? 0) === 0) return false;
  if (batch.gaps?.length) await storeGaps(db, b);
  return true;
};

/** A device time that is before 2000 or too far ahead of the server comes from a wrong clock. */
export const plausible = (t: number, receivedAt: number): boolean =>
  t >= TELEMETRY_LIMITS.minTime && t <= receivedAt + TELEMETRY_LIMITS.maxFutureMs;

async function storeGaps(db: Kysely<TelemetryLayerTables>, b: IncomingBatch): Promise<void> {
  const { device, batch, receivedAt, skewMs } = b;
  const rows = (batch.gaps ?? []).map((g) => {
    // Server-corrected: a wrong device clock is shifted by the batch's skew.
    const shift = plausible(g.from, receivedAt) && plausible(g.to, receivedAt) ? 0 : skewMs;
    return {
      device_id: device.id,
      stream: g.stream ?? batch.stream,
      from_ms: Math.round(g.from + shift),
      to_ms: Math.round(g.to + shift),
      count: g.count,
      reason: g.reason,
      detail: g.detail ?? null,
      received_at: receivedAt,
    };
  });
  // 8 columns a row: well under SQLite's 32,766 parameters per statement.
  for (let i = 0; i < rows.length; i += 1000) {
    await db
      .insertInto("telemetry_gaps")
      .values(rows.slice(i, i + 1000))
      .execute();
  }
  for (const stream of new Set(rows.map((r) => r.stream))) {
    // Bounded per device and stream: keep the newest GAPS_KEPT by time of loss (then by
    // arrival). By row identity, not by a time cut-off: a device that sends every gap with the
    // same `from` must not slip past the bound through ties.
    await sql`delete from telemetry_gaps where ${rowId(db)} in (
        select ${rowId(db)} from telemetry_gaps where device_id = ${device.id} and stream = ${stream}
        order by from_ms desc, received_at desc limit ${NO_LIMIT} offset ${GAPS_KEPT})`.execute(db);
  }
}

/** SQLite needs a LIMIT before an OFFSET. */
const NO_LIMIT = 1_000_000_000;

/** The row's physical identity: SQLite's rowid, PostgreSQL's ctid (the table has no key of its own). */
const rowId = (db: Kysely<TelemetryLayerTables>) =>
  sql.raw(db.getExecutor().adapter instanceof PostgresAdapter ? "ctid" : "rowid");
