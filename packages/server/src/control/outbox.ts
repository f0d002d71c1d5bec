/**
 * The server's durable outbox (docs/protocol.md §8): downstream durable messages are stored
 * with a per-device message id before they are sent, re-sent after every handshake until
 * the agent acknowledges them, and deleted on acknowledgement.
 */
import type { Kysely } from "kysely";
import { nowIso } from "../store/db.js";
import type { DB } from "../store/schema.js";

export interface OutboxMessage {
  mid: number;
  type: string;
  body: unknown;
}

export class Outbox {
  constructor(private readonly db: Kysely<DB>) {}

  async add(deviceId: string, type: string, body: unknown): Promise<OutboxMessage> {
    return this.db.transaction().execute(async (trx) => {
      // One atomic increment (a row lock on PostgreSQL), so concurrent senders never share an id.
      const d = await trx
        .updateTable("devices")
        .set((eb) => ({ down_next_mid: eb("down_next_mid", "+", 1) }))
        .where("id", "=", deviceId)
        .returning("down_next_mid")
        .executeTakeFirstOrThrow();
      const mid = d.down_next_mid - 1;
      await trx
        .insertInto("outbox")
        .values({ device_id: deviceId, mid, type, body: JSON.stringify(body), created_at: nowIso() })
        .execute();
      return { mid, type, body };
    });
  }

  async pending(deviceId: string): Promise<OutboxMessage[]> {
    const rows = await this.db
      .selectFrom("outbox")
      .select(["mid", "type", "body"])
      .where("device_id", "=", deviceId)
      .orderBy("mid")
      .execute();
    return rows.map((r) => ({ mid: r.mid, type: r.type, body: JSON.parse(r.body) }));
  }

  /** Delete acknowledged messages; returns the ones that were still pending. */
  async acknowledge(deviceId: string, mids: number[]): Promise<OutboxMessage[]> {
    if (mids.length === 0) return [];
    const rows = await this.db
      .deleteFrom("outbox")
      .where("device_id", "=", deviceId)
      .where("mid", "in", mids)
      .returning(["mid", "type", "body"])
      .execute();
    return rows.map((r) => ({ mid: r.mid, type: r.type, body: JSON.parse(r.body) }));
  }

  async clear(deviceId: string): Promise<void> {
    await this.db.deleteFrom("outbox").where("device_id", "=", deviceId).execute();
  }
}
