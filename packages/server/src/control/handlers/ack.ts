import type { UpHandler } from "../handler-types.js";

/** `ack`: the agent has durably received these downstream message ids (docs/protocol.md §8). */
export const ack: UpHandler<"ack"> = {
  durable: false,
  async handle({ device, control }, body) {
    const done = await control.outbox.acknowledge(device.id, body.mids);
    for (const m of done) await control.delivered(device, m);
  },
};
