/** Publishing to a device's down topic (docs/protocol.md §2) through whichever broker is attached. */
import { deviceTopic } from "@tether/protocol";
import type { BrokerLink } from "../broker/broker-link.js";
import type { DeviceRow } from "../devices.js";

export class Downlink {
  private broker?: BrokerLink;

  attach(broker: BrokerLink): void {
    this.broker = broker;
  }

  /** Frames published (the server's health: messages/s). */
  published = 0;

  async publish(device: Pick<DeviceRow, "id" | "shard">, frame: Buffer): Promise<void> {
    if (!this.broker) throw new Error("no broker attached yet");
    await this.broker.publish(deviceTopic(device.shard, device.id, "down"), frame);
    this.published++;
  }
}

/** Counters for tests and benchmarks, and the one place refused frames are logged. */
export interface ControlStats {
  handshakes: number;
  refused: number;
  decryptFailures: number;
  durableBatches: number;
  /** Frames dropped by the per-device message rate limit (./rate-limit.ts). */
  rateLimited: number;
  /** Wills of the current connection ignored because the device still answered (§9). */
  willsIgnored: number;
  /** Messages dispatched to handlers (up) and data frames published (down), for the server's health. */
  messagesUp: number;
  framesDown: number;
}

export type Refuse = (deviceId: string, why: string, err?: unknown) => void;
