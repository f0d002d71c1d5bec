import type { UpHandler } from "../handler-types.js";

/** `pong`: answer to a liveness ping; resolves the waiting `ping` call. */
export const pong: UpHandler<"pong"> = {
  durable: false,
  handle({ device, control }, body) {
    control.resolvePong(device.id, body.ref);
  },
};
