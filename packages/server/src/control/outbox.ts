/**
 * The server's durable outbox (docs/protocol.md §8): downstream durable messages are stored
 * with a per-device message id before they are sent, re-sent after every handshake until
 * the agent acknowledges them, and deleted on acknowledgement.
 */
import type { Kysely, Transaction } from "kysely";
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

  /**
   * Many messages in the caller's transaction (one per device and type, e.g. a fleet command),
   * so the messages and the caller's own rows commit together.
   */
  async addMany(
    trx: Transaction<DB>,
    items: { deviceId: string; type: string; body: unknown }[],
  ): Promise<OutboxMessage[]> {
    const out: OutboxMessage[] = [];
    const at = nowIso();
    for (const it of items) {
      const d = await trx
        .updateTable("devices")
        .set((eb) => ({ down_next_mid: eb("down_next_mid", "+", 1) }))
        .where("id", "=", it.deviceId)
        .returning("down_next_mid")
        .executeTakeFirstOrThrow();
      out.push({ mid: d.down_next_mid - 1, type: it.type, body: it.body });
    }
    for (let i = 0; i < items.length; i += 500) {
      await trx
        .insertInto("outbox")
        .values(
          items.slice(i, i + 500).map((it, j) => ({
            device_id: it.deviceId,
            mid: out[i + j].mid,
            type: it.type,
            body: JSON.stringify(it.body),
            created_at: at,
          })),
        )
        .execute();
    }
    return out;
  }

  /** Take back one undelivered message; false if it was already acknowledged (delivered). */
  async remove(deviceId: string, mid: number, trx: Kysely<DB> = this.db): Promise<boolean> {
    const r = await trx
      .deleteFrom("outbox")
      .where("device_id", "=", deviceId)
      .where("mid", "=", mid)
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
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
