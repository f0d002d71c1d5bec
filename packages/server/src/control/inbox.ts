/**
 * The durable inbox (docs/protocol.md §8): durable upstream messages that arrived together are
 * handled in one transaction that also records their ids as seen, then acknowledged; a
 * duplicate is acknowledged again and not handled twice (docs/architecture.md §2).
 */
import { MAX_ACK_IDS, type UpMessage } from "@tether/protocol";
import type { Kysely } from "kysely";
import type { Logger } from "pino";
import type { DeviceRow } from "../devices.js";
import type { DB } from "../store/schema.js";
import { SeenIds } from "./dedupe.js";
import type { ControlStats } from "./downlink.js";
import type { DurableContext } from "./handler-types.js";
import type { Sender } from "./sender.js";

export type DurableDispatch = (ctx: DurableContext, msg: UpMessage) => Promise<void>;

export class DurableInbox {
  private readonly seen = new Map<string, SeenIds>();
  private batch: { device: DeviceRow; msg: UpMessage }[] = [];
  private batchScheduled = false;
  private batchDone: Promise<void> = Promise.resolve();

  constructor(
    private readonly db: Kysely<DB>,
    private readonly dispatch: DurableDispatch,
    private readonly sender: Sender,
    private readonly log: Logger,
    private readonly stats: ControlStats,
  ) {}

  /** Queue one durable message; everything queued in the same tick commits together. */
  queue(device: DeviceRow, msg: UpMessage): void {
    this.batch.push({ device, msg });
    if (this.batchScheduled) return;
    this.batchScheduled = true;
    setImmediate(() => {
      this.batchScheduled = false;
      const items = this.batch;
      this.batch = [];
      this.batchDone = this.batchDone.then(() => this.commit(items));
    });
  }

  private async commit(items: { device: DeviceRow; msg: UpMessage }[]): Promise<void> {
    const afters: (() => void)[] = [];
    const acks = new Map<string, { device: DeviceRow; mids: number[] }>();
    try {
      await this.db.transaction().execute(async (trx) => {
        const touched = new Set<string>();
        for (const { device, msg } of items) {
          let seen = this.seen.get(device.id);
          if (!seen) {
            // Loaded inside the transaction, never from a cached row: it must be current.
            const r = await trx
              .selectFrom("devices")
              .select(["up_low", "up_above"])
              .where("id", "=", device.id)
              .executeTakeFirst();
            if (!r) continue; // deleted meanwhile
            seen = new SeenIds(r.up_low, JSON.parse(r.up_above));
            this.seen.set(device.id, seen);
          }
          const mid = msg.mid!;
          const a = acks.get(device.id) ?? { device, mids: [] };
          a.mids.push(mid);
          acks.set(device.id, a);
          if (seen.has(mid)) continue; // duplicate: acknowledge again, do nothing
          await this.dispatch({ device, trx, after: (fn) => afters.push(fn) }, msg);
          seen.add(mid);
          touched.add(device.id);
        }
        for (const id of touched) {
          const seen = this.seen.get(id)!;
          await trx
            .updateTable("devices")
            .set({ up_low: seen.low, up_above: JSON.stringify(seen.above) })
            .where("id", "=", id)
            .execute();
        }
      });
    } catch (err) {
      // Not acknowledged, so the agent re-sends after its next handshake; reload state.
      for (const { device } of items) this.seen.delete(device.id);
      this.log.error({ err }, "durable batch failed; messages will be re-sent by the agents");
      return;
    }
    this.stats.durableBatches++;
    for (const fn of afters) fn();
    for (const { device, mids } of acks.values()) {
      for (let i = 0; i < mids.length; i += MAX_ACK_IDS) {
        await this.sender.sendAck(device, mids.slice(i, i + MAX_ACK_IDS)).catch(() => {});
      }
    }
  }

  /** Revocation: the seen-ids state is reloaded from the database if the device ever returns. */
  forget(deviceId: string): void {
    this.seen.delete(deviceId);
  }

  async close(): Promise<void> {
    await this.batchDone;
  }
}
