/**
 * The one write path downstream (docs/architecture.md §4): every message to a device is
 * sealed under its current session and published here. Implements the ControlLink port that
 * capabilities receive (./link.ts).
 */
import {
  type DownBody,
  type DurableDownType,
  encodeMessage,
  isDurableDown,
  TetherError,
} from "@tether/protocol";
import type { Kysely, Transaction } from "kysely";
import type { DeviceRow } from "../devices.js";
import type { DB } from "../store/schema.js";
import type { Downlink } from "./downlink.js";
import type { ControlLink, PlainDownType, StoredMessage } from "./link.js";
import type { Outbox } from "./outbox.js";
import type { Sessions } from "./sessions.js";

export class Sender implements ControlLink {
  constructor(
    private readonly sessions: Sessions,
    private readonly outbox: Outbox,
    private readonly down: Downlink,
  ) {}

  private async seal(device: DeviceRow, msg: { t: string; mid?: number; b: unknown }): Promise<void> {
    const s = this.sessions.current(device.id);
    if (!s) throw new TetherError("TETHER_ERR_DEVICE_OFFLINE", `device ${device.name} is not connected`);
    await this.down.publish(device, s.seal(encodeMessage(msg)));
  }

  async send<K extends PlainDownType>(device: DeviceRow, t: K, b: DownBody<K>): Promise<void> {
    if (isDurableDown(t)) throw new Error(`${t} is durable; use enqueue`);
    await this.seal(device, { t, b });
  }

  async enqueue<K extends DurableDownType>(device: DeviceRow, t: K, b: DownBody<K>): Promise<number> {
    const m = await this.outbox.add(device.id, t, b);
    await this.flush(device, m);
    return m.mid;
  }

  enqueueIn(
    trx: Kysely<DB>,
    items: { deviceId: string; type: DurableDownType; body: unknown }[],
  ): Promise<StoredMessage[]> {
    return this.outbox.addMany(trx as Transaction<DB>, items);
  }

  async flush(device: DeviceRow, m: StoredMessage): Promise<void> {
    if (!this.sessions.current(device.id)) return;
    await this.seal(device, { t: m.type, mid: m.mid, b: m.body }).catch(() => {});
  }

  cancel(deviceId: string, mid: number, trx?: Kysely<DB>): Promise<boolean> {
    return this.outbox.remove(deviceId, mid, trx);
  }

  isConnected(deviceId: string): boolean {
    return !!this.sessions.current(deviceId);
  }

  /** After a handshake is confirmed: everything not yet acknowledged, in order (§8). */
  async resend(device: DeviceRow): Promise<void> {
    for (const m of await this.outbox.pending(device.id)) {
      await this.seal(device, { t: m.type, mid: m.mid, b: m.body });
    }
  }

  /** Transport messages of its own (acks) go through the same path. */
  async sendAck(device: DeviceRow, mids: number[]): Promise<void> {
    await this.seal(device, { t: "ack", b: { mids } });
  }
}
