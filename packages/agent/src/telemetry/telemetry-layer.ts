/**
 * The agent's telemetry layer (docs/protocol.md §14): the token store, one buffer and one
 * upload loop per stream, and the figures the agent's own health metrics report.
 */
import { join } from "node:path";
import { TELEMETRY_STREAMS, type TelemetryStream } from "@tether/protocol";
import { Backoff } from "../backoff.js";
import { defaultIo } from "./durable-file.js";
import type { AgentTelemetry, StreamWriter, TelemetryLayerOptions, TelemetryStatus } from "./types.js";
import { BlobDownloader } from "./blob-download.js";
import { BatchPoster } from "./post-batch.js";
import { StreamBuffer } from "./stream-buffer.js";
import { StreamUploader } from "./stream-uploader.js";
import { TokenStore } from "./token-store.js";

export const DEFAULT_BUFFER_BYTES = 64 * 1024 * 1024;
/** Smallest buffer accepted (a remote setting of 0 must not silently drop everything). */
export const MIN_BUFFER_BYTES = 4096;

function checkedLimit(bytes: number): number {
  if (!Number.isFinite(bytes) || bytes < MIN_BUFFER_BYTES) {
    throw new RangeError(`telemetry buffer must be at least ${MIN_BUFFER_BYTES} bytes (got ${bytes})`);
  }
  return Math.floor(bytes);
}

export function ingestUrl(apiUrl: string): string {
  return `${apiUrl.replace(/\/+$/, "")}/api/v1/telemetry/batches`;
}

export function createTelemetry(o: TelemetryLayerOptions): AgentTelemetry {
  const now = o.now ?? Date.now;
  const log = o.log.child({ part: "telemetry" });
  const shares: Partial<Record<TelemetryStream, number>> = o.quotas ?? { metrics: 1 };
  let limit = checkedLimit(o.bufferBytes ?? DEFAULT_BUFFER_BYTES);
  const quotaOf = (s: TelemetryStream) => Math.floor(limit * (shares[s] ?? 0));
  const tokens = new TokenStore(o.dataDir, ingestUrl(o.apiUrl), now, log);
  const poster = new BatchPoster(o.caCert, o.requestTimeoutMs ?? 30_000);
  const downloader = new BlobDownloader(o.caCert, o.apiUrl, tokens, o.requestTimeoutMs ?? 30_000);
  const dropped: Record<string, number> = {};
  let lastUploadAt: number | null = null;
  let lastError: string | null = null;

  const buffers = new Map<TelemetryStream, StreamBuffer>();
  const uploaders = new Map<TelemetryStream, StreamUploader>();
  for (const stream of TELEMETRY_STREAMS) {
    if (!(shares[stream] ?? 0)) continue;
    const buf = new StreamBuffer({
      root: join(o.dataDir, "telemetry"),
      stream,
      deviceId: o.deviceId,
      quota: quotaOf(stream),
      io: { ...defaultIo, ...o.io },
      log,
      now,
      onDrop: (reason, count) => {
        dropped[reason] = (dropped[reason] ?? 0) + count;
      },
      onAppend: () => uploaders.get(stream)?.wake("data"),
    });
    buffers.set(stream, buf);
    uploaders.set(
      stream,
      new StreamUploader(buf, {
        tokens,
        poster,
        backoff: new Backoff(o.retry?.baseMs ?? 1000, o.retry?.maxMs ?? 60_000),
        log,
        now,
        onUploaded: (at) => {
          lastUploadAt = at;
          lastError = null;
        },
        onError: (message) => {
          lastError = message;
        },
      }),
    );
  }
  tokens.onStored = () => {
    for (const u of uploaders.values()) u.wake("token");
  };

  return {
    stream(name: TelemetryStream): StreamWriter {
      const buf = buffers.get(name);
      if (!buf) throw new Error(`telemetry stream ${name} has no share of the buffer`);
      return buf;
    },
    storeToken: (token, url) => tokens.store(token, url),
    start() {
      for (const u of uploaders.values()) u.start();
    },
    async flush() {
      await Promise.all([...uploaders.values()].map((u) => u.flush()));
    },
    resize(bufferBytes) {
      limit = checkedLimit(bufferBytes);
      for (const [s, buf] of buffers) buf.setQuota(quotaOf(s));
    },
    status(): TelemetryStatus {
      let bytes = 0;
      const pending: Record<string, number> = {};
      for (const [s, buf] of buffers) {
        bytes += buf.bytes;
        pending[s] = buf.pending;
      }
      return {
        bufferBytes: bytes,
        bufferLimit: limit,
        pending,
        lastUploadAt,
        lastError,
        dropped: { ...dropped },
        hasToken: tokens.hasToken,
      };
    },
    download: (path, dest, maxBytes) => downloader.download(path, dest, maxBytes),
    async stop() {
      await Promise.all([...uploaders.values()].map((u) => u.stop()));
      poster.close();
      downloader.close();
    },
  };
}
