/**
 * The ControlLink: the one narrow port through which a capability reaches the control
 * channel (docs/architecture.md §7). A capability never holds the transport itself.
 */
import type { DownBody, DownType, DurableDownType } from "@tether/protocol";
import type { Kysely } from "kysely";
import type { DeviceRow } from "../devices.js";
import type { DB } from "../store/schema.js";

export type PlainDownType = Exclude<DownType, DurableDownType>;

/** A durable downstream message as stored in the outbox. */
export interface StoredMessage {
  mid: number;
  type: string;
  body: unknown;
}

export interface ControlLink {
  /** Send a non-durable message now; throws TETHER_ERR_DEVICE_OFFLINE without a session. */
  send<K extends PlainDownType>(device: DeviceRow, t: K, b: DownBody<K>): Promise<void>;
  /**
   * Durable send (docs/protocol.md §8): stored first, sent now if connected, re-sent after each
   * handshake until the agent acknowledges it. Resolves with the message id.
   */
  enqueue<K extends DurableDownType>(device: DeviceRow, t: K, b: DownBody<K>): Promise<number>;
  /**
   * Durable messages stored inside the caller's transaction, so they commit with the caller's
   * own rows; after the commit, `flush` each one to send it now if the device is connected.
   */
  enqueueIn(
    trx: Kysely<DB>,
    items: { deviceId: string; type: DurableDownType; body: unknown }[],
  ): Promise<StoredMessage[]>;
  /** Send an already stored durable message now if the device is connected (else after its handshake). */
  flush(device: DeviceRow, m: StoredMessage): Promise<void>;
  /** Take back an undelivered durable message; false if the agent already acknowledged it. */
  cancel(deviceId: string, mid: number, trx?: Kysely<DB>): Promise<boolean>;
  /** Whether the device has a confirmed encryption session right now. */
  isConnected(deviceId: string): boolean;
}

// What a capability's handlers are given, so a capability needs this one file of the transport.
export type {
  DeliveredHandler,
  DeliveredHandlers,
  DurableContext,
  HandlerContext,
  UpHandler,
  UpHandlerMap,
} from "./handler-types.js";
