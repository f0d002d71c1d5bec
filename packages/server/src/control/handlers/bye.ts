import type { UpHandler } from "../handler-types.js";
import type { CoreParts } from "./core.js";

/** `bye`: clean shutdown; brokers fire no will on a clean disconnect (docs/protocol.md §9). */
export const bye =
  ({ presence, sessions }: CoreParts): UpHandler<"bye"> =>
  async ({ device }, body) => {
    if (await presence.offline(device.id, "goodbye", body.connId)) sessions.drop(device.id);
  };
