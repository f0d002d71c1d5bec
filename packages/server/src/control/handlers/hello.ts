import type { UpHandler } from "../handler-types.js";
import type { CoreParts } from "./core.js";

/** `hello`: first message under a new key; marks the device online (docs/protocol.md §9). */
export const hello =
  ({ presence }: CoreParts): UpHandler<"hello"> =>
  async ({ device }, body) => {
    await presence.online(device.id, body.connId, JSON.stringify(body.facts));
  };
