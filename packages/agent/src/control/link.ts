/**
 * The link port: how a capability reaches the control channel (docs/protocol.md §7–8). The
 * transport implements it and injects it; a capability never holds the channel itself.
 */
import type { DurableUpType, UpBody, UpType } from "@tether/protocol";
import type { JournalRecord, OutRecord } from "./journal-record.js";

/** Upstream types without a mid: sent under the live session or not at all. */
export type PlainUpType = Exclude<UpType, DurableUpType>;

export interface Link {
  /** A session is up: a message sent now leaves at once. */
  readonly connected: boolean;
  /** A non-durable upstream message, sent now; false (and dropped) without a session. */
  sendNow<K extends PlainUpType>(t: K, b: UpBody<K>): boolean;
  /**
   * A durable upstream message as an outbox record, its mid reserved; nothing is written or
   * sent yet. Pass it to `commit`, or return it from a durable handler, together with the
   * records it belongs with: they reach the disk in one write, then it is sent.
   */
  outgoing<K extends DurableUpType>(t: K, b: UpBody<K>): OutRecord;
  /** Write records together (one fdatasync), then send the durable messages among them. */
  commit(recs: JournalRecord[]): Promise<void>;
  /** Enqueue one durable upstream message: on disk, then sent, re-sent until acknowledged. */
  sendDurable<K extends DurableUpType>(t: K, b: UpBody<K>): Promise<void>;
}
