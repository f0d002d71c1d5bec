/**
 * How a capability declares its control-channel messages (docs/protocol.md §7): a body schema
 * and whether the message rides the durable outbox (has a `mid`, is acknowledged end to end,
 * §8). The registry in ../messages.ts is the only place durability is decided.
 */
import type { TSchema } from "typebox";

export interface MessageSpec<S extends TSchema = TSchema, D extends boolean = boolean> {
  body: S;
  durable: D;
}

/** A message sent at most once: lost with the connection (ping, output under a credit window). */
export const plain = <S extends TSchema>(body: S): MessageSpec<S, false> => ({ body, durable: false });
/** A message stored before it is sent and re-sent until the receiver acknowledges it. */
export const durable = <S extends TSchema>(body: S): MessageSpec<S, true> => ({ body, durable: true });

/** The messages one capability adds, per direction (up: agent → server, down: server → agent). */
export interface CapabilityMessages {
  up: Record<string, MessageSpec>;
  down: Record<string, MessageSpec>;
}
