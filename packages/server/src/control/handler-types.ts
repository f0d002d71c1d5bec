/**
 * One handler per upstream message type (docs/architecture.md §4), registered in a mapped
 * type. Durable handlers run inside the transaction that records the message id as seen.
 */
import type { DownBody, DurableDownType, DurableUpType, UpBody, UpType } from "@tether/protocol";
import type { Kysely } from "kysely";
import type { DeviceRow } from "../devices.js";
import type { DB } from "../store/schema.js";

export interface HandlerContext {
  device: DeviceRow;
}

export interface DurableContext extends HandlerContext {
  /** The batch transaction (docs/protocol.md §8): the handler's writes commit with the seen mark. */
  trx: Kysely<DB>;
  /** Work to do once the transaction has committed (notify waiters, etc.). */
  after(fn: () => void): void;
}

export type UpHandler<K extends UpType> = (
  ctx: K extends DurableUpType ? DurableContext : HandlerContext,
  body: UpBody<K>,
) => Promise<void> | void;

/** Handlers for some upstream message types (one capability's, or the transport's own). */
export type UpHandlerMap<K extends UpType> = { [P in K]: UpHandler<P> };
/** Every upstream message type, exactly one handler each. */
export type UpHandlers = UpHandlerMap<UpType>;

/** Called once when the agent acknowledges a durable downstream message of this type. */
export type DeliveredHandler<K extends DurableDownType> = (
  device: DeviceRow,
  body: DownBody<K>,
  mid: number,
) => Promise<void>;
export type DeliveredHandlers = { [K in DurableDownType]?: DeliveredHandler<K> };
