/**
 * Handlers of downstream messages (docs/protocol.md §7). Whether a message is durable comes
 * from the protocol registry (`isDurableDown`), never from the handler.
 */
import type { DownBody, DownType } from "@tether/protocol";
import type { JournalRecord } from "./journal-record.js";

/**
 * A durable message's handler returns the journal records to write together with its "seen"
 * mark (e.g. an outgoing reply), so processing and its result are recorded atomically;
 * `after` runs once those records are on disk (e.g. spawn a process only after "started"
 * is). A non-durable message's handler returns nothing.
 */
export type HandlerResult = JournalRecord[] | { records: JournalRecord[]; after?: () => void } | undefined;

export type DownHandler<K extends DownType> = (body: DownBody<K>) => Promise<HandlerResult> | HandlerResult;

/** Handlers for the downstream types `H`, one each. */
export type HandlerMap<H extends DownType> = { readonly [K in H]: DownHandler<K> };

/** One handler per downstream message type: a missing one fails to compile. */
export type DownHandlers = HandlerMap<DownType>;
