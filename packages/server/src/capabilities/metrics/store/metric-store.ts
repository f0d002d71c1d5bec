/**
 * The metric store (docs/protocol.md §14.4; contract in ./types.ts) over the telemetry
 * database, SQLite or PostgreSQL.
 *
 * Ingest: one transaction for a group of batches; per batch the sequence claim, then its
 * accepted samples as one `metric_recent` row (no per-sample SQL). New series are inserted in
 * the same transaction. The in-memory caches (registry, newest sample, key-figure rings) are
 * updated only after the commit, and rebuilt from the database on a miss.
 * Compaction turns recent rows into hour chunks (compaction.ts), finished days into day chunks
 * and 1-hour buckets (consolidation.ts), and expiring raw data into 1-minute buckets
 * (expiry.ts); queries read what holds each sample and retry when one of those pages committed
 * in between (so no sample is counted twice or lost). On PostgreSQL those tables are
 * partitioned by day (partitions.ts): each pass creates the days it writes, and drops the days
 * retention is done with.
 */
import { KEY_FIGURES, type KeyFigure, TELEMETRY_LIMITS, TetherError } from "@tether/protocol";
import { type Kysely, sql } from "kysely";
import type { Logger } from "pino";
import type { Dialect } from "../../../store/db.js";
import {
  type IncomingBatch,
  Mutex,
  type SeqClaim,
  type StreamIngestResult,
} from "../../../telemetry/index.js";
import { ByteWriter } from "./bytes.js";
import { MINUTE } from "./chunk-io.js";
import { compactPage } from "./compaction.js";
import { consolidatePage, consolidationBoundary } from "./consolidation.js";
import { applyRetention, expirePage } from "./expiry.js";
import { assignSids, type PrepareContext, type PreparedBatch, prepareBatch } from "./ingest.js";
import { combineFigure, FIGURES } from "./key-figures.js";
import { createPartitions } from "./partitions.js";
import { collect, newest, resolutionFor } from "./query.js";
import { encodeRecent } from "./recent-codec.js";
import { type DeviceSeries, type SeriesInfo, SeriesRegistry, seriesKey } from "./series-registry.js";
import { slices } from "./sql-util.js";
import { aggregate, stepCount } from "./steps.js";
import type {
  DeviceSummary,
  LatestSample,
  MetricStore,
  MetricStoreStats,
  RangeQuery,
  RangeResult,
  RetentionPolicy,
  StoredSamples,
} from "./types.js";
import { labelsMatch } from "./validate.js";

export interface MetricStoreOptions {
  db: Kysely<any>;
  dialect: Dialect;
  log: Logger;
  retention?: Partial<RetentionPolicy>;
  maxSeriesPerDevice?: number;
  compactAfterMs?: number;
  now?: () => number;
}

export const DEFAULT_RETENTION: RetentionPolicy = {
  rawMs: 7 * 86_400_000,
  minuteMs: 30 * 86_400_000,
  hourMs: 400 * 86_400_000,
};
/** Steps one range query may have (a week at 1 min is 10 080). */
export const MAX_STEPS = 11_000;
/** Points (series × steps) one range answer may hold; more series are cut (truncated). */
export const MAX_RANGE_POINTS = 2_000_000;
/** A figure's series count toward the summary while they reported within this of the device's newest sample. */
const FRESH_MS = 15 * MINUTE;
const RECENT_INSERT_ROWS = 100;
const SERIES_INSERT_ROWS = 200;

export function createMetricStore(o: MetricStoreOptions): MetricStore {
  const { db, log } = o;
  const now = o.now ?? Date.now;
  const retention: RetentionPolicy = { ...DEFAULT_RETENTION, ...o.retention };
  const maxSeriesPerDevice = o.maxSeriesPerDevice ?? TELEMETRY_LIMITS.maxSeriesPerDevice;
  const compactAfterMs = o.compactAfterMs ?? 10 * MINUTE;
  const registry = new SeriesRegistry(maxSeriesPerDevice * 2);
  const writer = new ByteWriter(64 * 1024);
  const ingestLock = new Mutex();
  const compactLock = new Mutex();
  const listeners = new Set<(s: StoredSamples) => void>();
  const partitions = createPartitions({ db, dialect: o.dialect, log, retention });
  const counters = {
    series: 0,
    recentRows: 0,
    chunks: 0,
    samplesStored: 0,
    seriesLimitDrops: 0,
    lastCompactionMs: null as number | null,
  };
  /** Bumped when a compaction page starts and when it ends: odd while one runs. */
  let compactGen = 0;
  let page: Promise<unknown> = Promise.resolve();
  let closed = false;

  const ready = (async () => {
    const c = await sql<{ s: number | string; r: number | string; c: number | string }>`
      select (select count(*) from metric_series) as s, (select count(*) from metric_recent) as r,
             (select count(*) from metric_chunks) + (select count(*) from metric_hour_chunks) as c`.execute(
      db,
    );
    const row = c.rows[0]!;
    counters.series = Number(row.s);
    counters.recentRows = Number(row.r);
    counters.chunks = Number(row.c);
  })();
  ready.catch(() => {});

  function open(): void {
    if (closed) throw new Error("the metric store is closed");
  }

  function onLimit(dev: DeviceSeries): void {
    const t = now();
    if (t - dev.lastLimitWarn < MINUTE) return;
    dev.lastLimitWarn = t;
    log.warn(
      { deviceId: dev.id, code: "TETHER_ERR_SERIES_LIMIT", maxSeriesPerDevice },
      "TETHER_ERR_SERIES_LIMIT: device reached its metric series limit; samples of new series are dropped and counted",
    );
  }

  async function insertSeries(trx: Kysely<any>, created: SeriesInfo[]): Promise<void> {
    const at = now();
    for (const part of slices(created, SERIES_INSERT_ROWS)) {
      const values = part.map((s) => sql`(${s.deviceId}, ${s.name}, ${s.labelsJson}, ${s.kind}, ${at})`);
      const { rows } = await sql<{ id: number; device_id: string; name: string; labels: string }>`
        insert into metric_series (device_id, name, labels, kind, created) values ${sql.join(values)}
        returning id, device_id, name, labels`.execute(trx);
      const ids = new Map(rows.map((r) => [`${r.device_id}\n${seriesKey(r.name, r.labels)}`, Number(r.id)]));
      for (const s of part) {
        const id = ids.get(`${s.deviceId}\n${seriesKey(s.name, s.labelsJson)}`);
        if (id === undefined) throw new Error(`series ${s.name} was not stored`);
        registry.stored(s, id);
      }
    }
  }

  /** After the commit: newest samples, key-figure rings, listeners. */
  function afterCommit(p: PreparedBatch): void {
    const dev = registry.peek(p.deviceId);
    const { times, values } = p.cols;
    const stored: StoredSamples | undefined =
      listeners.size > 0 ? { deviceId: p.deviceId, series: [] } : undefined;
    let start = 0;
    for (let r = 0; r < p.runs.length; r++) {
      const s = p.runs[r]!;
      const end = p.runEnd[r]!;
      for (let i = start; i < end; i++) {
        const t = times[i]!;
        if (!(t < s.lastAt)) {
          s.lastAt = t;
          s.lastValue = values[i]!;
        }
        if (dev && !(t <= dev.newestAt)) dev.newestAt = t;
        if (s.figure >= 0 && dev) dev.ring.add(s.figure, t, values[i]!);
      }
      if (stored) {
        const points: [number, number][] = [];
        for (let i = start; i < end; i++) points.push([times[i]!, values[i]!]);
        stored.series.push({ name: s.name, labels: s.labels, points });
      }
      start = end;
    }
    if (stored) {
      for (const l of listeners) {
        try {
          l(stored);
        } catch (err) {
          log.error({ err }, "a metric listener failed");
        }
      }
    }
  }

  async function ingest(
    batches: IncomingBatch[],
    claim: SeqClaim,
  ): Promise<(StreamIngestResult | "duplicate")[]> {
    return ingestLock.run(async () => {
      open();
      await ready;
      // Registries are read before the transaction: on SQLite it holds the only connection.
      for (const id of new Set(batches.map((b) => b.device.id))) await registry.device(db, id);
      const created: SeriesInfo[] = [];
      const ctx: PrepareContext = { registry, maxSeriesPerDevice, created, onLimit };
      const prepared: (PreparedBatch | null)[] = [];
      let rows = 0;
      try {
        await db.transaction().execute(async (trx) => {
          for (const b of batches) {
            if (!(await claim(trx, b))) {
              prepared.push(null);
              continue;
            }
            prepared.push(prepareBatch(ctx, registry.peek(b.device.id)!, b));
          }
          if (created.length > 0) await insertSeries(trx, created);
          const values = [];
          for (const p of prepared) {
            if (!p || p.cols.n === 0) continue;
            assignSids(p);
            values.push(
              sql`(${p.deviceId}, ${p.tMin}, ${p.tMax}, ${p.cols.n}, ${encodeRecent(writer, p.cols)})`,
            );
          }
          for (const part of slices(values, RECENT_INSERT_ROWS)) {
            await sql`insert into metric_recent (device_id, t_min, t_max, n, data) values ${sql.join(part)}`.execute(
              trx,
            );
          }
          rows = values.length;
        });
      } catch (err) {
        registry.rollback(created);
        throw err;
      }
      counters.series += created.length;
      counters.recentRows += rows;
      const results: (StreamIngestResult | "duplicate")[] = [];
      for (const p of prepared) {
        if (!p) {
          results.push("duplicate");
          continue;
        }
        counters.samplesStored += p.cols.n;
        counters.seriesLimitDrops += p.dropped["series-limit"] ?? 0;
        afterCommit(p);
        results.push({ accepted: p.cols.n, dropped: p.dropped });
      }
      return results;
    });
  }

  async function ensureLatest(dev: DeviceSeries): Promise<void> {
    if (dev.latestLoaded) return;
    const found = await consistent(() =>
      newest(
        db,
        dev.id,
        dev.list.filter((s) => s.id >= 0).map((s) => s.id),
      ),
    );
    for (const s of dev.list) {
      const n = found.get(s.id);
      if (n && !(n.t < s.lastAt)) {
        s.lastAt = n.t;
        s.lastValue = n.v;
      }
      if (!(s.lastAt <= dev.newestAt)) dev.newestAt = s.lastAt;
    }
    dev.latestLoaded = true;
  }

  /** Run reads again when a compaction page committed meanwhile (data moved from recent rows to chunks). */
  async function consistent<T>(read: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      await page;
      const g = compactGen;
      const r = await read();
      if ((g === compactGen && g % 2 === 0) || attempt >= 5) return r;
    }
  }

  async function range(q: RangeQuery): Promise<RangeResult> {
    open();
    await ready;
    if (!(q.stepMs >= 1) || !Number.isFinite(q.from) || !Number.isFinite(q.to) || q.to <= q.from) {
      throw new TetherError("TETHER_ERR_BAD_REQUEST", "a range needs from < to and a step of at least 1 ms");
    }
    const steps = stepCount(q.from, q.to, q.stepMs);
    if (steps > MAX_STEPS) {
      throw new TetherError(
        "TETHER_ERR_BAD_REQUEST",
        `the range has ${steps} steps; at most ${MAX_STEPS} (use a larger step)`,
      );
    }
    let resolution = resolutionFor(q.stepMs);
    // A counter reset inside a bucket hides the increase before it; rates read the finest rollup
    // still kept, where that is at most one minute's worth.
    if (q.agg === "rate" && resolution === "1h" && q.from >= now() - retention.minuteMs) resolution = "1m";
    const limit = Math.max(0, Math.min(q.limit, Math.floor(MAX_RANGE_POINTS / Math.max(steps, 1))));
    const matched: SeriesInfo[] = [];
    let truncated = false;
    for (const id of q.deviceIds) {
      const dev = await registry.device(db, id);
      for (const s of dev.list) {
        if (s.id < 0 || s.name !== q.metric || !labelsMatch(s.labels, q.labels)) continue;
        if (matched.length >= limit) truncated = true;
        else matched.push(s);
      }
    }
    // A rate needs the sample before the range too (the increase into the first step).
    const ext = q.agg === "rate" ? q.stepMs : 0;
    const devices = [...new Set(matched.map((s) => s.deviceId))];
    const entries = await consistent(() =>
      collect(
        db,
        resolution,
        matched.map((s) => s.id),
        devices,
        q.from - ext,
        q.to,
      ),
    );
    return {
      resolution,
      truncated,
      series: matched.map((s) => ({
        deviceId: s.deviceId,
        name: s.name,
        labels: s.labels,
        points: aggregate(entries.get(s.id)!, q.from, q.to, q.stepMs, q.agg),
      })),
    };
  }

  async function devicesWithLatest(ids: string[]): Promise<DeviceSeries[]> {
    const out: DeviceSeries[] = [];
    for (const id of ids) {
      const dev = await registry.device(db, id);
      await ensureLatest(dev);
      out.push(dev);
    }
    return out;
  }

  async function summary(
    deviceIds: string[],
    so: { now?: number; sparks?: KeyFigure[] } = {},
  ): Promise<DeviceSummary[]> {
    open();
    await ready;
    const at = so.now ?? now();
    const sparks = (so.sparks ?? ["cpu"]).filter((f) => f in KEY_FIGURES);
    const out: DeviceSummary[] = [];
    for (const dev of await devicesWithLatest(deviceIds)) {
      if (!dev.ring.loaded && sparks.length > 0) await loadRing(dev, at);
      const newestAt = dev.newestAt;
      const figures = {} as Record<KeyFigure, number | null>;
      for (const f of FIGURES) figures[f] = null;
      for (const s of dev.figureSeries) {
        if (s.figure < 0 || !(s.lastAt >= newestAt - FRESH_MS)) continue;
        const f = FIGURES[s.figure]!;
        const cur = figures[f];
        figures[f] = cur === null ? s.lastValue : combineFigure(s.figure, cur, s.lastValue);
      }
      const spark: DeviceSummary["spark"] = {};
      for (const f of sparks) spark[f] = dev.ring.spark(FIGURES.indexOf(f), at);
      out.push({ deviceId: dev.id, at: Number.isNaN(newestAt) ? null : newestAt, figures, spark });
    }
    return out;
  }

  /** Rebuild a device's key-figure ring from the last hour of stored data. */
  async function loadRing(dev: DeviceSeries, at: number): Promise<void> {
    const figureSeries = dev.figureSeries.filter((s) => s.id >= 0);
    if (figureSeries.length > 0) {
      const from = (Math.floor(at / MINUTE) - 59) * MINUTE;
      const to = from + 60 * MINUTE;
      const entries = await consistent(() =>
        collect(
          db,
          "1m",
          figureSeries.map((s) => s.id),
          [dev.id],
          from,
          to,
        ),
      );
      for (const s of figureSeries) {
        const agg = KEY_FIGURES[FIGURES[s.figure]!].combine === "max" ? "max" : "min";
        for (const [t, v] of aggregate(entries.get(s.id)!, from, to, MINUTE, agg)) {
          if (v !== null) dev.ring.add(s.figure, t, v);
        }
      }
    }
    dev.ring.loaded = true;
  }

  return {
    ingest,
    range,
    summary,

    async names(deviceId) {
      open();
      await ready;
      const [dev] = await devicesWithLatest([deviceId]);
      return dev!.list
        .filter((s) => s.id >= 0)
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.labelsJson < b.labelsJson ? -1 : 1))
        .map((s) => ({
          name: s.name,
          labels: s.labels,
          kind: s.kind,
          lastAt: Number.isNaN(s.lastAt) ? null : s.lastAt,
          lastValue: Number.isNaN(s.lastAt) ? null : s.lastValue,
        }));
    },

    async latest(q) {
      open();
      await ready;
      const out: LatestSample[] = [];
      for (const dev of await devicesWithLatest(q.deviceIds)) {
        for (const s of dev.list) {
          if (s.id < 0 || Number.isNaN(s.lastAt)) continue;
          if (q.metric !== undefined && s.name !== q.metric) continue;
          if (!labelsMatch(s.labels, q.labels)) continue;
          out.push({
            deviceId: s.deviceId,
            name: s.name,
            labels: s.labels,
            kind: s.kind,
            value: s.lastValue,
            at: s.lastAt,
          });
        }
      }
      return out;
    },

    onStored(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },

    compact(at = now()) {
      return compactLock.run(async () => {
        open();
        await ready;
        const cutoff = at - compactAfterMs;
        let rows = 0;
        let chunks = 0;
        let deleted = 0;
        /** One page in its own transaction, marked for readers (see consistent()). */
        const step = async <T>(fn: (trx: Kysely<any>) => Promise<T>): Promise<T> => {
          compactGen++;
          const p = db.transaction().execute(fn);
          page = p.catch(() => {});
          try {
            return await p;
          } finally {
            compactGen++;
          }
        };
        // Recent rows of finished hours → hour chunks; finished (or expiring) days → day
        // chunks and 1-hour buckets; expired day chunks → 1-minute buckets. On PostgreSQL the
        // days these write get their partitions first, and the days emptied are dropped.
        await partitions.ahead(at);
        const ensure = partitions.ensurer(at);
        for (;;) {
          const r = await step((trx) => compactPage(trx, cutoff, ensure));
          if (!r) break;
          rows += r.rows;
          chunks += r.chunks;
        }
        const boundary = consolidationBoundary(cutoff, at, retention.rawMs);
        for (;;) {
          const r = await step((trx) => consolidatePage(trx, boundary, ensure));
          if (!r) break;
          chunks += r.days;
        }
        await partitions.dropEmpty("metric_hour_chunks", boundary);
        const expiring = { ensure, startsBefore: partitions.startsBefore };
        for (;;) {
          const r = await step((trx) => expirePage(trx, at, retention, expiring));
          if (r === null) break;
          deleted += r;
        }
        await partitions.dropEmpty("metric_chunks", at - retention.rawMs);
        deleted += await applyRetention(db, at, retention, partitions);
        const c = await sql<{ r: number | string; c: number | string }>`
          select (select count(*) from metric_recent) as r,
            (select count(*) from metric_chunks) + (select count(*) from metric_hour_chunks) as c`.execute(
          db,
        );
        counters.recentRows = Number(c.rows[0]!.r);
        counters.chunks = Number(c.rows[0]!.c);
        counters.lastCompactionMs = at;
        return { rows, chunks, deleted };
      });
    },

    dropDevice(deviceId) {
      return ingestLock.run(() =>
        compactLock.run(async () => {
          open();
          await ready;
          const removed = await db.transaction().execute(async (trx) => {
            const ids = sql`(select id from metric_series where device_id = ${deviceId})`;
            await sql`delete from metric_chunks where series_id in ${ids}`.execute(trx);
            await sql`delete from metric_hour_chunks where series_id in ${ids}`.execute(trx);
            await sql`delete from metric_rollups where series_id in ${ids}`.execute(trx);
            await sql`delete from metric_rollups_1h where series_id in ${ids}`.execute(trx);
            const r = await sql`delete from metric_recent where device_id = ${deviceId}`.execute(trx);
            const s = await sql`delete from metric_series where device_id = ${deviceId}`.execute(trx);
            return { recent: Number(r.numAffectedRows ?? 0n), series: Number(s.numAffectedRows ?? 0n) };
          });
          registry.drop(deviceId);
          counters.series -= removed.series;
          counters.recentRows -= removed.recent;
        }),
      );
    },

    stats(): MetricStoreStats {
      return { ...counters };
    },

    async close() {
      // Let a running ingest or compaction finish; the database belongs to the telemetry layer.
      await ingestLock.run(async () => {});
      await compactLock.run(async () => {});
      closed = true;
      listeners.clear();
    },
  };
}
