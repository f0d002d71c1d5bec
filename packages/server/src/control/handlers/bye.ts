import type { UpHandler } from "../handler-types.js";

/** `bye`: clean shutdown; brokers fire no will on a clean disconnect (docs/protocol.md §9). */
export const bye: UpHandler<"bye"> = {
  durable: false,
  async handle({ device, control }, body) {
    if (await control.presence.offline(device.id, "goodbye", body.connId)) control.dropSessions(device.id);
  },
};
