/**
 * The metrics REST API (docs/protocol.md §14.5): names of a device's series, range queries,
 * top-N, the fleet summary, the live stream (SSE), the Prometheus exposition of the project's
 * latest values, and the server's own health. Every answer names devices by name and id;
 * every request stays inside the caller's project.
 */
import {
  DeviceMetricNames,
  FleetSummary,
  type MetricGap,
  MetricRangeQuery,
  MetricRangeResult,
  type MetricRangeSeries,
  MetricTopQuery,
  MetricTopResult,
  TetherError,
} from "@tether/protocol";
import type { FastifyInstance } from "fastify";
import { Type } from "typebox";
import type { Accounts } from "../../accounts.js";
import type { Devices } from "../../devices.js";
import { who } from "../../http/auth.js";
import type { TelemetryLayer } from "../../telemetry/index.js";
import { deviceFamilies } from "./device-export.js";
import type { LiveHub } from "./live.js";
import { EXPOSITION_CONTENT_TYPE, exposition } from "./prometheus.js";
import { resolveScope, type Scope } from "../../query/scope.js";
import type { ServerMetrics } from "./server-metrics.js";
import type { MetricStore } from "./store/types.js";
import { fleetSummary } from "./summary.js";
import { parseLabelFilter, resolveRange } from "../../query/time-range.js";

export interface MetricsRouteDeps {
  devices: Devices;
  accounts: Pick<Accounts, "isServerAdmin">;
  store: MetricStore;
  telemetry: Pick<TelemetryLayer, "gaps" | "uploadState">;
  live: LiveHub;
  server: ServerMetrics;
  now?: () => number;
}

/** Gaps in one answer (the newest; a chart cannot draw thousands). */
const MAX_GAPS = 1000;
const DEFAULT_TOP = 10;

function where(q: { device?: string; selector?: string }): string {
  if (q.device !== undefined) return `device ${q.device}`;
  if (q.selector !== undefined) return `devices matching ${q.selector}`;
  return "any device of this project";
}

function needDevices(s: Scope, q: { device?: string; selector?: string }): void {
  if (s.ids.length === 0)
    throw new TetherError(
      "TETHER_ERR_NO_DEVICES_MATCH",
      `no device matches the selector ${q.selector ?? ""}`,
    );
}

export async function metricsRoutes(app: FastifyInstance, d: MetricsRouteDeps): Promise<void> {
  const now = d.now ?? Date.now;

  app.get(
    "/api/v1/devices/:ref/metrics",
    {
      schema: {
        tags: ["metrics"],
        summary:
          "The metric series a device has reported, each with its newest sample; its clock skew and last upload",
        params: Type.Object({ ref: Type.String({ minLength: 1, maxLength: 128 }) }),
        response: { 200: DeviceMetricNames },
      },
    },
    async (req): Promise<DeviceMetricNames> => {
      const p = who(req);
      const dev = await d.devices.find(p.projectId, (req.params as { ref: string }).ref);
      const [series, up] = await Promise.all([d.store.names(dev.id), d.telemetry.uploadState([dev.id])]);
      const u = up.get(dev.id);
      return {
        device: dev.name,
        deviceId: dev.id,
        series,
        skewMs: u?.skewMs ?? null,
        lastUploadAt: u ? new Date(u.lastUploadAt).toISOString() : null,
      };
    },
  );

  app.get(
    "/api/v1/metrics/query",
    {
      schema: {
        tags: ["metrics"],
        summary:
          "A metric over time for one device or a selector: one point per step (aggregated), with the gaps recorded in the range. Default: the last hour, step = range / 120",
        querystring: MetricRangeQuery,
        response: { 200: MetricRangeResult },
      },
    },
    async (req): Promise<MetricRangeResult> => {
      const p = who(req);
      const q = req.query as MetricRangeQuery;
      const { from, to, stepMs } = resolveRange(q, now());
      const labels = parseLabelFilter(q.labels);
      const scope = await resolveScope(d.devices, p, q);
      needDevices(scope, q);
      const agg = q.agg ?? "avg";
      const [r, gaps] = await Promise.all([
        d.store.range({
          deviceIds: scope.ids,
          metric: q.metric,
          labels,
          from,
          to,
          stepMs,
          agg,
          limit: q.limit ?? 100,
        }),
        // The layer's window is inclusive; the query's end is not.
        d.telemetry.gaps({ deviceIds: scope.ids, stream: "metrics", from, to: to - 1, limit: MAX_GAPS }),
      ]);
      if (r.series.length === 0) {
        // No data in the range is an empty answer; a metric the devices never reported is a 404.
        const known = await d.store.latest({ deviceIds: scope.ids, metric: q.metric, labels });
        if (known.length === 0)
          throw new TetherError(
            "TETHER_ERR_METRIC_NOT_FOUND",
            `no metric ${q.metric}${q.labels ? ` with labels ${q.labels}` : ""} for ${where(q)}`,
          );
      }
      const name = (id: string) => scope.byId.get(id)?.name ?? id;
      const series: MetricRangeSeries[] = r.series.map((s) => ({
        device: name(s.deviceId),
        deviceId: s.deviceId,
        name: s.name,
        labels: s.labels,
        points: s.points,
      }));
      const gapRows: MetricGap[] = gaps.map((g) => ({
        device: name(g.deviceId),
        deviceId: g.deviceId,
        from: g.from,
        to: g.to,
        count: g.count,
        reason: g.reason,
        ...(g.detail !== undefined ? { detail: g.detail } : {}),
      }));
      return {
        metric: q.metric,
        from,
        to,
        stepMs,
        agg,
        resolution: r.resolution,
        series,
        gaps: gapRows,
        truncated: r.truncated,
      };
    },
  );

  app.get(
    "/api/v1/metrics/top",
    {
      schema: {
        tags: ["metrics"],
        summary:
          "Devices ranked by the latest value of a metric (e.g. the ten hottest at site=tokyo); a device with several series ranks by its highest (desc) or lowest (asc)",
        querystring: MetricTopQuery,
        response: { 200: MetricTopResult },
      },
    },
    async (req): Promise<MetricTopResult> => {
      const p = who(req);
      const q = req.query as MetricTopQuery;
      const labels = parseLabelFilter(q.labels);
      const scope = await resolveScope(d.devices, p, { selector: q.selector });
      needDevices(scope, q);
      const latest = await d.store.latest({ deviceIds: scope.ids, metric: q.metric, labels });
      if (latest.length === 0)
        throw new TetherError("TETHER_ERR_METRIC_NOT_FOUND", `no metric ${q.metric} for ${where(q)}`);
      const asc = q.order === "asc";
      const best = new Map<string, (typeof latest)[number]>();
      for (const s of latest) {
        if (!Number.isFinite(s.value)) continue;
        const b = best.get(s.deviceId);
        if (!b || (asc ? s.value < b.value : s.value > b.value)) best.set(s.deviceId, s);
      }
      const rows = [...best.values()]
        .sort((a, b) => (asc ? a.value - b.value : b.value - a.value))
        .slice(0, q.limit ?? DEFAULT_TOP)
        .map((s) => ({
          device: scope.byId.get(s.deviceId)?.name ?? s.deviceId,
          deviceId: s.deviceId,
          labels: s.labels,
          value: s.value,
          at: s.at,
        }));
      return { metric: q.metric, rows };
    },
  );

  app.get(
    "/api/v1/metrics/summary",
    {
      schema: {
        tags: ["metrics"],
        summary:
          "Every accepted device (matching the selector) with its latest key figures (cpu, memory, disk, temperature, battery) and an hour of CPU at 1 min step",
        querystring: Type.Object({ selector: Type.Optional(Type.String({ maxLength: 512 })) }),
        response: { 200: FleetSummary },
      },
    },
    async (req): Promise<FleetSummary> => {
      const p = who(req);
      const { selector } = req.query as { selector?: string };
      const scope = await resolveScope(d.devices, p, { selector }, { acceptedOnly: true });
      const devices = await fleetSummary(
        { store: d.store, uploadState: (ids) => d.telemetry.uploadState(ids) },
        scope.rows,
        now(),
      );
      return { devices };
    },
  );

  app.get(
    "/api/v1/metrics/stream",
    {
      schema: {
        tags: ["metrics"],
        summary:
          "Server-Sent Events: `samples` (LiveSamples) as a device's batches are stored, for one device, a selector, or the whole project; a comment every 15 s. EventSource clients may pass `project` in the query.",
        querystring: Type.Object({
          device: Type.Optional(Type.String({ maxLength: 128 })),
          selector: Type.Optional(Type.String({ maxLength: 512 })),
          project: Type.Optional(Type.String({ maxLength: 64 })),
        }),
      },
    },
    async (req, reply) => {
      const p = who(req);
      const q = req.query as { device?: string; selector?: string };
      const scope = await resolveScope(d.devices, p, q);
      needDevices(scope, q);
      const names = new Map(scope.rows.map((r) => [r.id, r.name]));
      try {
        d.live.open(p, names, req.raw, reply.raw, () => reply.hijack());
      } catch (err) {
        if (err instanceof TetherError)
          req.log.warn(
            { user: p.username, limit: d.live.o.maxPerUser },
            "live metrics stream refused: the user has the most streams open",
          );
        throw err;
      }
    },
  );

  app.get(
    "/api/v1/metrics/prometheus",
    {
      schema: {
        tags: ["metrics"],
        summary:
          "Prometheus text exposition (0.0.4) of the latest value of every series of the project, labelled device, device_id and project: point Prometheus or Grafana Agent here with an API token (viewer is enough)",
      },
    },
    async (req, reply) => {
      const p = who(req);
      const rows = await d.devices.list(p.projectId);
      const latest = rows.length ? await d.store.latest({ deviceIds: rows.map((r) => r.id) }) : [];
      const text = exposition(deviceFamilies(latest, new Map(rows.map((r) => [r.id, r])), p.project));
      return reply
        .header("content-type", EXPOSITION_CONTENT_TYPE)
        .header("cache-control", "no-store")
        .send(text);
    },
  );

  app.get(
    "/api/v1/server/metrics",
    {
      schema: {
        tags: ["metrics"],
        summary:
          "The server's own health in the Prometheus text format: devices, online, telemetry ingest, metric store, remote write, process (server admin only)",
      },
    },
    async (req, reply) => {
      const p = who(req);
      if (!(await d.accounts.isServerAdmin(p.userId)))
        throw new TetherError("TETHER_ERR_FORBIDDEN", "the server's metrics are for the server admin only");
      const text = exposition(await d.server.families());
      return reply
        .header("content-type", EXPOSITION_CONTENT_TYPE)
        .header("cache-control", "no-store")
        .send(text);
    },
  );
}
