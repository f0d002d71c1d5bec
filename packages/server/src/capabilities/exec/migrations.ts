/**
 * The exec capability's migrations (docs/protocol.md §13). Names are global and permanent:
 * a database that applied "0002_exec" must never see it renamed.
 */
import type { Kysely, Migration } from "kysely";

export const execMigrations = (): Record<string, Migration> => ({
  "0002_exec": {
    async up(db: Kysely<any>) {
      await db.schema
        .alterTable("projects")
        .addColumn("exec_users", "text", (c) => c.notNull().defaultTo("[]"))
        .execute();
      await db.schema
        .createTable("commands")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("project_id", "integer", (c) => c.notNull())
        .addColumn("created_by", "text", (c) => c.notNull())
        .addColumn("created_at", "text", (c) => c.notNull())
        .addColumn("finished_at", "text")
        .addColumn("state", "text", (c) => c.notNull())
        .addColumn("spec", "text", (c) => c.notNull())
        .addColumn("target", "text", (c) => c.notNull())
        .addColumn("concurrency", "integer", (c) => c.notNull())
        .addColumn("max_failures", "integer")
        .execute();
      await db.schema
        .createIndex("commands_project")
        .on("commands")
        .columns(["project_id", "created_at"])
        .execute();
      await db.schema
        .createTable("command_runs")
        .addColumn("command_id", "text", (c) => c.notNull())
        .addColumn("device_id", "text", (c) => c.notNull())
        .addColumn("device_name", "text", (c) => c.notNull())
        .addColumn("seq", "integer", (c) => c.notNull())
        .addColumn("status", "text", (c) => c.notNull())
        .addColumn("exit_code", "integer")
        .addColumn("signal", "text")
        .addColumn("error", "text")
        .addColumn("mid", "integer")
        .addColumn("deliver_by", "text")
        .addColumn("stdout_bytes", "integer", (c) => c.notNull().defaultTo(0))
        .addColumn("stderr_bytes", "integer", (c) => c.notNull().defaultTo(0))
        .addColumn("stdout_truncated", "integer", (c) => c.notNull().defaultTo(0))
        .addColumn("stderr_truncated", "integer", (c) => c.notNull().defaultTo(0))
        .addColumn("started_at", "text")
        .addColumn("finished_at", "text")
        .addColumn("duration_ms", "integer")
        .addPrimaryKeyConstraint("command_runs_pk", ["command_id", "device_id"])
        .execute();
      await db.schema
        .createIndex("command_runs_device")
        .on("command_runs")
        .columns(["device_id", "command_id"])
        .execute();
      await db.schema.createIndex("command_runs_status").on("command_runs").columns(["status"]).execute();
    },
  },
});
