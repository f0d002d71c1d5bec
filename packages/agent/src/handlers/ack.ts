import type { DownHandler } from "../handler-types.js";

/** `ack`: the server stored these upstream messages; drop them from the outbox. */
export const ack: DownHandler<"ack"> = {
  durable: false,
  async handle({ client }, body) {
    await client.journal.write([{ k: "acked", mids: body.mids }]);
    return undefined;
  },
};
