/**
 * The device telemetry tokens' table, in the MAIN database (docs/protocol.md §14.1): it
 * belongs with the device (revocation and deletion act on both at once), and the token's
 * delivery rides the main database's outbox. Listed as the telemetry capability's migrations.
 * Names are global and permanent.
 */
import type { Kysely, Migration } from "kysely";

export const telemetryTokenMigrations = (): Record<string, Migration> => ({
  "0006_telemetry_tokens": {
    async up(db: Kysely<any>) {
      // Digests only (SHA-256, base64url): a stolen database holds no usable token.
      await db.schema
        .createTable("telemetry_tokens")
        .addColumn("device_id", "text", (c) => c.primaryKey().references("devices.id").onDelete("cascade"))
        .addColumn("current_hash", "text")
        .addColumn("next_hash", "text")
        /** The outbox message that carries the next token while it is undelivered. */
        .addColumn("next_mid", "integer")
        /** When the newest token (next, else current) was issued: the rotation schedule's clock. */
        .addColumn("issued_at", "text", (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex("telemetry_tokens_current")
        .unique()
        .on("telemetry_tokens")
        .column("current_hash")
        .execute();
      await db.schema
        .createIndex("telemetry_tokens_next")
        .unique()
        .on("telemetry_tokens")
        .column("next_hash")
        .execute();
    },
  },
});

export interface TelemetryTokensTable {
  device_id: string;
  current_hash: string | null;
  next_hash: string | null;
  next_mid: number | null;
  issued_at: string;
}
