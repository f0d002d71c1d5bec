/**
 * Alerts and webhooks, server side (docs/protocol.md §16): rules on metrics, presence and log
 * lines, evaluated from state kept on ingest (./engine.ts), notifications to signed webhooks
 * through a stored, retried queue (./webhooks.ts), and the REST API (./routes.ts). The server
 * attaches the metric store, the logs capability and presence after every capability exists.
 */
import { ALERT_LIMITS } from "@tether/protocol";
import type { CapabilityModule } from "../../capability.js";
import { AlertEngine, type AlertSources, type AlertsOptions } from "./engine.js";
import { alertsMigrations } from "./migrations.js";
import { alertsRoutes } from "./routes.js";
import { alertsDb } from "./schema.js";
import { AlertsService } from "./service.js";
import { Deliveries, type DeliveryOptions } from "./webhooks.js";

export type { AlertSources } from "./engine.js";

export const DEFAULT_ALERTS: AlertsOptions & DeliveryOptions = {
  evalMs: 1000,
  staleMs: 5 * 60_000,
  resolvedKeepMs: 60 * 60_000,
  refreshMs: 30_000,
  historyPerProject: ALERT_LIMITS.historyPerProject,
  deliveriesPerWebhook: ALERT_LIMITS.deliveriesPerWebhook,
  timeoutMs: 10_000,
  maxAttempts: 6,
  backoffMs: 1000,
  maxAgeMs: 10 * 60_000,
  maxPending: 1000,
};

export interface AlertsApi {
  /** Listen to stored metric samples, stored log lines and presence changes. */
  attach(sources: AlertSources): void;
  /** One evaluation now (tests; normally every evalMs). `now` defaults to the clock. */
  evaluate(now?: number): Promise<void>;
  /** Resolves when no webhook delivery is waiting or in flight (tests). */
  deliveriesIdle(): Promise<void>;
  /** Reload device labels and presence now (normally every refreshMs). */
  refresh(): Promise<void>;
  close(): Promise<void>;
}

export const alerts: CapabilityModule<never, AlertsApi> = {
  name: "alerts",
  migrations: alertsMigrations,
  create(ctx) {
    const c = ctx.config.alerts ?? {};
    const o = {
      ...DEFAULT_ALERTS,
      ...(c.evalMs !== undefined ? { evalMs: Math.min(1000, Math.max(10, c.evalMs)) } : {}),
      ...(c.staleMs !== undefined ? { staleMs: c.staleMs } : {}),
      ...(c.resolvedKeepMs !== undefined ? { resolvedKeepMs: c.resolvedKeepMs } : {}),
      ...(c.refreshMs !== undefined ? { refreshMs: c.refreshMs } : {}),
      ...(c.webhookTimeoutMs !== undefined ? { timeoutMs: c.webhookTimeoutMs } : {}),
      ...(c.webhookMaxAttempts !== undefined ? { maxAttempts: c.webhookMaxAttempts } : {}),
      ...(c.webhookBackoffMs !== undefined ? { backoffMs: c.webhookBackoffMs } : {}),
      ...(c.webhookMaxAgeMs !== undefined ? { maxAgeMs: c.webhookMaxAgeMs } : {}),
      ...(c.webhookMaxPending !== undefined ? { maxPending: c.webhookMaxPending } : {}),
    };
    const log = ctx.log.child({ part: "alerts" });
    const clock = c.clock ?? Date.now;
    const deliveries = new Deliveries(alertsDb(ctx.db), log, o);
    const engine = new AlertEngine(ctx.db, log, o, deliveries, clock, ctx.config.publicUrl);
    const service = new AlertsService(engine, ctx.audit, ctx.devices);
    // Loaded before the routes answer and before ingest reaches the listeners.
    const loaded = engine.load();
    loaded.catch((err) => log.error({ err }, "alerts could not load their state"));
    let timer: NodeJS.Timeout | undefined;
    let closed = false;

    const api: AlertsApi = {
      attach: (s) => engine.attach(s),
      evaluate: async (now) => {
        await loaded;
        await engine.evaluate(now);
      },
      deliveriesIdle: () => deliveries.idle(),
      refresh: async () => {
        await loaded;
        await engine.refresh();
      },
      close: async () => {
        if (closed) return;
        closed = true;
        clearInterval(timer);
        engine.close();
        await engine.settled();
        deliveries.close();
      },
    };

    return {
      name: "alerts",
      api,
      up: {},
      routes: async (app) => {
        app.addHook("onRequest", async () => {
          await loaded;
        });
        await alertsRoutes(app, service);
      },
      deviceDeleted: (id) => engine.deviceDeleted(id),
      async start() {
        await loaded;
        // After a restart every device is offline until it reconnects (presence was reset).
        await engine.refreshPresence();
        await deliveries.load();
        timer = setInterval(() => void engine.evaluate().catch(() => {}), o.evalMs);
        timer.unref();
      },
      close: () => api.close(),
    };
  },
};
