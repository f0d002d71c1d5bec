/**
 * The telemetry layer's own tables in the telemetry database (docs/protocol.md §14.3). Names
 * start with `t` so they never meet the main database's (on PostgreSQL both live in one
 * database, with separate migration tables). Names are global and permanent.
 */
import type { Kysely, Migration } from "kysely";

export const telemetryLayerMigrations = (): Record<string, Migration> => ({
  t0001_telemetry_streams: {
    async up(db: Kysely<any>) {
      // The per-device, per-stream batch sequence: one row each, so dedupe state is bounded.
      await db.schema
        .createTable("telemetry_streams")
        .addColumn("device_id", "text", (c) => c.notNull())
        .addColumn("stream", "text", (c) => c.notNull())
        .addColumn("last_seq", "bigint", (c) => c.notNull())
        .addColumn("last_received_at", "bigint", (c) => c.notNull())
        .addColumn("skew_ms", "bigint", (c) => c.notNull())
        .addPrimaryKeyConstraint("telemetry_streams_pk", ["device_id", "stream"])
        .execute();
      // What devices lost (buffer full, limits, refused batches), in server-corrected ms;
      // at most GAPS_KEPT per device and stream (./seq-claim.ts).
      await db.schema
        .createTable("telemetry_gaps")
        .addColumn("device_id", "text", (c) => c.notNull())
        .addColumn("stream", "text", (c) => c.notNull())
        .addColumn("from_ms", "bigint", (c) => c.notNull())
        .addColumn("to_ms", "bigint", (c) => c.notNull())
        .addColumn("count", "bigint", (c) => c.notNull())
        .addColumn("reason", "text", (c) => c.notNull())
        .addColumn("detail", "text")
        .addColumn("received_at", "bigint", (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex("telemetry_gaps_device_from")
        .on("telemetry_gaps")
        .columns(["device_id", "from_ms"])
        .execute();
    },
  },
});

/** The telemetry database's layer tables, as Kysely sees them (bigints read back as number or string). */
export interface TelemetryLayerTables {
  telemetry_streams: {
    device_id: string;
    stream: string;
    last_seq: number | string;
    last_received_at: number | string;
    skew_ms: number | string;
  };
  telemetry_gaps: {
    device_id: string;
    stream: string;
    from_ms: number | string;
    to_ms: number | string;
    count: number | string;
    reason: string;
    detail: string | null;
    received_at: number | string;
  };
}
