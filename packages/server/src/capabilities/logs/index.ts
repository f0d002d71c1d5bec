/**
 * Device logs, server side (docs/protocol.md §15): the "logs" stream of the telemetry channel
 * is stored in the log store (the telemetry database, with a full-text index); retention runs
 * on a timer; the REST search and the live tail (SSE) read it; listeners (alerts) get each
 * commit's lines.
 */
import type { LogLevel, LogQuery, LogSearchResult } from "@tether/protocol";
import type { Principal } from "../../accounts.js";
import type { CapabilityModule } from "../../capability.js";
import { DeviceNames } from "../../query/device-names.js";
import { logsTelemetryMigrations } from "./migrations.js";
import { logsRoutes } from "./routes.js";
import { searchLogs } from "./search.js";
import { LogStore } from "./store.js";
import { DEFAULT_TAIL, TailHub } from "./tail.js";

/** A line as stored, handed to onStored listeners (alerts) right after its commit. */
export interface StoredLogLine {
  id: string;
  deviceId: string;
  /** Server-corrected time (device time + upload skew), ms. */
  time: number;
  /** Server receive time, ms. */
  receivedAt: number;
  source: string;
  level: LogLevel | null;
  message: string;
  kind: "line" | "gap";
}

export interface LogsApi {
  /** Called after each commit with the lines stored for one device (both kinds), in id order. Returns an unsubscribe. */
  onStored(listener: (deviceId: string, lines: StoredLogLine[]) => void): () => void;
  /** The search of GET /api/v1/logs, scoped to the principal's project. */
  search(p: Principal, q: LogQuery): Promise<LogSearchResult>;
  /** Forget a deleted device's lines (bounded delete batches). */
  deviceDeleted(deviceId: string): Promise<void>;
  /** Run one retention pass now (tests; normally every retainEveryMs). */
  retain(now?: number): Promise<{ deleted: number; byAge: number; bySize: number }>;
  /** The store (tests, benchmark). */
  store: LogStore;
  tail: TailHub;
  close(): Promise<void>;
}

export const DEFAULT_RETAIN_EVERY_MS = 60_000;

export const logs: CapabilityModule<never, LogsApi> = {
  name: "logs",
  telemetryMigrations: logsTelemetryMigrations,
  create(ctx) {
    const o = ctx.config.logs ?? {};
    const log = ctx.log.child({ part: "logs" });
    const store = new LogStore({
      db: ctx.telemetry.store.db,
      dialect: ctx.telemetry.store.dialect,
      log,
      retentionMs: o.retentionMs,
      maxBytesPerProject: o.maxBytesPerProject,
    });
    ctx.telemetry.handle("logs", store);
    const cache = new DeviceNames(ctx.db);
    const names = async (ids: string[]) => {
      const out = new Map<string, string>();
      for (const id of ids) {
        const n = await cache.get(id);
        if (n) out.set(id, n.name);
      }
      return out;
    };
    const tail = new TailHub(
      {
        ...DEFAULT_TAIL,
        maxPerUser: ctx.config.exec?.maxStreamsPerUser ?? DEFAULT_TAIL.maxPerUser,
        maxBufferedBytes: o.tailBufferBytes ?? DEFAULT_TAIL.maxBufferedBytes,
      },
      store,
      names,
      log,
    );
    const unsubscribe = [store.onStored((rows) => tail.stored(rows))];
    const deps = { devices: ctx.devices, store, names, now: Date.now, tail };

    let timer: NodeJS.Timeout | undefined;
    let running: Promise<{ deleted: number; byAge: number; bySize: number }> | null = null;
    const retain = (now?: number) => {
      running ??= store.retain(now).finally(() => {
        running = null;
      });
      return running;
    };
    const deviceDeleted = async (deviceId: string) => {
      await store.dropDevice(deviceId);
    };
    let closed = false;
    const close = async () => {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      tail.closeAll();
      for (const u of unsubscribe) u();
      await running?.catch(() => {});
      await store.close();
    };

    const api: LogsApi = {
      onStored(listener) {
        return store.onStored((rows) => {
          if (rows.length === 0) return;
          listener(
            rows[0]!.deviceId,
            rows.map((r) => ({
              id: r.id,
              deviceId: r.deviceId,
              time: r.time,
              receivedAt: r.receivedAt,
              source: r.source,
              level: r.level,
              message: r.message,
              kind: r.kind,
            })),
          );
        });
      },
      search: (p, q) => searchLogs(deps, p, q),
      deviceDeleted,
      retain,
      store,
      tail,
      close,
    };

    return {
      name: "logs",
      api,
      up: {},
      routes: (app) => logsRoutes(app, deps),
      userChanged: (change) => void tail.closeStreamsOf(change.userId, change.projectId),
      deviceDeleted,
      async start() {
        timer = setInterval(
          () => void retain().catch((err) => log.error({ err }, "logs: retention failed")),
          o.retainEveryMs ?? DEFAULT_RETAIN_EVERY_MS,
        );
        timer.unref();
      },
      close,
    };
  },
};
