/**
 * Configuration delivery's tables (docs/protocol.md §18): desired vs reported per device, and
 * staged rollouts. Names are global and permanent.
 */
import type { Kysely, Migration } from "kysely";
import type { Dialect } from "../../../store/db.js";

export const deliveryMigrations = (_dialect: Dialect): Record<string, Migration> => ({
  "0011_config_delivery": {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable("config_device_state")
        .addColumn("device_id", "text", (c) => c.primaryKey())
        .addColumn("project_id", "integer", (c) => c.notNull())
        .addColumn("desired_rev", "integer")
        .addColumn("desired_hash", "text")
        .addColumn("mid", "integer")
        .addColumn("delivered", "integer", (c) => c.notNull().defaultTo(0))
        .addColumn("sent", "text", (c) => c.notNull().defaultTo("[]"))
        .addColumn("reported_rev", "integer")
        .addColumn("reported_hash", "text")
        .addColumn("reported_at", "text")
        .addColumn("status", "text", (c) => c.notNull())
        .addColumn("error", "text")
        .addColumn("hook_output", "text")
        .addColumn("drift", "text", (c) => c.notNull().defaultTo("[]"))
        .addColumn("updated_at", "text", (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex("config_device_state_project")
        .on("config_device_state")
        .column("project_id")
        .execute();
      await db.schema
        .createTable("config_rollouts")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("project_id", "integer", (c) => c.notNull())
        .addColumn("layer_id", "integer", (c) => c.notNull())
        .addColumn("layer_ref", "text", (c) => c.notNull())
        .addColumn("layer_label", "text", (c) => c.notNull())
        .addColumn("revision", "integer", (c) => c.notNull())
        .addColumn("base_revision", "integer")
        .addColumn("state", "text", (c) => c.notNull())
        .addColumn("reason", "text")
        .addColumn("canary", "text", (c) => c.notNull())
        .addColumn("wait_ms", "integer")
        .addColumn("max_failures", "integer", (c) => c.notNull())
        .addColumn("release_at", "text")
        .addColumn("rest_released", "integer", (c) => c.notNull().defaultTo(0))
        .addColumn("failures_seen", "integer", (c) => c.notNull().defaultTo(0))
        .addColumn("created_by", "text", (c) => c.notNull())
        .addColumn("created_at", "text", (c) => c.notNull())
        .addColumn("updated_at", "text", (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex("config_rollouts_project")
        .on("config_rollouts")
        .columns(["project_id", "state"])
        .execute();
      await db.schema.createIndex("config_rollouts_layer").on("config_rollouts").column("layer_id").execute();
      await db.schema
        .createTable("config_rollout_devices")
        .addColumn("rollout_id", "text", (c) =>
          c.notNull().references("config_rollouts.id").onDelete("cascade"),
        )
        .addColumn("device_id", "text", (c) => c.notNull())
        .addColumn("device_name", "text", (c) => c.notNull())
        .addColumn("stage", "text", (c) => c.notNull())
        .addColumn("released", "integer", (c) => c.notNull())
        .addPrimaryKeyConstraint("config_rollout_devices_pk", ["rollout_id", "device_id"])
        .execute();
      await db.schema
        .createIndex("config_rollout_devices_device")
        .on("config_rollout_devices")
        .column("device_id")
        .execute();
    },
  },
});
