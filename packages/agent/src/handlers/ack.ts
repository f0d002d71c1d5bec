import type { DownHandler } from "../handler-types.js";

/**
 * `ack`: the server stored these upstream messages; drop them from the outbox. Recorded
 * with the next flush, not fsynced on its own: if the record is lost in a crash the
 * messages are only sent again, and the server drops them as duplicates (§8).
 */
export const ack: DownHandler<"ack"> = {
  durable: false,
  handle({ client }, body) {
    client.journal.later([{ k: "acked", mids: body.mids }]);
    return undefined;
  },
};
