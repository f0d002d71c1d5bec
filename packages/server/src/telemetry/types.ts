/**
 * The telemetry channel layer, server side (docs/protocol.md §14; docs/architecture.md §7):
 * device tokens (issue, rotate, revoke, authenticate with a digest cache), the ingest
 * endpoint (TLS only, size and decompression limits, the device named in the batch must own
 * the token), the per-device, per-stream batch sequence, gap records, and the telemetry
 * database (on SQLite its own file, so ingest never blocks the main store's one writer).
 * Capabilities (metrics, later logs) import it only through this file.
 *
 * The contract: the types the layer and its users share (implementation in sibling files).
 */
import type { TelemetryBatch, TelemetryGap, TelemetryStream } from "@tether/protocol";
import type { FastifyInstance } from "fastify";
import type { Kysely } from "kysely";
import type { DeviceRow } from "../devices.js";
import type { Dialect, MigrationSet } from "../store/db.js";

/** The telemetry database: its own SQLite file, or the main PostgreSQL database. */
export interface TelemetryDb {
  db: Kysely<any>;
  dialect: Dialect;
}

/** What a stream handler returns for one accepted (non-duplicate) batch. */
export interface StreamIngestResult {
  accepted: number;
  dropped: Record<string, number>;
}

/** A batch as the layer hands it to the stream's module, after authentication and validation of the envelope. */
export interface IncomingBatch {
  device: DeviceRow;
  batch: TelemetryBatch;
  /** Server clock (ms) when the upload arrived. */
  receivedAt: number;
  /** receivedAt − batch.sentAt: add it to a device time to get server time, when the device clock is wrong. */
  skewMs: number;
}

/**
 * A stream's module stores a batch: it must call `claim` inside its own transaction on the
 * telemetry database, and store its data in that same transaction only if claim returned true
 * (docs/protocol.md §14.3: exactly once across retries and restarts).
 */
export interface StreamHandler {
  ingest(batches: IncomingBatch[], claim: SeqClaim): Promise<(StreamIngestResult | "duplicate")[]>;
}

/** Inside the caller's transaction: record `seq` as the stream's last; false if it is not newer (a duplicate). */
export type SeqClaim = (trx: Kysely<any>, b: IncomingBatch) => Promise<boolean>;

export interface TelemetryLayer {
  store: TelemetryDb;
  /** Register the module that stores one stream (metrics, logs). */
  handle(stream: TelemetryStream, handler: StreamHandler): void;
  /** The ingest route (POST /api/v1/telemetry/batches), one Fastify plugin; the telemetry capability returns it as its routes. */
  routes(app: FastifyInstance): Promise<void>;
  /**
   * Gaps recorded for devices overlapping [from, to] (server-corrected ms), optionally for one
   * stream, oldest first; at most `limit` (default and ceiling 10 000: the newest ones).
   */
  gaps(q: {
    deviceIds: string[];
    stream?: TelemetryStream;
    from: number;
    to: number;
    limit?: number;
  }): Promise<StoredGap[]>;
  /** Per device: last upload time (server ms) and clock skew (ms), null before the first upload. */
  uploadState(deviceIds: string[]): Promise<Map<string, { lastUploadAt: number; skewMs: number }>>;
  /**
   * The device an `Authorization: Bearer TOKEN` header's telemetry token belongs to, or null
   * (missing, wrong, revoked). For other device-token endpoints (configuration blobs).
   */
  authenticateDevice(authorization: string | undefined): Promise<string | null>;
  /** Issue a new token to the device (first one, schedule, `rotate-credential`); resolves with the message id. */
  rotateToken(device: DeviceRow): Promise<number>;
  /** Issue the first token unless the device has one (accept, first credential); the message id or null. */
  ensureToken(device: DeviceRow): Promise<number | null>;
  /** The agent stored the token (its ack): retire the older one. */
  tokenDelivered(device: DeviceRow, token: string): Promise<void>;
  /** Revocation step: the device's tokens stop working at once. */
  revoke(device: DeviceRow): Promise<void>;
  /** A deleted device: its tokens, sequence state and gap records go. */
  forgetDevice(deviceId: string): Promise<void>;
  /**
   * Issue tokens to accepted devices that have none, and rotate those older than
   * config.telemetry.tokenRotateDays (the telemetry capability runs it at start and every sweepMs).
   */
  sweepTokens(): Promise<{ issued: number; rotated: number }>;
  stats(): TelemetryStats;
  /** Resolves once every upload already queued has its answer (shutdown, tests). */
  drain(): Promise<void>;
  /** Drain, then close the telemetry database. */
  close(): Promise<void>;
}

export interface StoredGap extends TelemetryGap {
  deviceId: string;
  stream: TelemetryStream;
  /** Server-corrected times of the loss. */
  from: number;
  to: number;
  receivedAt: number;
}

export interface TelemetryStats {
  batchesAccepted: number;
  batchesDuplicate: number;
  batchesRejected: Record<string, number>;
  samplesAccepted: number;
  bytesReceived: number;
  /** Stream-handler calls (transactions) the accepted and duplicate batches took: group commit at work. */
  groupCommits: number;
}

/** Migrations of the telemetry database (names global within it; its own migration table). */
export type TelemetryMigrations = MigrationSet;
