/**
 * The SSH gateway's migrations (docs/protocol.md §17.6), in the main database. Names are global
 * and permanent.
 */
import type { Kysely, Migration } from "kysely";
import type { Dialect } from "../../store/db.js";

export const sshMigrations = (dialect: Dialect): Record<string, Migration> => {
  const idCol = (t: any) =>
    dialect === "postgres"
      ? t.addColumn("id", "serial", (c: any) => c.primaryKey())
      : t.addColumn("id", "integer", (c: any) => c.primaryKey().autoIncrement());
  return {
    "0009_ssh_keys": {
      async up(db: Kysely<any>) {
        // A key belongs to a user (not a project): access is checked per device at connect.
        await idCol(db.schema.createTable("ssh_keys"))
          .addColumn("user_id", "integer", (c: any) => c.notNull().references("users.id").onDelete("cascade"))
          // SHA256:… of the public key blob; unique server-wide, so a key names one user.
          .addColumn("fingerprint", "text", (c: any) => c.notNull().unique())
          .addColumn("type", "text", (c: any) => c.notNull())
          .addColumn("bits", "integer", (c: any) => c.notNull())
          .addColumn("public_key", "text", (c: any) => c.notNull())
          .addColumn("comment", "text", (c: any) => c.notNull())
          .addColumn("created_at", "text", (c: any) => c.notNull())
          .addColumn("last_used_at", "text")
          .execute();
        await db.schema.createIndex("ssh_keys_user").on("ssh_keys").columns(["user_id"]).execute();
      },
    },
  };
};
