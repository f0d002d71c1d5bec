/**
 * The tunnel layer's migrations (docs/protocol.md §17.7), in the main database: sessions (the
 * list behind `tether sessions`, kept after they end) and per-project tunnel settings. Names are
 * global and permanent. Portable types only; byte counts are bigint (a long `cat` passes 2^31).
 */
import type { Kysely, Migration } from "kysely";
import type { MigrationSet } from "../store/db.js";

export const tunnelMigrations: MigrationSet = (): Record<string, Migration> => ({
  "0008_tunnels": {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable("tunnel_sessions")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("project_id", "integer", (c) => c.notNull().references("projects.id").onDelete("cascade"))
        .addColumn("device_id", "text", (c) => c.notNull())
        .addColumn("device_name", "text", (c) => c.notNull())
        // No foreign key: a removed user's sessions stay in the history under the name they had.
        .addColumn("user_id", "integer", (c) => c.notNull())
        .addColumn("username", "text", (c) => c.notNull())
        .addColumn("kind", "text", (c) => c.notNull())
        .addColumn("via", "text", (c) => c.notNull())
        .addColumn("target", "text", (c) => c.notNull())
        .addColumn("run_as", "text")
        .addColumn("recorded", "integer", (c) => c.notNull().defaultTo(0))
        .addColumn("started_at", "text", (c) => c.notNull())
        .addColumn("ended_at", "text")
        .addColumn("end_reason", "text")
        .addColumn("exit_code", "integer")
        .addColumn("bytes_in", "bigint", (c) => c.notNull().defaultTo(0))
        .addColumn("bytes_out", "bigint", (c) => c.notNull().defaultTo(0))
        .execute();
      await db.schema
        .createIndex("tunnel_sessions_project")
        .on("tunnel_sessions")
        .columns(["project_id", "started_at"])
        .execute();
      await db.schema
        .createIndex("tunnel_sessions_device")
        .on("tunnel_sessions")
        .columns(["device_id", "started_at"])
        .execute();
      await db.schema
        .createTable("tunnel_settings")
        .addColumn("project_id", "integer", (c) =>
          c.primaryKey().references("projects.id").onDelete("cascade"),
        )
        .addColumn("record", "integer", (c) => c.notNull().defaultTo(0))
        .addColumn("forward_allow", "text", (c) => c.notNull())
        .execute();
    },
  },
});
