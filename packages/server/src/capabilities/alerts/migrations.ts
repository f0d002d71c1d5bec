/**
 * The alerts capability's migrations (docs/protocol.md §16), in the main database. Names are
 * global and permanent.
 */
import { type Kysely, type Migration, sql } from "kysely";
import type { Dialect } from "../../store/db.js";

export const alertsMigrations = (dialect: Dialect): Record<string, Migration> => {
  const idCol = (t: any) =>
    dialect === "postgres"
      ? t.addColumn("id", "serial", (c: any) => c.primaryKey())
      : t.addColumn("id", "integer", (c: any) => c.primaryKey().autoIncrement());
  const real = dialect === "postgres" ? sql`double precision` : sql`real`;
  return {
    "0007_alerts": {
      async up(db: Kysely<any>) {
        await idCol(db.schema.createTable("alert_rules"))
          .addColumn("project_id", "integer", (c: any) =>
            c.notNull().references("projects.id").onDelete("cascade"),
          )
          .addColumn("name", "text", (c: any) => c.notNull())
          .addColumn("kind", "text", (c: any) => c.notNull())
          .addColumn("spec", "text", (c: any) => c.notNull())
          .addColumn("webhooks", "text", (c: any) => c.notNull())
          .addColumn("created_at", "text", (c: any) => c.notNull())
          .addColumn("created_by", "text", (c: any) => c.notNull())
          .addUniqueConstraint("alert_rules_name", ["project_id", "name"])
          .execute();
        await db.schema
          .createTable("alert_states")
          .addColumn("rule_id", "integer", (c) =>
            c.notNull().references("alert_rules.id").onDelete("cascade"),
          )
          .addColumn("device_id", "text", (c) => c.notNull())
          .addColumn("state", "text", (c) => c.notNull())
          .addColumn("since", "text", (c) => c.notNull())
          .addColumn("fired_at", "text")
          .addColumn("resolved_at", "text")
          .addColumn("value", real)
          .addColumn("summary", "text", (c) => c.notNull())
          .addColumn("notified", "integer", (c) => c.notNull().defaultTo(0))
          .addPrimaryKeyConstraint("alert_states_pk", ["rule_id", "device_id"])
          .execute();
        await db.schema.createIndex("alert_states_device").on("alert_states").column("device_id").execute();
        await idCol(db.schema.createTable("alert_history"))
          .addColumn("project_id", "integer", (c: any) =>
            c.notNull().references("projects.id").onDelete("cascade"),
          )
          .addColumn("rule_id", "integer", (c: any) => c.notNull())
          .addColumn("rule_name", "text", (c: any) => c.notNull())
          .addColumn("device_id", "text", (c: any) => c.notNull())
          .addColumn("device_name", "text", (c: any) => c.notNull())
          .addColumn("state", "text", (c: any) => c.notNull())
          .addColumn("value", real)
          .addColumn("summary", "text", (c: any) => c.notNull())
          .addColumn("at", "text", (c: any) => c.notNull())
          .execute();
        await db.schema
          .createIndex("alert_history_project")
          .on("alert_history")
          .columns(["project_id", "id"])
          .execute();
        await idCol(db.schema.createTable("alert_silences"))
          .addColumn("project_id", "integer", (c: any) =>
            c.notNull().references("projects.id").onDelete("cascade"),
          )
          .addColumn("rule_id", "integer", (c: any) =>
            c.notNull().references("alert_rules.id").onDelete("cascade"),
          )
          .addColumn("until", "text", (c: any) => c.notNull())
          .addColumn("created_at", "text", (c: any) => c.notNull())
          .addColumn("created_by", "text", (c: any) => c.notNull())
          .addColumn("comment", "text")
          .addColumn("ended_at", "text")
          .execute();
        await db.schema
          .createIndex("alert_silences_rule")
          .on("alert_silences")
          .columns(["rule_id", "until"])
          .execute();
        await idCol(db.schema.createTable("webhooks"))
          .addColumn("project_id", "integer", (c: any) =>
            c.notNull().references("projects.id").onDelete("cascade"),
          )
          .addColumn("name", "text", (c: any) => c.notNull())
          .addColumn("url", "text", (c: any) => c.notNull())
          .addColumn("secret", "text", (c: any) => c.notNull())
          .addColumn("created_at", "text", (c: any) => c.notNull())
          .addColumn("created_by", "text", (c: any) => c.notNull())
          .addUniqueConstraint("webhooks_name", ["project_id", "name"])
          .execute();
        await idCol(db.schema.createTable("webhook_deliveries"))
          .addColumn("webhook_id", "integer", (c: any) =>
            c.notNull().references("webhooks.id").onDelete("cascade"),
          )
          .addColumn("event", "text", (c: any) => c.notNull())
          .addColumn("rule_name", "text")
          .addColumn("device_name", "text")
          .addColumn("payload", "text", (c: any) => c.notNull())
          .addColumn("status", "text", (c: any) => c.notNull())
          .addColumn("attempts", "integer", (c: any) => c.notNull())
          .addColumn("http_status", "integer")
          .addColumn("last_error", "text")
          .addColumn("attempt_log", "text", (c: any) => c.notNull())
          .addColumn("next_at", "text", (c: any) => c.notNull())
          .addColumn("created_at", "text", (c: any) => c.notNull())
          .addColumn("updated_at", "text", (c: any) => c.notNull())
          .execute();
        await db.schema
          .createIndex("webhook_deliveries_webhook")
          .on("webhook_deliveries")
          .columns(["webhook_id", "id"])
          .execute();
        await db.schema
          .createIndex("webhook_deliveries_status")
          .on("webhook_deliveries")
          .columns(["status", "id"])
          .execute();
      },
    },
  };
};
