/**
 * Metrics, server side (docs/protocol.md §14.4–14.6): the "metrics" stream of the telemetry
 * channel is stored in the metric store (the telemetry database); compaction runs on a timer;
 * the REST API, the live stream and the Prometheus exposition read it; remote write forwards
 * every stored sample to an external TSDB when configured.
 *
 * A revoked device's data stays readable (its history matters most then); a deleted device's
 * series go with it.
 */
import type { CapabilityModule } from "../../capability.js";
import { DeviceNames } from "../../query/device-names.js";
import { DEFAULT_LIVE, LiveHub } from "./live.js";
import { RemoteWriter } from "./remote-write.js";
import { feedRemoteWrite } from "./remote-write-feed.js";
import { metricsRoutes } from "./routes.js";
import { ServerMetrics, type ServerStatsProvider } from "./server-metrics.js";
import { createMetricStore } from "./store/metric-store.js";
import { metricsTelemetryMigrations } from "./store/migrations.js";
import type { MetricStore } from "./store/types.js";

export type { ServerStatsProvider } from "./server-metrics.js";
export type { MetricStore } from "./store/types.js";

export const DEFAULT_COMPACT_EVERY_MS = 60_000;

export interface MetricsApi {
  store: MetricStore;
  /** Present when `config.metrics.remoteWrite` is set. */
  remoteWrite?: RemoteWriter;
  live: LiveHub;
  /** Figures only the whole server sees (control channel) for GET /api/v1/server/metrics. */
  setServerStats(provider: ServerStatsProvider): void;
  /** Run one compaction now (tests; normally every compactEveryMs). */
  compact(now?: number): Promise<void>;
}

export const metrics: CapabilityModule<never, MetricsApi> = {
  name: "metrics",
  telemetryMigrations: metricsTelemetryMigrations,
  create(ctx) {
    const o = ctx.config.metrics ?? {};
    const log = ctx.log.child({ part: "metrics" });
    const store = createMetricStore({
      db: ctx.telemetry.store.db,
      dialect: ctx.telemetry.store.dialect,
      log,
      retention: o.retention,
      maxSeriesPerDevice: o.maxSeriesPerDevice,
      compactAfterMs: o.compactAfterMs,
    });
    ctx.telemetry.handle("metrics", store);

    const names = new DeviceNames(ctx.db);
    const live = new LiveHub({ ...DEFAULT_LIVE, maxPerUser: ctx.config.exec?.maxStreamsPerUser ?? 16 }, log);
    const unsubscribe: (() => void)[] = [store.onStored((s) => live.stored(s))];
    let remoteWrite: RemoteWriter | undefined;
    if (o.remoteWrite) {
      remoteWrite = new RemoteWriter({ url: o.remoteWrite, log });
      unsubscribe.push(feedRemoteWrite(store, names, remoteWrite, log));
    }
    let serverStats: ServerStatsProvider | undefined;
    const server = new ServerMetrics({
      db: ctx.db,
      telemetry: ctx.telemetry,
      store,
      live,
      remote: remoteWrite,
      serverStats: () => serverStats?.() ?? {},
    });

    // Compaction: one run at a time; a slow run delays the next rather than overlapping it.
    let timer: NodeJS.Timeout | undefined;
    let running: Promise<void> | null = null;
    const compact = (now?: number): Promise<void> => {
      if (running) return running;
      const run = store
        .compact(now)
        .then(
          (r) => void (r.rows || r.deleted ? log.debug(r, "metrics compacted") : undefined),
          (err) => void log.error({ err }, "metrics compaction failed"),
        )
        .finally(() => {
          running = null;
        });
      running = run;
      return run;
    };

    return {
      name: "metrics",
      api: {
        store,
        remoteWrite,
        live,
        setServerStats: (p) => {
          serverStats = p;
        },
        compact,
      },
      up: {},
      routes: (app) =>
        metricsRoutes(app, {
          devices: ctx.devices,
          accounts: ctx.accounts,
          store,
          telemetry: ctx.telemetry,
          live,
          server,
        }),
      userChanged: (change) => void live.closeStreamsOf(change.userId, change.projectId),
      async deviceDeleted(deviceId) {
        await store.dropDevice(deviceId);
      },
      async start() {
        timer = setInterval(() => void compact(), o.compactEveryMs ?? DEFAULT_COMPACT_EVERY_MS);
        timer.unref();
      },
      async close() {
        clearInterval(timer);
        live.closeAll();
        for (const u of unsubscribe) u();
        await running;
        await remoteWrite?.close();
        server.close();
        await store.close();
      },
    };
  },
};
