/**
 * A fake ControlLink for testing capabilities in-process (docs/architecture.md §7): durable
 * messages go to a real outbox in the test's store; everything that would reach a device is
 * recorded in `sent` (a durable message only while the device is "connected").
 */
import type { DownBody, DurableDownType } from "@tether/protocol";
import type { Kysely, Transaction } from "kysely";
import type { ControlLink, PlainDownType, StoredMessage } from "../src/control/link.js";
import { Outbox } from "../src/control/outbox.js";
import type { DeviceRow } from "../src/devices.js";
import type { DB } from "../src/store/schema.js";

export class FakeLink implements ControlLink {
  readonly sent: { device: string; t: string; b: any; mid?: number }[] = [];
  readonly connected: Set<string>;
  readonly outbox: Outbox;

  constructor(db: Kysely<DB>, online: string[] = []) {
    this.outbox = new Outbox(db);
    this.connected = new Set(online);
  }

  async send<K extends PlainDownType>(device: DeviceRow, t: K, b: DownBody<K>): Promise<void> {
    this.sent.push({ device: device.id, t, b });
  }

  async enqueue<K extends DurableDownType>(device: DeviceRow, t: K, b: DownBody<K>): Promise<number> {
    const m = await this.outbox.add(device.id, t, b);
    await this.flush(device, m);
    return m.mid;
  }

  enqueueIn(trx: Kysely<DB>, items: { deviceId: string; type: DurableDownType; body: unknown }[]) {
    return this.outbox.addMany(trx as Transaction<DB>, items);
  }

  async flush(device: DeviceRow, m: StoredMessage): Promise<void> {
    if (this.connected.has(device.id))
      this.sent.push({ device: device.id, t: m.type, b: m.body, mid: m.mid });
  }

  cancel(deviceId: string, mid: number, trx?: Kysely<DB>): Promise<boolean> {
    return this.outbox.remove(deviceId, mid, trx);
  }

  isConnected(deviceId: string): boolean {
    return this.connected.has(deviceId);
  }
}
