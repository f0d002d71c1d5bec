/**
 * The records of the agent journal (docs/protocol.md §8), one JSON object per line of
 * journal.jsonl. The transport's own records are listed here; each capability's journal
 * slice owns further kinds (its own `k`), which the journal core passes on unread.
 */

/** Records of the control channel itself: handshake counter, outbox, acknowledgements, dedupe. */
export type CoreRecord =
  | { k: "hs"; counter: string }
  | { k: "out"; mid: number; t: string; b: unknown }
  | { k: "acked"; mids: number[] }
  | { k: "seen"; mid: number };

/** A durable upstream message with its mid: in the outbox until the server acknowledges it. */
export type OutRecord = Extract<CoreRecord, { k: "out" }>;

/** A record owned by a capability's journal slice: its own `k` plus any JSON fields. */
export type SliceRecord = { readonly k: string; readonly [field: string]: unknown };

export type JournalRecord = CoreRecord | SliceRecord;

export const isOutRecord = (r: JournalRecord): r is OutRecord => r.k === "out";
