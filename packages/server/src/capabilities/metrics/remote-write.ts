/**
 * Prometheus remote write (docs/protocol.md §14.6; `tether server --metrics-remote-write URL`):
 * every stored sample, with device labels, is forwarded to an existing TSDB (VictoriaMetrics,
 * Mimir, Thanos, Prometheus's receiver) so a fleet that outgrows the built-in store keeps its
 * history there.
 *
 * Remote-write 1.0: a snappy-compressed protobuf WriteRequest per POST, batched (every
 * `flushMs`, or at once at `batchSamples`), one request in flight so each series stays in
 * time order. A 5xx, 429 or network error retries the same batch with exponential backoff;
 * another 4xx drops it (the remote will never take it) and counts it. While the remote is
 * down the queue is bounded: the oldest samples are dropped, counted and logged, never held
 * without limit.
 */
/// <reference path="./snappyjs.d.ts" />
import SnappyJS from "snappyjs";
import type { Logger } from "pino";
import { encodeWriteRequest, type PromSeries } from "./remote-write-proto.js";

export interface RemoteWriteOptions {
  url: string;
  log: Logger;
  /** Ms between flushes (default 1000). */
  flushMs?: number;
  /** Samples that make a batch go at once, and the most in one request (default 2000). */
  batchSamples?: number;
  /** Samples waiting while the remote is slow or down; beyond, the oldest are dropped (default 200 000). */
  maxQueueSamples?: number;
  /** Ms one request may take (default 10 000). */
  timeoutMs?: number;
  /** Retry backoff, ms (default 500 doubling to 30 000). */
  backoff?: { minMs: number; maxMs: number };
}

export interface RemoteWriteStats {
  /** Samples waiting (the batch being retried included). */
  queued: number;
  /** Samples the remote accepted. */
  sent: number;
  /** Samples dropped because the queue was full. */
  dropped: number;
  /** Samples the remote refused with a 4xx (not retried). */
  rejected: number;
  /** Failed attempts that were retried (5xx, 429, network). */
  retries: number;
  requests: number;
  lastError: string | null;
  /** Server ms of the last accepted request. */
  lastSuccessAt: number | null;
}

interface Batch {
  body: Uint8Array;
  samples: number;
}

/** Log a dropped-sample warning at most this often. */
const DROP_LOG_MS = 10_000;

export class RemoteWriter {
  private readonly url: string;
  private readonly headers: Record<string, string>;
  private readonly o: Required<Omit<RemoteWriteOptions, "url" | "log">>;
  private readonly log: Logger;
  private queue: PromSeries[] = [];
  private head = 0;
  private queuedSamples = 0;
  private inflight: Batch | null = null;
  private sending: Promise<void> | null = null;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryDelay = 0;
  private readonly timer: NodeJS.Timeout;
  private closed = false;
  /** Aborts the request in flight at close: a hung remote must not hold the server's exit for timeoutMs. */
  private readonly ac = new AbortController();
  private droppedSinceLog = 0;
  private lastDropLog = 0;
  private readonly s: RemoteWriteStats = {
    queued: 0,
    sent: 0,
    dropped: 0,
    rejected: 0,
    retries: 0,
    requests: 0,
    lastError: null,
    lastSuccessAt: null,
  };

  constructor(o: RemoteWriteOptions) {
    const u = new URL(o.url);
    if (u.protocol !== "http:" && u.protocol !== "https:")
      throw new Error(`metrics remote write: ${o.url} is not an http(s) URL`);
    this.headers = {
      "content-encoding": "snappy",
      "content-type": "application/x-protobuf",
      "x-prometheus-remote-write-version": "0.1.0",
      "user-agent": "tether-server",
    };
    // fetch refuses URLs with credentials: send them as basic auth instead.
    if (u.username || u.password) {
      const cred = `${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`;
      this.headers.authorization = `Basic ${Buffer.from(cred).toString("base64")}`;
      u.username = "";
      u.password = "";
    }
    this.url = u.toString();
    this.log = o.log;
    this.o = {
      flushMs: o.flushMs ?? 1000,
      batchSamples: o.batchSamples ?? 2000,
      maxQueueSamples: o.maxQueueSamples ?? 200_000,
      timeoutMs: o.timeoutMs ?? 10_000,
      backoff: o.backoff ?? { minMs: 500, maxMs: 30_000 },
    };
    this.timer = setInterval(() => this.kick(), this.o.flushMs);
    this.timer.unref();
  }

  /** Queue one series' samples (labels sorted by name, `__name__` included). */
  push(series: PromSeries): void {
    if (this.closed || series.samples.length === 0) return;
    this.queue.push(series);
    this.queuedSamples += series.samples.length;
    let dropped = 0;
    while (this.queuedSamples > this.o.maxQueueSamples && this.head < this.queue.length) {
      const old = this.queue[this.head]!;
      this.queue[this.head++] = undefined as never;
      this.queuedSamples -= old.samples.length;
      dropped += old.samples.length;
    }
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    if (dropped) this.noteDropped(dropped);
    if (this.queuedSamples >= this.o.batchSamples) this.kick();
  }

  stats(): RemoteWriteStats {
    return { ...this.s, queued: this.queuedSamples + (this.inflight?.samples ?? 0) };
  }

  /** Send everything queued now; resolves when the queue is empty or a request failed (tests, shutdown). */
  async flush(): Promise<void> {
    for (;;) {
      if (this.sending) await this.sending;
      if (this.closed) return;
      if (this.retryTimer) return; // failing: the retry timer owns the batch
      if (!this.inflight && this.queuedSamples === 0) return;
      this.kick();
    }
  }

  /** Stop timers after one last bounded attempt to send what is queued. */
  async close(graceMs = 2000): Promise<void> {
    if (this.closed) return;
    clearInterval(this.timer);
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    let t: NodeJS.Timeout | undefined;
    await Promise.race([
      this.flush(),
      new Promise<void>((r) => {
        t = setTimeout(r, graceMs);
      }),
    ]);
    clearTimeout(t);
    this.closed = true;
    this.ac.abort();
    const left = this.stats().queued;
    if (left) this.log.warn({ samples: left }, "metrics remote write: samples not sent at shutdown");
  }

  private noteDropped(n: number): void {
    this.s.dropped += n;
    this.droppedSinceLog += n;
    const now = Date.now();
    if (now - this.lastDropLog < DROP_LOG_MS) return;
    this.lastDropLog = now;
    this.log.warn(
      { dropped: this.droppedSinceLog, total: this.s.dropped, lastError: this.s.lastError },
      `metrics remote write: queue full (${this.o.maxQueueSamples} samples), oldest samples dropped`,
    );
    this.droppedSinceLog = 0;
  }

  private take(): Batch | null {
    const series: PromSeries[] = [];
    let samples = 0;
    while (this.head < this.queue.length && samples < this.o.batchSamples) {
      const s = this.queue[this.head]!;
      const room = this.o.batchSamples - samples;
      if (s.samples.length > room && samples > 0) break;
      if (s.samples.length > room) {
        // One huge series: split it, the rest stays at the head.
        series.push({ labels: s.labels, samples: s.samples.slice(0, room) });
        this.queue[this.head] = { labels: s.labels, samples: s.samples.slice(room) };
        samples += room;
        break;
      }
      this.queue[this.head++] = undefined as never;
      series.push(s);
      samples += s.samples.length;
    }
    if (samples === 0) return null;
    this.queuedSamples -= samples;
    return { body: SnappyJS.compress(encodeWriteRequest(series)), samples };
  }

  private kick(): void {
    if (this.sending || this.retryTimer || this.closed) return;
    if (!this.inflight) this.inflight = this.take();
    if (!this.inflight) return;
    this.sending = this.send(this.inflight).finally(() => {
      this.sending = null;
      if (!this.retryTimer && this.queuedSamples >= this.o.batchSamples) this.kick();
    });
  }

  private async send(b: Batch): Promise<void> {
    this.s.requests++;
    let retry: boolean;
    let why: string;
    try {
      const res = await fetch(this.url, {
        method: "POST",
        headers: this.headers,
        body: b.body,
        signal: AbortSignal.any([this.ac.signal, AbortSignal.timeout(this.o.timeoutMs)]),
      });
      const text = res.ok ? "" : (await res.text().catch(() => "")).slice(0, 300);
      if (res.ok) {
        this.inflight = null;
        this.retryDelay = 0;
        this.s.sent += b.samples;
        this.s.lastSuccessAt = Date.now();
        return;
      }
      retry = res.status >= 500 || res.status === 429;
      why = `HTTP ${res.status}${text ? `: ${text}` : ""}`;
    } catch (err) {
      if (this.closed) return; // aborted at close: the samples are counted as not sent there
      retry = true;
      why = (err as Error).message;
    }
    this.s.lastError = why;
    if (!retry) {
      this.inflight = null;
      this.s.rejected += b.samples;
      this.log.warn(
        { samples: b.samples, error: why },
        "metrics remote write: the remote refused a batch; it is dropped (not retried)",
      );
      return;
    }
    this.s.retries++;
    const { minMs, maxMs } = this.o.backoff;
    this.retryDelay = Math.min(maxMs, this.retryDelay ? this.retryDelay * 2 : minMs);
    const delay = Math.round(this.retryDelay * (0.75 + Math.random() * 0.5));
    if (this.retryDelay === minMs || this.retryDelay === maxMs)
      this.log.warn({ error: why, retryInMs: delay }, "metrics remote write failed; retrying");
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.kick();
    }, delay);
    this.retryTimer.unref();
  }
}
