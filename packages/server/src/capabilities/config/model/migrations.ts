/**
 * The configuration model's migrations (docs/protocol.md §18), in the main database. Names are
 * global and permanent; delivery has its own (0011_config_delivery).
 */
import { type ColumnDefinitionBuilder, type Kysely, type Migration, sql } from "kysely";
import type { Dialect } from "../../../store/db.js";

export const configModelMigrations = (dialect: Dialect): Record<string, Migration> => {
  const idCol = (t: any) =>
    dialect === "postgres"
      ? t.addColumn("id", "serial", (c: any) => c.primaryKey())
      : t.addColumn("id", "integer", (c: any) => c.primaryKey().autoIncrement());
  /** project_id: the project's, removed with it. */
  const projectRef = (c: ColumnDefinitionBuilder) =>
    c.notNull().references("projects.id").onDelete("cascade");
  const bytes = dialect === "postgres" ? sql`bytea` : sql`blob`;
  return {
    "0010_config_layers": {
      async up(db: Kysely<any>) {
        await db.schema
          .createTable("config_projects")
          .addColumn("project_id", "integer", (c) =>
            c.primaryKey().references("projects.id").onDelete("cascade"),
          )
          .addColumn("revision", "integer", (c) => c.notNull().defaultTo(0))
          .addColumn("schema", "text")
          .addColumn("schema_updated_at", "text")
          .addColumn("schema_updated_by", "text")
          .execute();
        await idCol(db.schema.createTable("config_layers"))
          .addColumn("project_id", "integer", projectRef)
          .addColumn("kind", "text", (c: any) => c.notNull())
          .addColumn("name", "text", (c: any) => c.notNull())
          .addColumn("selector", "text")
          .addColumn("priority", "integer")
          .addColumn("revision", "integer")
          .addColumn("deleted", "integer", (c: any) => c.notNull().defaultTo(0))
          .addColumn("created_at", "text", (c: any) => c.notNull())
          .addColumn("content", "text", (c: any) => c.notNull())
          .addColumn("updated_at", "text")
          .addColumn("updated_by", "text")
          .execute();
        await db.schema
          .createIndex("config_layers_name")
          .on("config_layers")
          .columns(["project_id", "kind", "name"])
          .execute();
        await db.schema
          .createTable("config_revisions")
          .addColumn("project_id", "integer", projectRef)
          .addColumn("revision", "integer", (c) => c.notNull())
          .addColumn("layer_id", "integer")
          .addColumn("device_id", "text")
          .addColumn("kind", "text", (c) => c.notNull())
          .addColumn("author", "text", (c) => c.notNull())
          .addColumn("at", "text", (c) => c.notNull())
          .addColumn("message", "text", (c) => c.notNull())
          .addColumn("content", "text")
          .addColumn("changed", "text", (c) => c.notNull())
          .addColumn("restored", "integer")
          .addPrimaryKeyConstraint("config_revisions_pk", ["project_id", "revision"])
          .execute();
        await db.schema
          .createIndex("config_revisions_layer")
          .on("config_revisions")
          .columns(["layer_id", "revision"])
          .execute();
        await db.schema
          .createTable("config_blobs")
          .addColumn("hash", "text", (c) => c.primaryKey())
          .addColumn("size", "integer", (c) => c.notNull())
          .addColumn("secret", "integer", (c) => c.notNull().defaultTo(0))
          .addColumn("content", bytes, (c) => c.notNull())
          .addColumn("created_at", "text", (c) => c.notNull())
          .execute();
        await db.schema
          .createTable("config_device_floors")
          .addColumn("device_id", "text", (c) => c.primaryKey())
          .addColumn("project_id", "integer", projectRef)
          .addColumn("revision", "integer", (c) => c.notNull())
          .execute();
      },
    },
  };
};
