import type { UpHandler } from "../handler-types.js";
import type { CoreParts } from "./core.js";

/** `ack`: the agent has durably received these downstream message ids (docs/protocol.md §8). */
export const ack =
  ({ outbox, delivered }: CoreParts): UpHandler<"ack"> =>
  async ({ device }, body) => {
    const done = await outbox.acknowledge(device.id, body.mids);
    for (const m of done) await delivered(device, m);
  };
