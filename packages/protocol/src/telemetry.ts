/**
 * The telemetry channel's wire format (docs/protocol.md §14): batches that an agent uploads
 * over HTTPS with its device token. One definition, used by the server's ingest, the agent's
 * uploader, the benchmark and any other agent written from the protocol document.
 *
 * A batch is JSON, usually gzip-compressed (`Content-Encoding: gzip`), POSTed to
 * `/api/v1/telemetry/batches` with `Authorization: Bearer <device token>`.
 */
import { type Static, Type } from "typebox";
import type { LogLineWire } from "./logs.js";

/** Streams of the telemetry channel; each has its own batch sequence per device. */
export const TELEMETRY_STREAMS = ["metrics", "logs"] as const;
export type TelemetryStream = (typeof TELEMETRY_STREAMS)[number];

/** Limits the server enforces on ingest (the agent keeps its batches well under them). */
export const TELEMETRY_LIMITS = {
  /** Bytes of the request body as sent (compressed). */
  maxCompressedBytes: 1024 * 1024,
  /** Bytes after decompression: a decompression bomb stops here. */
  maxBatchBytes: 8 * 1024 * 1024,
  /** Series in one batch. */
  maxSeriesPerBatch: 20_000,
  /** Points in one batch, all series together. */
  maxPointsPerBatch: 200_000,
  /** Distinct series (name + labels) the server keeps per device (the cardinality limit). */
  maxSeriesPerDevice: 10_000,
  /** Labels on one series. */
  maxLabels: 32,
  /** Characters of one label value. */
  maxLabelValue: 256,
  /** Gap records in one batch. */
  maxGaps: 1000,
  /** Sample times before this (2000-01-01) are implausible: the device clock is wrong. */
  minTime: 946_684_800_000,
  /** Sample times more than this ahead of the server's clock are implausible. */
  maxFutureMs: 10 * 60 * 1000,
} as const;

/** Metric names: Prometheus's rule, so export needs no renaming. */
export const METRIC_NAME = "^[a-zA-Z_:][a-zA-Z0-9_:]{0,127}$";
/** Label names: Prometheus's rule; names starting with `__` are reserved. */
export const LABEL_NAME = "^[a-zA-Z_][a-zA-Z0-9_]{0,63}$";
/** Label names the server sets itself on export and queries; a device may not send them. */
export const RESERVED_LABELS = ["device", "device_id", "project", "job", "instance"] as const;

/** A device token: 256 random bits, base64url without padding. */
export const TELEMETRY_TOKEN_PATTERN = "^[A-Za-z0-9_-]{43}$";

/**
 * What a device lost before it could upload: the buffer overflowed, a limit dropped
 * samples, or the server refused a batch. Shown as a gap in queries and charts.
 */
export const TelemetryGap = Type.Object(
  {
    /** Device-clock milliseconds of the first and last lost sample (or line). */
    from: Type.Number(),
    to: Type.Number(),
    /** How many samples (or lines) were lost. */
    count: Type.Integer({ minimum: 0 }),
    /** buffer-full | disk-full | series-limit | rate-limit | rejected | ... */
    reason: Type.String({ pattern: "^[a-z][a-z0-9-]{0,31}$" }),
    /** The stream the loss belongs to (defaults to the batch's). */
    stream: Type.Optional(Type.String({ pattern: "^[a-z][a-z0-9-]{0,31}$" })),
    /** Logs: the source the lines were lost from (a followed file's path, `journal`, `agent`). */
    source: Type.Optional(Type.String({ maxLength: 512 })),
    /** One line for people ("1,204 samples dropped: buffer full"). */
    detail: Type.Optional(Type.String({ maxLength: 500 })),
  },
  { additionalProperties: false },
);
export type TelemetryGap = Static<typeof TelemetryGap>;

/**
 * One series in a metrics batch: name, labels, and points `[t, v]` (t in device-clock
 * milliseconds, v a finite number). A point whose value is not a finite number (the JSON
 * strings "NaN", "+Inf", "-Inf", or null) is dropped and counted, not stored.
 */
export interface MetricSeriesWire {
  name: string;
  labels?: Record<string, string>;
  /** "gauge" (default) or "counter" (monotonic; rates are computed over it). */
  kind?: "gauge" | "counter";
  points: [number, number | string | null][];
}

/** A telemetry batch (docs/protocol.md §14.2). */
export interface TelemetryBatch {
  v: 1;
  /** The device id the token belongs to. */
  device: string;
  stream: TelemetryStream;
  /** Increasing per device and stream, from 1; a seq at or below the last stored one is a duplicate. */
  seq: number;
  /** Device-clock milliseconds when this upload was sent (the server derives the clock skew). */
  sentAt: number;
  gaps?: TelemetryGap[];
  /** stream "metrics" */
  metrics?: MetricSeriesWire[];
  /** stream "logs" (docs/protocol.md §15) */
  logs?: LogLineWire[];
}

/** The answer to an accepted upload (HTTP 200), including a duplicate. */
export interface IngestResult {
  seq: number;
  /** True when this seq was already stored (or is older): nothing was stored again. */
  duplicate: boolean;
  /** Samples (or lines) stored. */
  accepted: number;
  /** Samples dropped by reason (invalid-value, bad-name, series-limit, bad-time, ...). */
  dropped: Record<string, number>;
  /** The device clock's offset from the server's, in ms (server receive time − sentAt). */
  skewMs: number;
}
