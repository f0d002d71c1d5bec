/** Downstream messages of the control channel itself (docs/protocol.md §8): not a capability's. */
import type { HandlerMap } from "./handler.js";
import type { Journal } from "./journal.js";

export const CORE_DOWN_TYPES = ["ack"] as const;
export type CoreDownType = (typeof CORE_DOWN_TYPES)[number];

export function coreHandlers(journal: Journal): HandlerMap<CoreDownType> {
  return {
    /**
     * `ack`: the server stored these upstream messages; drop them from the outbox. Recorded
     * with the next flush, not fsynced on its own: if the record is lost in a crash the
     * messages are only sent again, and the server drops them as duplicates (§8).
     */
    ack(body) {
      journal.later([{ k: "acked", mids: body.mids }]);
      return undefined;
    },
  };
}
