/**
 * Group commit of one stream's uploads (docs/protocol.md §14.3): batches that arrive while
 * the stream's previous transaction runs (or in the same event-loop turn) are handed to the
 * stream handler together, up to MAX_GROUP, so it stores them in one transaction; SQLite's
 * one writer then commits once per group instead of once per upload. Each upload waits for
 * its own result. The queue is bounded; a full queue answers 503 and the agent retries.
 */
import { TetherError } from "@tether/protocol";
import type { IncomingBatch, SeqClaim, StreamHandler, StreamIngestResult } from "./types.js";

export type BatchResult = StreamIngestResult | "duplicate";

interface Pending {
  b: IncomingBatch;
  bytes: number;
  resolve(r: BatchResult): void;
  reject(err: unknown): void;
}

export interface GroupLimits {
  /** Batches in one handler call (one transaction). */
  maxGroup: number;
  /** Batches waiting, and their decompressed bytes. */
  maxQueued: number;
  maxQueuedBytes: number;
}

export const DEFAULT_GROUP_LIMITS: GroupLimits = {
  maxGroup: 64,
  maxQueued: 1024,
  maxQueuedBytes: 256 * 1024 * 1024,
};

export class GroupCommit {
  private queue: Pending[] = [];
  private queuedBytes = 0;
  private draining: Promise<void> | null = null;
  /** Handler calls made (tests and stats: how many transactions the uploads took). */
  groups = 0;

  constructor(
    private readonly handler: StreamHandler,
    private readonly claim: SeqClaim,
    private readonly limits: GroupLimits = DEFAULT_GROUP_LIMITS,
  ) {}

  submit(b: IncomingBatch, bytes: number): Promise<BatchResult> {
    if (this.queue.length >= this.limits.maxQueued || this.queuedBytes + bytes > this.limits.maxQueuedBytes) {
      return Promise.reject(
        new TetherError("TETHER_ERR_STORE_UNAVAILABLE", "telemetry ingest is busy; retry shortly", 503),
      );
    }
    return new Promise<BatchResult>((resolve, reject) => {
      this.queue.push({ b, bytes, resolve, reject });
      this.queuedBytes += bytes;
      // Start on the next turn, so uploads that arrived in this one join the first group.
      this.draining ??= new Promise<void>((r) => setImmediate(r)).then(() => this.drain());
    });
  }

  /** Resolves once every queued batch has its answer. */
  async idle(): Promise<void> {
    while (this.draining) await this.draining;
  }

  private async drain(): Promise<void> {
    while (this.queue.length) {
      const group = this.queue.splice(0, this.limits.maxGroup);
      for (const p of group) this.queuedBytes -= p.bytes;
      await this.run(group);
    }
    this.draining = null;
  }

  private async run(group: Pending[]): Promise<void> {
    try {
      this.groups++;
      const results = await this.handler.ingest(
        group.map((p) => p.b),
        this.claim,
      );
      if (results.length !== group.length) {
        throw new Error(`stream handler answered ${results.length} results for ${group.length} batches`);
      }
      for (const [i, p] of group.entries()) p.resolve(results[i] as BatchResult);
    } catch (err) {
      if (group.length === 1) {
        group[0]?.reject(err);
        return;
      }
      // The transaction rolled back: retry each batch alone, so one bad batch cannot fail its neighbours.
      for (const p of group) await this.run([p]);
    }
  }
}
