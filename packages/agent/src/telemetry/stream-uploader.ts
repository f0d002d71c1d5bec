/**
 * One stream's upload loop (docs/protocol.md §14.3): strictly in seq order, one batch per
 * request, the next only after the previous one's answer, so the server's "at or below the
 * last seq is a duplicate" rule makes delivery exactly once.
 *
 *   200 (new or duplicate) -> delete the batch; its attached gaps are delivered (not by a duplicate)
 *   401                    -> the next token candidate; none left: wait (backoff) for a new token
 *   400 / 413              -> refused for good: drop it as a `rejected` gap and go on
 *   anything else, network errors, timeouts -> back off (1 s .. 60 s, jittered), keep the batch
 *
 * It runs from agent start, whether the control channel is up or not; it wakes on a new
 * batch, a new token and flush(); stop() aborts the request in flight (the batch stays).
 */
import { readFile } from "node:fs/promises";
import { promisify } from "node:util";
import { gunzip, gzip } from "node:zlib";
import type { Logger } from "pino";
import type { Backoff } from "../backoff.js";
import { uploadJson } from "./batch-file.js";
import type { BatchPoster } from "./post-batch.js";
import type { StreamBuffer } from "./stream-buffer.js";
import type { TokenStore } from "./token-store.js";

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

type Outcome = "ok" | "rejected" | "retry" | "unauthorized";
type Wake = "data" | "flush" | "token";

export interface UploaderDeps {
  tokens: TokenStore;
  poster: BatchPoster;
  backoff: Backoff;
  log: Logger;
  now: () => number;
  onUploaded: (at: number) => void;
  onError: (message: string) => void;
}

export class StreamUploader {
  private running: Promise<void> | null = null;
  private stopped = false;
  private readonly ac = new AbortController();
  private waiter: { on: ReadonlySet<Wake>; resolve: () => void; timer?: NodeJS.Timeout } | null = null;
  private flushWaiters: (() => void)[] = [];
  /** Wake-ups that came while no wait listened for them (e.g. a token stored mid-upload). */
  private readonly missed = new Set<Wake>();

  constructor(
    private readonly buf: StreamBuffer,
    private readonly d: UploaderDeps,
  ) {}

  start(): void {
    if (this.running || this.stopped) return;
    this.running = this.loop().catch((err) => {
      // A bug, not a network problem: say so loudly; the data stays on disk for the next start.
      this.d.log.error({ err, stream: this.buf.stream }, "telemetry uploader stopped");
    });
  }

  wake(why: Wake): void {
    const w = this.waiter;
    if (w?.on.has(why)) {
      this.waiter = null;
      clearTimeout(w.timer);
      w.resolve();
    } else {
      this.missed.add(why);
    }
  }

  /** Resolves when this stream's buffer is empty or an upload failed. */
  flush(): Promise<void> {
    if (!this.running || this.stopped) return Promise.resolve();
    const p = new Promise<void>((resolve) => this.flushWaiters.push(resolve));
    this.wake("flush");
    return p;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.ac.abort();
    const w = this.waiter;
    this.waiter = null;
    if (w) {
      clearTimeout(w.timer);
      w.resolve();
    }
    await this.running;
    this.settleFlush();
  }

  private settleFlush(): void {
    this.missed.delete("flush");
    const ws = this.flushWaiters;
    this.flushWaiters = [];
    for (const w of ws) w();
  }

  /** Sleep until woken by one of `on`, or `ms` (undefined: no timeout). */
  private wait(on: Wake[], ms?: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    const hit = on.find((w) => this.missed.has(w));
    if (hit) {
      this.missed.delete(hit);
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.waiter = { on: new Set(on), resolve };
      if (ms !== undefined) {
        this.waiter.timer = setTimeout(() => {
          this.waiter = null;
          resolve();
        }, ms);
      }
    });
  }

  private async loop(): Promise<void> {
    let carriers = true;
    let carrierSeq: number | null = null;
    while (!this.stopped) {
      let head = this.buf.head();
      if (!head && carriers && this.buf.gaps.size > 0 && this.d.tokens.hasToken && this.buf.appendCarrier()) {
        head = this.buf.head();
        carrierSeq = head?.seq ?? null;
      }
      if (!head) {
        this.settleFlush();
        await this.wait(["data", "flush", "token"]);
        continue;
      }
      if (!this.d.tokens.hasToken) {
        this.d.onError("no telemetry token yet (it comes over the control channel)");
        this.settleFlush();
        await this.wait(["flush", "token"]);
        continue;
      }
      this.missed.clear(); // this attempt sees the newest batch, token and flush request
      const outcome = await this.uploadHead(head.seq);
      if (this.stopped) break;
      if (outcome === "ok") {
        this.d.backoff.reset();
        carriers = true;
      } else if (outcome === "rejected") {
        // A refused carrier must not be re-made at once, forever: its gaps wait for real data.
        if (head.seq === carrierSeq) carriers = false;
      } else {
        this.settleFlush();
        await this.wait(outcome === "unauthorized" ? ["flush", "token"] : ["flush"], this.d.backoff.next());
      }
    }
  }

  private async uploadHead(seq: number): Promise<Outcome> {
    const { buf, d } = this;
    buf.inflight = seq;
    try {
      let stored: string;
      try {
        stored = (await gunzipAsync(await readFile(buf.path(seq)))).toString("utf8");
      } catch (err) {
        // Unreadable on our own disk (a torn card): it can never be sent; a gap says so.
        buf.inflight = null;
        buf.reject(seq, `batch ${seq} unreadable on the device: ${(err as Error).message}`);
        return "rejected";
      }
      const gaps = buf.gaps.attach();
      let unauthorized = false;
      for (const cand of d.tokens.candidates()) {
        const body = await gzipAsync(uploadJson(stored, d.now(), gaps));
        const res = await d.poster.post(d.tokens.url, cand.token, body, this.ac.signal);
        if (res.status === 200) {
          d.tokens.accepted(cand.token);
          buf.inflight = null;
          buf.remove(seq);
          // A duplicate (stored before a crash cut our bookkeeping) stores nothing now, not
          // even gaps attached since: they ride the next batch (at worst one is shown twice).
          if ((res.body as { duplicate?: unknown } | undefined)?.duplicate === true) buf.gaps.release();
          else buf.gaps.acknowledged();
          d.onUploaded(d.now());
          return "ok";
        }
        buf.gaps.release();
        if (res.status === 401) {
          d.tokens.refused(cand.token);
          unauthorized = true;
          d.onError(`telemetry token refused (${res.code ?? 401})`);
          continue; // the other token, if any (the server accepts both until it has the ack)
        }
        if (res.status === 400 || res.status === 413) {
          buf.inflight = null;
          buf.reject(seq, `batch ${seq}: ${res.code ?? `HTTP ${res.status}`}`);
          d.onError(`batch ${seq} refused: ${res.code ?? res.status}`);
          d.log.warn(
            { stream: buf.stream, seq, status: res.status, code: res.code },
            "telemetry batch refused",
          );
          return "rejected";
        }
        d.onError(`upload failed: HTTP ${res.status}${res.code ? ` ${res.code}` : ""}`);
        return "retry";
      }
      buf.gaps.release();
      if (unauthorized) d.log.warn({ stream: buf.stream }, "telemetry token refused; waiting for a new one");
      return "unauthorized";
    } catch (err) {
      buf.gaps.release();
      if (!this.stopped) d.onError(`upload failed: ${(err as Error).message}`);
      return "retry";
    } finally {
      buf.inflight = null;
    }
  }
}
