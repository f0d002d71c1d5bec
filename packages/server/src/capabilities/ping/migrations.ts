/**
 * The ping capability's migrations. Names are global and permanent. (Its older table,
 * echo_replies, is created by the core's 0001_init: it predates capability modules.)
 */
import type { Kysely, Migration } from "kysely";

export const pingMigrations = (): Record<string, Migration> => ({
  "0003_echo_sent": {
    async up(db: Kysely<any>) {
      // Echoes sent and not answered yet: a reply is stored only if it answers one of these
      // (docs/security.md "A hostile device"), so a device cannot fill the disk with replies.
      await db.schema
        .createTable("echo_sent")
        .addColumn("device_id", "text", (c) => c.notNull())
        .addColumn("ref", "text", (c) => c.notNull())
        .addColumn("sent_at", "text", (c) => c.notNull())
        .addPrimaryKeyConstraint("echo_sent_pk", ["device_id", "ref"])
        .execute();
      // Echoes still in the outbox from before this migration keep their right to a reply.
      const queued = await db
        .selectFrom("outbox")
        .select(["device_id", "body", "created_at"])
        .where("type", "=", "echo")
        .execute();
      for (const q of queued) {
        const ref = (JSON.parse(q.body) as { ref?: unknown }).ref;
        if (typeof ref !== "string") continue;
        await db
          .insertInto("echo_sent")
          .values({ device_id: q.device_id, ref, sent_at: q.created_at })
          .onConflict((oc) => oc.doNothing())
          .execute();
      }
    },
  },
});
