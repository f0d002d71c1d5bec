/** One handler per downstream message type, registered in a mapped type (docs/architecture.md §4). */
import type { DownBody, DownType } from "@tether/protocol";
import type { JournalRecord } from "./journal.js";
import type { ControlClient } from "./control-client.js";

export interface AgentContext {
  client: ControlClient;
}

/**
 * Durable handlers return the journal records to write together with the "seen" mark
 * (e.g. an outgoing reply), so processing and its result are recorded atomically; `after`
 * runs once those records are on disk (e.g. spawn a process only after "started" is).
 */
export type HandlerResult = JournalRecord[] | { records: JournalRecord[]; after?: () => void } | undefined;

export type DownHandler<K extends DownType> = {
  durable: boolean;
  handle(ctx: AgentContext, body: DownBody<K>): Promise<HandlerResult> | HandlerResult;
};

export type DownHandlers = { [K in DownType]: DownHandler<K> };
