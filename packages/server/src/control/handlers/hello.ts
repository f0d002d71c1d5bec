import type { UpHandler } from "../handler-types.js";

/** `hello`: first message under a new key; marks the device online (docs/protocol.md §9). */
export const hello: UpHandler<"hello"> = {
  durable: false,
  async handle({ device, control }, body) {
    await control.presence.online(device.id, body.connId, JSON.stringify(body.facts));
  },
};
