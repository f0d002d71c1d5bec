/**
 * The telemetry channel layer, agent side (docs/protocol.md §14): the device token (current
 * and next, stored durably), a bounded on-disk buffer per stream with its batch sequence and
 * gap records, and the uploader (HTTPS with the pinned CA, gzip, acknowledged and retried).
 * Capabilities (metrics, later logs) import it only through this file.
 *
 * The contract: the types the layer and its users share (implementation in sibling files).
 */
import type { LogLineWire, MetricSeriesWire, TelemetryGap, TelemetryStream } from "@tether/protocol";

export interface TelemetryLayerOptions {
  /** The agent's data directory: tokens in telemetry.json, the buffer under telemetry/<stream>/. */
  dataDir: string;
  deviceId: string;
  /** The server's API URL and the CA to pin (from the identity). */
  apiUrl: string;
  caCert: string;
  /** Bytes the on-disk buffer may hold, all streams together (default 64 MiB). */
  bufferBytes?: number;
  /** Streams and their share of the buffer (default: metrics 1.0; logs will take a share). */
  quotas?: Partial<Record<TelemetryStream, number>>;
  log: import("pino").Logger;
  /** Clock (tests). */
  now?: () => number;
  /** The buffer's raw file writes (tests inject ENOSPC/EIO); default node:fs. */
  io?: Partial<import("./durable-file.js").BufferIo>;
  /** Retry backoff after a failed upload (default 1 s doubling to 60 s, jittered). */
  retry?: { baseMs?: number; maxMs?: number };
  /** One upload's timeout (default 30 s): a hung server is retried, not waited for. */
  requestTimeoutMs?: number;
}

/** What a sealed batch holds (everything but the envelope the layer adds). */
export interface BatchContent {
  metrics?: MetricSeriesWire[];
  logs?: LogLineWire[];
  /** Device-clock span and count of the samples/lines, for a gap record if this batch is ever dropped. */
  span: { from: number; to: number; count: number };
}

export interface StreamWriter {
  /** Seal one batch into the buffer (compressed, fsynced, with the next seq); oldest dropped with a gap record when full. */
  append(content: BatchContent): void;
  /** Record a loss that happened before the buffer (series limit, rate limit); it rides the next batch. */
  recordGap(gap: TelemetryGap): void;
}

export interface TelemetryStatus {
  bufferBytes: number;
  bufferLimit: number;
  /** Batches waiting per stream. */
  pending: Record<string, number>;
  /** Device-clock ms of the last acknowledged upload, or null. */
  lastUploadAt: number | null;
  lastError: string | null;
  /** Samples/lines dropped by the buffer, by reason. */
  dropped: Record<string, number>;
  hasToken: boolean;
}

export interface AgentTelemetry {
  stream(name: TelemetryStream): StreamWriter;
  /** A token arrived over the control channel: store it durably (before the ack) as the next one. */
  storeToken(token: string, url?: string): void;
  /** Start uploading (from agent start; it waits while it has no token, and retries with backoff). */
  start(): void;
  /** Upload now (after a reconnect; tests). Resolves when the buffer is empty or an upload failed. */
  flush(): Promise<void>;
  /** Change the buffer size (remote settings). */
  resize(bufferBytes: number): void;
  status(): TelemetryStatus;
  /**
   * GET `path` (under the API URL) over HTTPS with the pinned CA and the device token (current,
   * then next on 401), streamed to `dest` (0600); more than `maxBytes` is refused. `sealed`: the
   * answer carried `x-tether-sealed: 1` (a configuration secret file, docs/protocol.md §18.4).
   * Rejects with a DownloadError (`status` 0 for network errors). Optional only so that test
   * fakes of the layer need not implement it; createTelemetry always does.
   */
  download?(path: string, dest: string, maxBytes: number): Promise<{ sealed: boolean; bytes: number }>;
  stop(): Promise<void>;
}
