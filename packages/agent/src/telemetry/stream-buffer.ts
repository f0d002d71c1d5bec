/**
 * One stream's on-disk buffer (docs/protocol.md §14.4): sealed batches in seq order, a seq
 * counter that keeps increasing across restarts (the `seq` file, written before the batch),
 * a byte quota that drops the OLDEST batches with a gap record when full, and the stream's
 * pending gaps (`gaps.json`). A failing disk never crashes the agent: the batch becomes a
 * `disk-full` gap and a warning is logged at most once a minute.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { TELEMETRY_LIMITS, type TelemetryGap, type TelemetryStream } from "@tether/protocol";
import type { Logger } from "pino";
import { batchFileName, type Span, seqOfFileName, spanOfStored, storedBatchJson } from "./batch-file.js";
import { type BufferIo, writeDurable } from "./durable-file.js";
import { GapList, gapDetail, saneGap } from "./gap-list.js";
import type { BatchContent, StreamWriter } from "./types.js";

export interface BufferedBatch {
  seq: number;
  bytes: number;
  /** Known for batches sealed by this run; read from the file when needed otherwise. */
  span?: Span;
}

export interface StreamBufferOptions {
  root: string;
  stream: TelemetryStream;
  deviceId: string;
  quota: number;
  io: BufferIo;
  log: Logger;
  now: () => number;
  /** Samples lost, by reason (the layer's counters). */
  onDrop: (reason: string, count: number) => void;
  /** A batch was sealed (the uploader wakes up). */
  onAppend: () => void;
}

const WARN_EVERY_MS = 60_000;

export class StreamBuffer implements StreamWriter {
  readonly stream: TelemetryStream;
  private readonly dir: string;
  private readonly batches: BufferedBatch[] = [];
  private used = 0;
  private lastSeq = 0;
  private quota: number;
  private readonly gapList: GapList;
  private lastDiskWarn: number | null = null;
  /** "samples" or "lines", for gap details. */
  private readonly unit: string;
  /** The batch being uploaded: never evicted under the uploader's feet. */
  inflight: number | null = null;

  constructor(private readonly o: StreamBufferOptions) {
    this.stream = o.stream;
    this.quota = o.quota;
    this.dir = join(o.root, o.stream);
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const seqFile = join(this.dir, "seq");
    if (existsSync(seqFile)) {
      const n = Number(readFileSync(seqFile, "utf8").trim());
      if (Number.isSafeInteger(n) && n >= 0) this.lastSeq = n;
      else
        o.log.warn(
          { stream: o.stream },
          "telemetry seq file unreadable: the server may take new batches for duplicates",
        );
    }
    for (const name of readdirSync(this.dir)) {
      if (name.endsWith(".tmp")) {
        rmSync(join(this.dir, name), { force: true }); // a write cut short by a crash
        continue;
      }
      const seq = seqOfFileName(name);
      if (seq === null) continue;
      const bytes = statSync(join(this.dir, name)).size;
      this.batches.push({ seq, bytes });
      this.used += bytes;
      this.lastSeq = Math.max(this.lastSeq, seq);
    }
    this.batches.sort((a, b) => a.seq - b.seq);
    const gapsFile = join(this.dir, "gaps.json");
    let initial: TelemetryGap[] = [];
    try {
      if (existsSync(gapsFile)) {
        const saved: unknown = JSON.parse(readFileSync(gapsFile, "utf8"));
        // Written by an older agent, or by hand: only what the server will take.
        if (Array.isArray(saved)) initial = saved.map((g) => saneGap(g, o.now()));
      }
    } catch (err) {
      o.log.warn({ err: (err as Error).message, stream: o.stream }, "telemetry gaps.json unreadable; reset");
    }
    this.unit = o.stream === "logs" ? "lines" : "samples";
    this.gapList = new GapList(initial, this.unit, (gaps) => this.saveGaps(gaps));
    this.evictTo(this.quota, 0);
  }

  get bytes(): number {
    return this.used;
  }

  get pending(): number {
    return this.batches.length;
  }

  get gaps(): GapList {
    return this.gapList;
  }

  /** The oldest batch: the next to upload. */
  head(): BufferedBatch | undefined {
    return this.batches[0];
  }

  path(seq: number): string {
    return join(this.dir, batchFileName(seq));
  }

  /** Seal a batch; false when it was dropped (too large, no room, disk failure) as a gap. */
  append(content: BatchContent): boolean {
    const { span } = content;
    const seq = ++this.lastSeq;
    const json = storedBatchJson(this.o.deviceId, this.stream, seq, content);
    const gz = gzipSync(json);
    if (
      gz.length > TELEMETRY_LIMITS.maxCompressedBytes ||
      Buffer.byteLength(json) > TELEMETRY_LIMITS.maxBatchBytes
    ) {
      // The server would refuse it for good: say so now rather than after a round trip.
      this.lose(span, "rejected", `batch of ${gz.length} bytes compressed is over the server's limit`);
      return false;
    }
    if (gz.length > this.quota) {
      this.lose(span, "buffer-full");
      return false;
    }
    this.evictTo(this.quota, gz.length);
    try {
      writeDurable(this.o.io, join(this.dir, "seq"), String(seq));
      writeDurable(this.o.io, this.path(seq), gz);
    } catch (err) {
      this.diskFailed(err as NodeJS.ErrnoException, span);
      return false;
    }
    this.batches.push({ seq, bytes: gz.length, span });
    this.used += gz.length;
    this.o.onAppend();
    return true;
  }

  /**
   * An empty batch whose only payload is the pending gaps (a loss after the last batch, e.g.
   * a refused one, must not wait for the next sample). False when it could not be written.
   */
  appendCarrier(): boolean {
    const t = this.o.now();
    const empty = this.stream === "logs" ? { logs: [] } : { metrics: [] };
    return this.append({ ...empty, span: { from: t, to: t, count: 0 } });
  }

  recordGap(gap: TelemetryGap): void {
    const g = saneGap(gap, this.o.now());
    this.o.onDrop(g.reason, g.count);
    this.gapList.add(g);
  }

  /** The batch was accepted (or refused for good): forget it. */
  remove(seq: number): void {
    const i = this.batches.findIndex((b) => b.seq === seq);
    if (i < 0) return;
    const [b] = this.batches.splice(i, 1);
    this.used -= b.bytes;
    rmSync(this.path(seq), { force: true });
  }

  /** The server refused a batch for good (400/413): drop it with a `rejected` gap. */
  reject(seq: number, detail: string): void {
    const b = this.batches.find((x) => x.seq === seq);
    if (!b) return;
    const span = this.spanOf(b);
    this.remove(seq);
    this.lose(span, "rejected", detail);
  }

  /** A new quota (remote settings): drop the oldest batches, with gaps, until it holds. */
  setQuota(quota: number): void {
    this.quota = quota;
    this.evictTo(quota, 0);
  }

  /** Drop oldest (not in flight) batches until `extra` more bytes fit in `limit`. */
  private evictTo(limit: number, extra: number): void {
    let i = 0;
    while (this.used + extra > limit && i < this.batches.length) {
      const b = this.batches[i];
      if (b.seq === this.inflight) {
        i++;
        continue;
      }
      const span = this.spanOf(b);
      this.remove(b.seq);
      this.lose(span, "buffer-full");
    }
  }

  private spanOf(b: BufferedBatch): Span {
    if (b.span) return b.span;
    try {
      return spanOfStored(readFileSync(this.path(b.seq)), this.o.now());
    } catch {
      const t = this.o.now();
      return { from: t, to: t, count: 0 };
    }
  }

  private lose(span: Span, reason: string, note?: string): void {
    if (span.count === 0) return; // nothing was lost (an empty carrier batch)
    // TelemetryGap.detail is at most 500 characters (a server error message could be longer).
    const detail = (gapDetail(span.count, reason, this.unit) + (note ? ` (${note})` : "")).slice(0, 500);
    this.recordGap({ from: span.from, to: span.to, count: span.count, reason, detail });
  }

  private diskFailed(err: NodeJS.ErrnoException, span: Span): void {
    const t = this.o.now();
    if (this.lastDiskWarn === null || Math.abs(t - this.lastDiskWarn) >= WARN_EVERY_MS) {
      this.lastDiskWarn = t;
      this.o.log.warn(
        { code: err.code, err: err.message, stream: this.stream },
        "telemetry buffer cannot write to disk: samples dropped (recorded as a gap)",
      );
    }
    this.lose(span, "disk-full", err.code ?? err.message);
  }

  private saveGaps(gaps: TelemetryGap[]): void {
    try {
      writeDurable(this.o.io, join(this.dir, "gaps.json"), JSON.stringify(gaps));
    } catch (err) {
      // Kept in memory and sent with the next batch all the same; only a crash now loses them.
      this.o.log.debug({ err: (err as Error).message }, "telemetry gaps.json not written");
    }
  }
}
