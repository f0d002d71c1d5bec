/** Liveness and delivery probes: `ping` (no durable write on either side) and `echo` (durable). */
import { Type } from "typebox";
import { type CapabilityMessages, durable, plain } from "./message.js";

const Echo = Type.Object(
  { ref: Type.String({ maxLength: 128 }), data: Type.String({ maxLength: 65536 }) },
  { additionalProperties: false },
);

/**
 * The `ping` ref the transport uses to check a will (docs/protocol.md §9); the ping capability's
 * own probes never use it, so its pong settles no caller's ping.
 */
export const WILL_CHECK_REF = 0;

export const pingMessages = {
  up: {
    /** Answer to a liveness ping. */
    pong: plain(Type.Object({ ref: Type.Integer({ minimum: 0 }) }, { additionalProperties: false })),
    /** The agent's answer to a durable `echo`. */
    "echo.reply": durable(Echo),
  },
  down: {
    ping: plain(Type.Object({ ref: Type.Integer({ minimum: 0 }) }, { additionalProperties: false })),
    echo: durable(Echo),
  },
} as const satisfies CapabilityMessages;
