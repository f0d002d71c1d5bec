import type { DownHandler } from "../handler-types.js";

/** `ping`: answer at once; no durable write (docs/protocol.md §7). */
export const ping: DownHandler<"ping"> = {
  durable: false,
  handle({ client }, body) {
    client.sendNow("pong", { ref: body.ref });
    return undefined;
  },
};
