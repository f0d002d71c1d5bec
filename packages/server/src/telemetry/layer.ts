/**
 * The telemetry layer assembled (docs/protocol.md §14): tokens, the ingest route, one group
 * commit per stream, the sequence claim, gap and upload-state reads, the token sweep.
 */
import type { TelemetryStream } from "@tether/protocol";
import type { FastifyInstance } from "fastify";
import type { Kysely } from "kysely";
import type { Logger } from "pino";
import type { ServerConfig } from "../config.js";
import type { ControlLink } from "../control/link.js";
import type { DeviceRow, Devices } from "../devices.js";
import type { DB } from "../store/schema.js";
import { FailureLog } from "./failure-log.js";
import { DEFAULT_GROUP_LIMITS, GroupCommit, type GroupLimits } from "./group-commit.js";
import type { StreamHandler, TelemetryDb, TelemetryLayer, TelemetryStats } from "./types.js";
import { ingestRoutes } from "./ingest-route.js";
import { DEFAULT_SAMPLE_BUDGET } from "./sample-budget.js";
import type { TelemetryLayerTables } from "./migrations.js";
import { readGaps, readUploadState } from "./reads.js";
import { claimSeq } from "./seq-claim.js";
import { TelemetryTokens } from "./tokens.js";

export const DEFAULT_TOKEN_ROTATE_DAYS = 30;
export const DEFAULT_SWEEP_MS = 60_000;
/** Tokens one sweep issues or rotates at most (the rest wait for the next sweep). */
const SWEEP_MAX = 10_000;
const SWEEP_PAGE = 500;

export interface TelemetryLayerDeps {
  store: TelemetryDb & { close(): Promise<void> };
  /** The main database (tokens, devices, outbox). */
  db: Kysely<DB>;
  devices: Devices;
  link: ControlLink;
  log: Logger;
  config: ServerConfig;
  /** Tests: a clock, group limits. */
  now?: () => number;
  groupLimits?: GroupLimits;
}

/** The layer, plus its token store for tests. */
export type TelemetryLayerImpl = TelemetryLayer & { tokens: TelemetryTokens };

export function createTelemetryLayer(d: TelemetryLayerDeps): TelemetryLayerImpl {
  const now = d.now ?? Date.now;
  const tdb = d.store.db as Kysely<TelemetryLayerTables>;
  const tokens = new TelemetryTokens({ db: d.db, link: d.link, log: d.log });
  const failures = new FailureLog(d.log);
  const streams = new Map<TelemetryStream, GroupCommit>();
  const stats: TelemetryStats = {
    batchesAccepted: 0,
    batchesDuplicate: 0,
    batchesRejected: {},
    samplesAccepted: 0,
    bytesReceived: 0,
    groupCommits: 0,
  };
  let sweeping: Promise<{ issued: number; rotated: number }> | null = null;

  async function sweep(): Promise<{ issued: number; rotated: number }> {
    let issued = 0;
    let rotated = 0;
    // Accepted devices without a token: enrolled with auto-accept, or before this feature.
    while (issued < SWEEP_MAX) {
      const ds = await tokens.missing(SWEEP_PAGE);
      for (const dev of ds) {
        await tokens.rotate(dev);
        issued++;
      }
      if (ds.length < SWEEP_PAGE) break;
    }
    const days = d.config.telemetry?.tokenRotateDays ?? DEFAULT_TOKEN_ROTATE_DAYS;
    if (days > 0) {
      const cutoff = new Date(now() - days * 86_400_000).toISOString();
      while (rotated < SWEEP_MAX) {
        const ds = await tokens.due(cutoff, SWEEP_PAGE);
        for (const dev of ds) {
          await tokens.rotate(dev);
          rotated++;
        }
        if (ds.length < SWEEP_PAGE) break;
      }
    }
    if (issued || rotated) d.log.info({ issued, rotated }, "telemetry: device tokens issued and rotated");
    return { issued, rotated };
  }

  return {
    store: d.store,
    tokens,
    handle(stream: TelemetryStream, handler: StreamHandler) {
      if (streams.has(stream)) throw new Error(`telemetry stream ${stream} has two handlers`);
      streams.set(stream, new GroupCommit(handler, claimSeq, d.groupLimits ?? DEFAULT_GROUP_LIMITS));
    },
    routes: (app: FastifyInstance) =>
      ingestRoutes(app, {
        tokens,
        devices: d.devices,
        failures,
        now,
        submit: (stream, b, bytes) => streams.get(stream)?.submit(b, bytes),
        budget: {
          perSecond: d.config.telemetry?.deviceSamplesPerSecond ?? DEFAULT_SAMPLE_BUDGET.perSecond,
          burst: d.config.telemetry?.deviceSampleBurst ?? DEFAULT_SAMPLE_BUDGET.burst,
        },
        counted({ bytes, result, rejected }) {
          if (rejected) stats.batchesRejected[rejected] = (stats.batchesRejected[rejected] ?? 0) + 1;
          stats.bytesReceived += bytes;
          if (result === "duplicate") stats.batchesDuplicate++;
          else if (result) {
            stats.batchesAccepted++;
            stats.samplesAccepted += result.accepted;
          }
        },
      }),
    gaps: (q) => readGaps(tdb, q),
    uploadState: (ids) => readUploadState(tdb, ids),
    async authenticateDevice(authorization: string | undefined) {
      const m = /^Bearer\s+(\S+)$/i.exec(authorization ?? "");
      return m?.[1] ? tokens.authenticate(m[1]) : null;
    },
    rotateToken: (device: DeviceRow) => tokens.rotate(device),
    ensureToken: (device: DeviceRow) => tokens.ensure(device),
    async tokenDelivered(device: DeviceRow, token: string) {
      await tokens.delivered(device, token);
    },
    revoke: (device: DeviceRow) => tokens.revoke(device.id),
    async forgetDevice(deviceId: string) {
      await tokens.revoke(deviceId);
      await tdb.deleteFrom("telemetry_gaps").where("device_id", "=", deviceId).execute();
      await tdb.deleteFrom("telemetry_streams").where("device_id", "=", deviceId).execute();
    },
    sweepTokens() {
      // One sweep at a time: the timer and start() may meet.
      sweeping ??= sweep().finally(() => {
        sweeping = null;
      });
      return sweeping;
    },
    stats() {
      let groups = 0;
      for (const g of streams.values()) groups += g.groups;
      return { ...stats, batchesRejected: { ...stats.batchesRejected }, groupCommits: groups };
    },
    async drain() {
      for (const g of streams.values()) await g.idle();
    },
    async close() {
      for (const g of streams.values()) await g.idle();
      await sweeping?.catch(() => {});
      // The layer owns the telemetry database; stream modules must not close it.
      await d.store.close().catch((err) => d.log.warn({ err }, "telemetry: closing the database failed"));
    },
  };
}
