/**
 * The metrics store's contract (docs/protocol.md §14.4): what ingest, the REST routes, the
 * Prometheus exposition, remote write and the benchmark use. Implemented over the telemetry
 * database (SQLite file or PostgreSQL) in ./metric-store.ts.
 *
 * Storage shape: a series registry (device, name, labels → id); each accepted batch is one
 * row of recent samples, stored in the transaction that claims its sequence number; a
 * compaction job turns recent rows into per-series hour chunks (many samples per row,
 * compactly encoded), finished days into per-series day chunks and 1 h rollups (min, max,
 * sum, last, count), and raw data reaching its retention into 1 min rollups (downsampling at
 * expiry); retention deletes rollups older than each resolution keeps. Queries read chunks,
 * rollups and recent rows (a 1 min step aggregates raw data while it exists).
 */
import type { KeyFigure, MetricAgg, MetricSeriesInfo } from "@tether/protocol";
import type { Labels, LatestSample, StoredSamples } from "../../../query/metric-feed.js";
import type { IncomingBatch, SeqClaim, StreamIngestResult } from "../../../telemetry/index.js";

export type { Labels, LatestSample, StoredSamples } from "../../../query/metric-feed.js";

export interface RangeQuery {
  deviceIds: string[];
  metric: string;
  /** Only series whose labels include these. */
  labels?: Labels;
  /** Server-corrected ms, inclusive from, exclusive to. */
  from: number;
  to: number;
  stepMs: number;
  agg: MetricAgg;
  /** Most series returned. */
  limit: number;
}

export interface RangeSeries {
  deviceId: string;
  name: string;
  labels: Labels;
  /** One point per step from `from`: [stepStart, value | null]. */
  points: [number, number | null][];
}

export interface RangeResult {
  series: RangeSeries[];
  /** "raw", "1m" or "1h": the finest data that covers the step. */
  resolution: string;
  truncated: boolean;
}

export interface RetentionPolicy {
  /** How long raw samples are kept (default 7 days). */
  rawMs: number;
  /** 1-minute rollups (default 30 days). */
  minuteMs: number;
  /** 1-hour rollups (default 400 days). */
  hourMs: number;
}

export interface MetricStoreStats {
  series: number;
  recentRows: number;
  chunks: number;
  samplesStored: number;
  seriesLimitDrops: number;
  lastCompactionMs: number | null;
}

/** One device's fleet-summary figures (docs/protocol.md §14.5), from memory once warm. */
export interface DeviceSummary {
  deviceId: string;
  /** Server time (ms) of the device's newest sample; null before any. */
  at: number | null;
  /** Latest value per key figure, combined across its series (max or min, KEY_FIGURES). */
  figures: Record<KeyFigure, number | null>;
  /** The 60 minutes ending now, oldest first, per requested figure (1-minute max or min). */
  spark: Partial<Record<KeyFigure, (number | null)[]>>;
}

export interface MetricStore {
  /** The "metrics" stream handler: see telemetry/index.ts StreamHandler. */
  ingest(batches: IncomingBatch[], claim: SeqClaim): Promise<(StreamIngestResult | "duplicate")[]>;
  /** Every series of one device with its newest sample. */
  names(deviceId: string): Promise<MetricSeriesInfo[]>;
  range(q: RangeQuery): Promise<RangeResult>;
  /** Newest sample of every matching series (one metric, or all when metric is undefined). */
  latest(q: { deviceIds: string[]; metric?: string; labels?: Labels }): Promise<LatestSample[]>;
  /**
   * Key figures and sparklines of many devices at once (the fleet summary: 1,000 devices in a
   * few ms once the caches are warm). `sparks` names the figures that get a sparkline
   * (default ["cpu"]).
   */
  summary(deviceIds: string[], o?: { now?: number; sparks?: KeyFigure[] }): Promise<DeviceSummary[]>;
  /** Listen to stored samples (live stream, remote write); returns the unsubscribe. */
  onStored(listener: (s: StoredSamples) => void): () => void;
  /**
   * Compact recent rows of hours over (by `now` − compactAfterMs) into hour chunks, days over
   * into day chunks and 1-hour rollups, expiring raw data into 1-minute rollups; apply retention.
   * `chunks`: chunk rows written; `deleted`: raw chunks expired and rollup rows deleted.
   */
  compact(now?: number): Promise<{ rows: number; chunks: number; deleted: number }>;
  /** Forget a deleted device's series and data. */
  dropDevice(deviceId: string): Promise<void>;
  stats(): MetricStoreStats;
  close(): Promise<void>;
}
