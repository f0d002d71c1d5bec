/**
 * A capability's part of the agent journal (docs/protocol.md §8): the record kinds it owns,
 * how they change its state, and its member of the snapshot state.json. The journal core
 * replays, batches and compacts; it knows no capability's records.
 */
import type { JournalRecord, SliceRecord } from "./journal-record.js";

export interface JournalSlice<R extends SliceRecord = SliceRecord, S = unknown> {
  /** The slice's member of state.json (a JSON value). */
  readonly key: string;
  /** The `k` of every record kind the slice owns. */
  readonly kinds: readonly R["k"][];
  /** Empty state: a new data directory, or a snapshot written before the slice existed. */
  init(): S;
  /** Apply one record, when it is written and again when the journal is replayed. */
  apply(state: S, rec: R): void;
  /** Fill the state from the slice's member of state.json. */
  load(state: S, saved: unknown): void;
  /** The slice's member of the next state.json; may drop (compact) what no longer needs keeping. */
  snapshot(state: S): unknown;
}

/** What a capability may do with the journal besides committing through its link. */
export interface JournalPort {
  /** A slice's state, replayed when the journal opened (throws if it was opened without that slice). */
  state<S>(slice: JournalSlice<any, S>): S;
  /**
   * Apply records now and put them on disk with the next flush, without asking for one:
   * for facts that help but need no fsync of their own (a command's pid).
   */
  later(recs: JournalRecord[]): void;
}
