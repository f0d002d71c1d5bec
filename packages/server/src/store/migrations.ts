/**
 * One set of migrations for both dialects. Only portable column types are used
 * (text, integer, bigint as text); the auto-increment key is the one dialect difference.
 */
import type { Kysely, Migration } from "kysely";
import type { Dialect } from "./db.js";

export function coreMigrations(dialect: Dialect): Record<string, Migration> {
  const idCol = (t: any) =>
    dialect === "postgres"
      ? t.addColumn("id", "serial", (c: any) => c.primaryKey())
      : t.addColumn("id", "integer", (c: any) => c.primaryKey().autoIncrement());
  return {
    "0001_init": {
      async up(db: Kysely<any>) {
        await idCol(db.schema.createTable("users"))
          .addColumn("username", "text", (c: any) => c.notNull().unique())
          .addColumn("password_hash", "text", (c: any) => c.notNull())
          .addColumn("created_at", "text", (c: any) => c.notNull())
          .execute();
        await idCol(db.schema.createTable("projects"))
          .addColumn("name", "text", (c: any) => c.notNull().unique())
          .addColumn("created_at", "text", (c: any) => c.notNull())
          .execute();
        await db.schema
          .createTable("memberships")
          .addColumn("user_id", "integer", (c) => c.notNull().references("users.id").onDelete("cascade"))
          .addColumn("project_id", "integer", (c) =>
            c.notNull().references("projects.id").onDelete("cascade"),
          )
          .addColumn("role", "text", (c) => c.notNull())
          .addPrimaryKeyConstraint("memberships_pk", ["user_id", "project_id"])
          .execute();
        await idCol(db.schema.createTable("api_tokens"))
          .addColumn("name", "text", (c: any) => c.notNull())
          .addColumn("user_id", "integer", (c: any) => c.notNull().references("users.id").onDelete("cascade"))
          .addColumn("project_id", "integer", (c: any) =>
            c.notNull().references("projects.id").onDelete("cascade"),
          )
          .addColumn("token_hash", "text", (c: any) => c.notNull().unique())
          .addColumn("created_at", "text", (c: any) => c.notNull())
          .addColumn("last_used_at", "text")
          .execute();
        await db.schema
          .createTable("sessions")
          .addColumn("id_hash", "text", (c) => c.primaryKey())
          .addColumn("user_id", "integer", (c) => c.notNull().references("users.id").onDelete("cascade"))
          .addColumn("project_id", "integer", (c) =>
            c.notNull().references("projects.id").onDelete("cascade"),
          )
          .addColumn("created_at", "text", (c) => c.notNull())
          .addColumn("expires_at", "text", (c) => c.notNull())
          .execute();
        await idCol(db.schema.createTable("enrollment_tokens"))
          .addColumn("project_id", "integer", (c: any) =>
            c.notNull().references("projects.id").onDelete("cascade"),
          )
          .addColumn("secret_hash", "text", (c: any) => c.notNull().unique())
          .addColumn("labels", "text", (c: any) => c.notNull())
          .addColumn("uses_left", "integer", (c: any) => c.notNull())
          .addColumn("uses", "integer", (c: any) => c.notNull())
          .addColumn("auto_accept", "integer", (c: any) => c.notNull())
          .addColumn("expires_at", "text", (c: any) => c.notNull())
          .addColumn("created_at", "text", (c: any) => c.notNull())
          .addColumn("created_by", "text", (c: any) => c.notNull())
          .execute();
        await db.schema
          .createTable("devices")
          .addColumn("id", "text", (c) => c.primaryKey())
          .addColumn("project_id", "integer", (c) => c.notNull().references("projects.id"))
          .addColumn("name", "text", (c) => c.notNull())
          .addColumn("state", "text", (c) => c.notNull())
          .addColumn("sign_key", "text", (c) => c.notNull().unique())
          .addColumn("noise_key", "text", (c) => c.notNull())
          .addColumn("fingerprint", "text", (c) => c.notNull())
          .addColumn("hostname", "text", (c) => c.notNull())
          .addColumn("source_address", "text", (c) => c.notNull())
          .addColumn("labels", "text", (c) => c.notNull())
          .addColumn("facts", "text")
          .addColumn("shard", "integer", (c) => c.notNull())
          .addColumn("broker_password_hash", "text")
          .addColumn("enroll_token_id", "integer")
          .addColumn("created_at", "text", (c) => c.notNull())
          .addColumn("last_seen_at", "text")
          .addColumn("online", "integer", (c) => c.notNull().defaultTo(0))
          .addColumn("conn_id", "text")
          .addColumn("hs_counter", "text", (c) => c.notNull().defaultTo("0"))
          .addColumn("down_next_mid", "integer", (c) => c.notNull().defaultTo(1))
          .addColumn("up_low", "integer", (c) => c.notNull().defaultTo(0))
          .addColumn("up_above", "text", (c) => c.notNull().defaultTo("[]"))
          .execute();
        await db.schema
          .createIndex("devices_project")
          .on("devices")
          .columns(["project_id", "name"])
          .execute();
        await db.schema
          .createTable("blocked_keys")
          .addColumn("sign_key", "text", (c) => c.primaryKey())
          .addColumn("device_id", "text", (c) => c.notNull())
          .addColumn("blocked_at", "text", (c) => c.notNull())
          .execute();
        await idCol(db.schema.createTable("connections"))
          .addColumn("device_id", "text", (c: any) => c.notNull())
          .addColumn("conn_id", "text", (c: any) => c.notNull())
          .addColumn("connected_at", "text", (c: any) => c.notNull())
          .addColumn("disconnected_at", "text")
          .addColumn("reason", "text")
          .execute();
        await db.schema
          .createIndex("connections_device")
          .on("connections")
          .columns(["device_id", "id"])
          .execute();
        await db.schema
          .createTable("outbox")
          .addColumn("device_id", "text", (c) => c.notNull())
          .addColumn("mid", "integer", (c) => c.notNull())
          .addColumn("type", "text", (c) => c.notNull())
          .addColumn("body", "text", (c) => c.notNull())
          .addColumn("created_at", "text", (c) => c.notNull())
          .addPrimaryKeyConstraint("outbox_pk", ["device_id", "mid"])
          .execute();
        await idCol(db.schema.createTable("audit"))
          .addColumn("at", "text", (c: any) => c.notNull())
          .addColumn("actor", "text", (c: any) => c.notNull())
          .addColumn("action", "text", (c: any) => c.notNull())
          .addColumn("project_id", "integer", (c: any) => c.notNull())
          .addColumn("device_id", "text")
          .addColumn("detail", "text", (c: any) => c.notNull())
          .execute();
        await db.schema.createIndex("audit_project").on("audit").columns(["project_id", "id"]).execute();
        await idCol(db.schema.createTable("echo_replies"))
          .addColumn("device_id", "text", (c: any) => c.notNull())
          .addColumn("ref", "text", (c: any) => c.notNull())
          .addColumn("data", "text", (c: any) => c.notNull())
          .addColumn("received_at", "text", (c: any) => c.notNull())
          .execute();
      },
    },
    "0003_device_rate_limited": {
      // Messages dropped by the per-device control rate limit (control/rate-limit.ts).
      async up(db: Kysely<any>) {
        await db.schema
          .alterTable("devices")
          .addColumn("rate_limited", "integer", (c: any) => c.notNull().defaultTo(0))
          .execute();
      },
    },
    "0004_accounts": {
      // API token expiry (null: never) and the project a user's sign-in lands in (accounts.ts).
      async up(db: Kysely<any>) {
        await db.schema.alterTable("api_tokens").addColumn("expires_at", "text").execute();
        await db.schema.alterTable("users").addColumn("default_project_id", "integer").execute();
      },
    },
    "0005_online_since": {
      // When the device's current control connection began; null while offline (control/presence.ts).
      async up(db: Kysely<any>) {
        await db.schema.alterTable("devices").addColumn("online_since", "text").execute();
      },
    },
  };
}
