/** One handler per upstream message type (docs/architecture.md §4), registered in a mapped type. */
import type { UpBody, UpType } from "@tether/protocol";
import type { Kysely, Transaction } from "kysely";
import type { DeviceRow } from "../devices.js";
import type { DB } from "../store/schema.js";
import type { ControlService } from "./control-service.js";

export interface HandlerContext {
  device: DeviceRow;
  control: ControlService;
}

/** Durable handlers run inside the transaction that records the message id as seen. */
export interface DurableContext extends HandlerContext {
  trx: Transaction<DB> | Kysely<DB>;
  /** Work to do once the transaction has committed (notify waiters, etc.). */
  after(fn: () => void): void;
}

export type UpHandler<K extends UpType> = {
  durable: boolean;
  handle(
    ctx: K extends "facts" | "echo.reply" | "exec.result" ? DurableContext : HandlerContext,
    body: UpBody<K>,
  ): Promise<void> | void;
};

export type UpHandlers = { [K in UpType]: UpHandler<K> };
