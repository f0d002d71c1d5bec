/**
 * The log store (docs/protocol.md §15) over the telemetry database, SQLite or PostgreSQL.
 *
 * Ingest: the "logs" stream handler. One transaction per group of batches (group commit); per
 * batch the sequence claim, then the group's valid lines and gap lines in few statements
 * (SQLite: multi-row VALUES; PostgreSQL: one INSERT … SELECT FROM unnest(column arrays) per
 * 10,000 rows), and the projects' byte counts, all in that transaction (exactly once). Lines that fail
 * validation are dropped and counted by reason; the batch is never refused for them.
 *
 * Search walks ids newest first in windows that grow ×4 (id ranges are cheap for the FTS
 * index and the (project_id, id) / (device_id, id) indexes alike), so a common term stops
 * after the first page and a rare one only visits its own matches; a walk is bounded in time
 * and then answers a partial page with a cursor.
 *
 * Retention deletes the oldest ids in bounded batches: by receipt age, and per project by
 * message bytes.
 */
import {
  LOG_LEVELS,
  LOG_LIMITS,
  type LogLevel,
  type LogLine,
  TetherError,
  cutMark,
  levelFromPriority,
} from "@tether/protocol";
import { type Kysely, type RawBuilder, sql } from "kysely";
import type { Logger } from "pino";
import type { Dialect } from "../../store/db.js";
import {
  type IncomingBatch,
  Mutex,
  type SeqClaim,
  type StreamHandler,
  type StreamIngestResult,
} from "../../telemetry/index.js";
import { ftsMatch, parseTerms, pgTsQuery, type Term } from "./terms.js";

export const DAY = 86_400_000;
export const DEFAULT_LOG_RETENTION_MS = 7 * DAY;
export const DEFAULT_LOG_MAX_BYTES = 1024 ** 3;
/** Rows one retention transaction deletes. */
export const RETAIN_BATCH = 5000;
/** Rows one SQLite insert statement carries (15 parameters a row; SQLite allows 32,766). */
const INSERT_ROWS = 1000;
/** Rows one PostgreSQL insert statement carries (15 array parameters, whatever the row count). */
const PG_INSERT_ROWS = 10_000;
const MAX_ABS_TIME = 4e15;
/** Receipt times are not strictly increasing with ids (group commit): slack for id bounds by time. */
const RECEIPT_SLACK_MS = 5 * 60_000;
const FIRST_WINDOW = 8192;

/** A stored line, device name aside (the tail and listeners). */
export type StoredRow = Omit<LogLine, "device"> & { projectId: number; deviceName: string };

interface Prepared {
  deviceId: string;
  deviceName: string;
  projectId: number;
  rows: Omit<StoredRow, "id">[];
  bytes: number;
  accepted: number;
  dropped: Record<string, number>;
}

export interface LogFilter {
  projectId: number;
  /** Undefined: every device of the project. */
  deviceIds?: string[];
  source?: string;
  unit?: string;
  minLevel?: LogLevel;
  /** Server-corrected time window [since, until). */
  since?: number;
  until?: number;
  terms?: Term[];
}

export interface PageQuery extends LogFilter {
  limit: number;
  /** Only ids below this (a cursor). */
  before?: number;
  /** Only ids above this (tail resume). */
  after?: number;
  /** Give up after this long and answer a partial page with a cursor (ms). */
  budgetMs?: number;
}

export interface Page {
  rows: DbRow[];
  /** Ids below this may hold more matches; null when the walk reached its end. */
  next: number | null;
}

export interface DbRow {
  id: number | string;
  device_id: string;
  project_id: number | string;
  time: number | string;
  device_time: number | string;
  received_at: number | string;
  source: string;
  level: number | null;
  unit: string | null;
  message: string;
  kind: string;
  gap_count: number | string | null;
  gap_from: number | string | null;
  gap_to: number | string | null;
  gap_reason: string | null;
}

export interface LogStoreOptions {
  db: Kysely<any>;
  dialect: Dialect;
  log: Logger;
  retentionMs?: number;
  maxBytesPerProject?: number;
  now?: () => number;
}

const count = (d: Record<string, number>, reason: string) => {
  d[reason] = (d[reason] ?? 0) + 1;
};
const isLevel = (x: unknown): x is LogLevel =>
  typeof x === "string" && (LOG_LEVELS as readonly string[]).includes(x);
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it escapes
const CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f]/g;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
const wellFormed = (s: string) => s.replace(LONE_SURROGATE, "\uFFFD");
const escapeControl = (s: string) =>
  s.replace(CONTROL, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);

/** Valid UTF-8 (lone surrogates replaced), control characters but tab escaped, cut to maxLineBytes with cutMark. */
export function cleanMessage(msg: string, alreadyCut = 0): { text: string; bytes: number } {
  let text = escapeControl(wellFormed(msg));
  let bytes = Buffer.byteLength(text);
  if (bytes > LOG_LIMITS.maxLineBytes) {
    const buf = Buffer.from(text);
    // Room for the mark (its digits cannot grow past those of the whole size).
    const room = LOG_LIMITS.maxLineBytes - Buffer.byteLength(cutMark(bytes + alreadyCut));
    let end = room;
    while (end > 0 && (buf[end]! & 0xc0) === 0x80) end--; // not inside a character
    text = buf.subarray(0, end).toString() + cutMark(bytes - end + alreadyCut);
    bytes = Buffer.byteLength(text);
  }
  return { text, bytes };
}

const hms = (t: number) => new Date(t).toISOString().slice(11, 19);

/** The message of a gap line. */
export function gapMessage(
  g: { count: number; from: number; to: number; reason: string; detail?: string },
  source: string,
): string {
  const n = g.count.toLocaleString("en-US");
  return `${n} line${g.count === 1 ? "" : "s"} dropped from ${source} between ${hms(g.from)} and ${hms(g.to)} UTC (${g.detail ?? g.reason})`;
}

export function prepareLogBatch(b: IncomingBatch): Prepared {
  const { device, batch, receivedAt, skewMs } = b;
  const dropped: Record<string, number> = {};
  const rows: Prepared["rows"] = [];
  let bytes = 0;
  const base = {
    deviceId: device.id,
    deviceName: device.name,
    projectId: Number(device.project_id),
    receivedAt,
  };
  const lines = Array.isArray(batch.logs) ? (batch.logs as unknown[]) : [];
  for (const x of lines) {
    if (typeof x !== "object" || x === null || Array.isArray(x)) {
      count(dropped, "malformed");
      continue;
    }
    const l = x as Record<string, unknown>;
    if (typeof l.t !== "number" || !Number.isFinite(l.t) || Math.abs(l.t) > MAX_ABS_TIME) {
      count(dropped, "bad-time");
      continue;
    }
    if (typeof l.src !== "string" || l.src.length === 0 || l.src.length > LOG_LIMITS.maxSourceChars) {
      count(dropped, "bad-source");
      continue;
    }
    if (typeof l.msg !== "string") {
      count(dropped, "malformed");
      continue;
    }
    const cut = typeof l.cut === "number" && Number.isSafeInteger(l.cut) && l.cut > 0 ? l.cut : 0;
    const m = cleanMessage(l.msg, cut);
    const pri =
      typeof l.pri === "number" && Number.isInteger(l.pri) && l.pri >= 0 && l.pri <= 7 ? l.pri : undefined;
    const level: LogLevel | null = isLevel(l.lvl) ? l.lvl : pri !== undefined ? levelFromPriority(pri) : null;
    const unit =
      typeof l.unit === "string" && l.unit.length > 0
        ? escapeControl(l.unit.slice(0, LOG_LIMITS.maxUnitChars))
        : undefined;
    const t = Math.round(l.t);
    rows.push({
      ...base,
      time: t + skewMs,
      deviceTime: t,
      source: escapeControl(wellFormed(l.src)),
      level,
      ...(unit ? { unit } : {}),
      message: m.text,
      kind: "line",
    });
    bytes += m.bytes;
  }
  const accepted = rows.length;
  for (const g of batch.gaps ?? []) {
    if ((g.stream ?? batch.stream) !== "logs") continue;
    const source =
      typeof g.source === "string" && g.source.length > 0
        ? g.source.slice(0, LOG_LIMITS.maxSourceChars)
        : "agent";
    const from = Math.round(g.from + skewMs);
    const to = Math.round(g.to + skewMs);
    const message = gapMessage({ ...g, from, to }, source);
    rows.push({
      ...base,
      time: from,
      deviceTime: Math.round(g.from),
      source,
      level: "warn",
      message,
      kind: "gap",
      gap: { count: g.count, from, to, reason: g.reason },
    });
    bytes += Buffer.byteLength(message);
  }
  return { ...base, rows, bytes, accepted, dropped };
}

const levelRank = (l: LogLevel | null) => (l === null ? null : LOG_LEVELS.indexOf(l));

export function rowToStored(r: DbRow, deviceName: string): StoredRow {
  const out: StoredRow = {
    id: String(r.id),
    deviceId: r.device_id,
    deviceName,
    projectId: Number(r.project_id),
    time: Number(r.time),
    deviceTime: Number(r.device_time),
    receivedAt: Number(r.received_at),
    source: r.source,
    level: r.level === null ? null : (LOG_LEVELS[Number(r.level)] ?? null),
    message: r.message,
    kind: r.kind === "gap" ? "gap" : "line",
  };
  if (r.unit !== null) out.unit = r.unit;
  if (r.kind === "gap")
    out.gap = {
      count: Number(r.gap_count ?? 0),
      from: Number(r.gap_from ?? 0),
      to: Number(r.gap_to ?? 0),
      reason: r.gap_reason ?? "",
    };
  return out;
}

const COLUMNS = sql.raw(
  "device_id, project_id, time, device_time, received_at, source, level, unit, message, kind, gap_count, gap_from, gap_to, gap_reason, bytes",
);

/** SQLite: a multi-row VALUES insert (16 parameters a row). */
function sqliteInsert(part: Omit<StoredRow, "id">[]): RawBuilder<{ id: number | string }> {
  const values = part.map(
    (r) =>
      sql`(${r.deviceId}, ${r.projectId}, ${r.time}, ${r.deviceTime}, ${r.receivedAt}, ${r.source}, ${levelRank(r.level)}, ${r.unit ?? null}, ${r.message}, ${r.kind}, ${r.gap?.count ?? null}, ${r.gap?.from ?? null}, ${r.gap?.to ?? null}, ${r.gap?.reason ?? null}, ${Buffer.byteLength(r.message)})`,
  );
  return sql<{
    id: number | string;
  }>`insert into log_lines (${COLUMNS}) values ${sql.join(values)} returning id`;
}

/**
 * PostgreSQL: one statement of 15 array parameters (a column each) unnested into rows, in
 * their order (ORDER BY the ordinality: the identity ids are drawn in that order). Far less
 * for the server to parse and plan than a VALUES list of thousands of tuples.
 */
function pgInsert(part: Omit<StoredRow, "id">[]): RawBuilder<{ id: number | string }> {
  const n = part.length;
  const cols = {
    device: new Array<string>(n),
    project: new Array<number>(n),
    time: new Array<number>(n),
    deviceTime: new Array<number>(n),
    received: new Array<number>(n),
    source: new Array<string>(n),
    level: new Array<number | null>(n),
    unit: new Array<string | null>(n),
    message: new Array<string>(n),
    kind: new Array<string>(n),
    gapCount: new Array<number | null>(n),
    gapFrom: new Array<number | null>(n),
    gapTo: new Array<number | null>(n),
    gapReason: new Array<string | null>(n),
    bytes: new Array<number>(n),
  };
  for (let i = 0; i < n; i++) {
    const r = part[i]!;
    cols.device[i] = r.deviceId;
    cols.project[i] = r.projectId;
    cols.time[i] = r.time;
    cols.deviceTime[i] = r.deviceTime;
    cols.received[i] = r.receivedAt;
    cols.source[i] = r.source;
    cols.level[i] = levelRank(r.level);
    cols.unit[i] = r.unit ?? null;
    cols.message[i] = r.message;
    cols.kind[i] = r.kind;
    cols.gapCount[i] = r.gap?.count ?? null;
    cols.gapFrom[i] = r.gap?.from ?? null;
    cols.gapTo[i] = r.gap?.to ?? null;
    cols.gapReason[i] = r.gap?.reason ?? null;
    cols.bytes[i] = Buffer.byteLength(r.message);
  }
  return sql<{ id: number | string }>`insert into log_lines (${COLUMNS})
    select d, p, t, dt, ra, s, l, u, m, k, gc, gf, gt, gr, b
    from unnest(${cols.device}::text[], ${cols.project}::int4[], ${cols.time}::int8[], ${cols.deviceTime}::int8[],
      ${cols.received}::int8[], ${cols.source}::text[], ${cols.level}::int2[], ${cols.unit}::text[],
      ${cols.message}::text[], ${cols.kind}::text[], ${cols.gapCount}::int8[], ${cols.gapFrom}::int8[],
      ${cols.gapTo}::int8[], ${cols.gapReason}::text[], ${cols.bytes}::int4[])
      with ordinality as x(d, p, t, dt, ra, s, l, u, m, k, gc, gf, gt, gr, b, o)
    order by o
    returning id`;
}

/** A device list this long or shorter goes into the SQL; a longer one is checked on the rows. */
const MAX_IN_LIST = 500;

export class LogStore implements StreamHandler {
  private readonly db: Kysely<any>;
  private readonly dialect: Dialect;
  private readonly log: Logger;
  private readonly lock = new Mutex();
  private readonly listeners = new Set<(rows: StoredRow[]) => void>();
  private readonly now: () => number;
  readonly retentionMs: number;
  /** Mutable so tests can lower it. */
  maxBytesPerProject: number;
  /** Projects whose size retention was logged (once per episode). */
  private readonly sizeWarned = new Set<number>();
  private closed = false;
  counters = { linesStored: 0, gapLines: 0, retentionDeleted: 0 };

  constructor(o: LogStoreOptions) {
    this.db = o.db;
    this.dialect = o.dialect;
    this.log = o.log;
    this.now = o.now ?? Date.now;
    this.retentionMs = o.retentionMs ?? DEFAULT_LOG_RETENTION_MS;
    this.maxBytesPerProject = o.maxBytesPerProject ?? DEFAULT_LOG_MAX_BYTES;
  }

  onStored(l: (rows: StoredRow[]) => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  ingest(batches: IncomingBatch[], claim: SeqClaim): Promise<(StreamIngestResult | "duplicate")[]> {
    return this.lock.run(async () => {
      if (this.closed) throw new Error("the log store is closed");
      const prepared: (Prepared | null)[] = [];
      const stored: StoredRow[][] = [];
      await this.db.transaction().execute(async (trx) => {
        stored.length = 0;
        prepared.length = 0;
        for (const b of batches) prepared.push((await claim(trx, b)) ? prepareLogBatch(b) : null);
        const all = prepared.flatMap((p) => (p ? p.rows : []));
        const ids = await this.insert(trx, all);
        let k = 0;
        for (const p of prepared) {
          if (!p) continue;
          stored.push(p.rows.map((r) => ({ ...r, id: String(ids[k++]) })));
        }
        const usage = new Map<number, number>();
        for (const p of prepared)
          if (p && p.bytes > 0) usage.set(p.projectId, (usage.get(p.projectId) ?? 0) + p.bytes);
        for (const [projectId, bytes] of usage) {
          await sql`insert into log_usage (project_id, bytes) values (${projectId}, ${bytes})
            on conflict (project_id) do update set bytes = log_usage.bytes + excluded.bytes`.execute(trx);
        }
      });
      const results: (StreamIngestResult | "duplicate")[] = [];
      for (const p of prepared) {
        if (!p) results.push("duplicate");
        else {
          this.counters.linesStored += p.accepted;
          this.counters.gapLines += p.rows.length - p.accepted;
          results.push({ accepted: p.accepted, dropped: p.dropped });
        }
      }
      for (const rows of stored) {
        if (rows.length === 0) continue;
        for (const l of this.listeners) {
          try {
            l(rows);
          } catch (err) {
            this.log.error({ err }, "a log listener failed");
          }
        }
      }
      return results;
    });
  }

  private async insert(trx: Kysely<any>, rows: Omit<StoredRow, "id">[]): Promise<number[]> {
    const ids: number[] = [];
    const per = this.dialect === "postgres" ? PG_INSERT_ROWS : INSERT_ROWS;
    for (let i = 0; i < rows.length; i += per) {
      const part = rows.slice(i, i + per);
      const { rows: got } = await (this.dialect === "postgres" ? pgInsert(part) : sqliteInsert(part)).execute(
        trx,
      );
      // One writer at a time: the ids of one statement are consecutive, in the rows' order.
      const part_ids = got.map((g) => Number(g.id)).sort((a, b) => a - b);
      if (part_ids.length !== part.length) throw new Error("log insert returned a wrong number of ids");
      ids.push(...part_ids);
    }
    return ids;
  }

  // ---- reads ----

  async maxId(): Promise<number> {
    const r = await sql<{ m: number | string | null }>`select max(id) as m from log_lines`.execute(this.db);
    return Number(r.rows[0]?.m ?? 0);
  }

  /** The lowest id received at or after `t` (approximately: receipt times are nearly monotonic in id). */
  async firstIdReceivedFrom(t: number): Promise<number> {
    const probe = async (id: number) =>
      (
        await sql<{ id: number | string; received_at: number | string }>`
          select id, received_at from log_lines where id >= ${id} order by id limit 1`.execute(this.db)
      ).rows[0];
    const first = await probe(0);
    if (!first) return 0;
    let lo = Number(first.id);
    if (Number(first.received_at) >= t) return lo;
    let hi = (await this.maxId()) + 1;
    // received_at of the first row at or after an id is (nearly) non-decreasing in the id.
    // Invariant: that of lo is before t; every row at or after hi is received at t or later.
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      const r = await probe(mid);
      if (!r || Number(r.received_at) >= t) hi = mid;
      else lo = mid;
    }
    return hi;
  }

  private filterSql(
    f: LogFilter,
    lo: number,
    hi: number,
  ): { where: RawBuilder<unknown>; postDevices?: Set<string> } {
    const parts: RawBuilder<unknown>[] = [
      sql`l.project_id = ${f.projectId}`,
      sql`l.id >= ${lo}`,
      sql`l.id < ${hi}`,
    ];
    let postDevices: Set<string> | undefined;
    if (f.deviceIds) {
      if (f.deviceIds.length === 1) parts.push(sql`l.device_id = ${f.deviceIds[0]}`);
      else if (f.deviceIds.length <= MAX_IN_LIST) parts.push(sql`l.device_id in (${sql.join(f.deviceIds)})`);
      else postDevices = new Set(f.deviceIds);
    }
    if (f.source !== undefined) parts.push(sql`l.source = ${f.source}`);
    if (f.unit !== undefined) parts.push(sql`l.unit = ${f.unit}`);
    if (f.minLevel !== undefined) parts.push(sql`l.level >= ${LOG_LEVELS.indexOf(f.minLevel)}`);
    if (f.since !== undefined) parts.push(sql`l.time >= ${f.since}`);
    if (f.until !== undefined) parts.push(sql`l.time < ${f.until}`);
    if (f.terms?.length && this.dialect === "postgres") parts.push(sql`l.fts @@ (${pgTsQuery(f.terms)})`);
    return { where: sql.join(parts, sql` and `), postDevices };
  }

  private async window(f: LogFilter, lo: number, hi: number, limit: number): Promise<DbRow[]> {
    const { where, postDevices } = this.filterSql(f, lo, hi);
    // A device list checked on the rows: ask for more, the window bounds the work.
    const take = postDevices ? Math.max(limit * 4, 1000) : limit;
    let rows: DbRow[];
    if (f.terms?.length && this.dialect === "sqlite") {
      const match = ftsMatch(f.terms);
      rows = (
        await sql<DbRow>`select l.* from log_fts f cross join log_lines l on l.id = f.rowid
          where log_fts match ${match} and f.rowid >= ${lo} and f.rowid < ${hi} and ${where}
          order by f.rowid desc limit ${take}`.execute(this.db)
      ).rows;
    } else {
      rows = (
        await sql<DbRow>`select l.* from log_lines l where ${where} order by l.id desc limit ${take}`.execute(
          this.db,
        )
      ).rows;
    }
    if (postDevices) rows = rows.filter((r) => postDevices.has(r.device_id));
    return rows;
  }

  /**
   * Matching rows newest first, at most `limit`. Walks id windows down from `before` to the
   * lowest id that can match (`after`, or the first received within slack of `since`).
   */
  async page(q: PageQuery): Promise<Page> {
    if (q.terms && q.terms.length === 0) return { rows: [], next: null };
    const started = this.now();
    let hi = q.before ?? (await this.maxId()) + 1;
    let low = 0;
    if (q.after !== undefined) low = q.after + 1;
    if (q.since !== undefined)
      low = Math.max(low, await this.firstIdReceivedFrom(q.since - RECEIPT_SLACK_MS));
    const out: DbRow[] = [];
    let w = FIRST_WINDOW;
    while (hi > low) {
      const lo = Math.max(low, hi - w);
      const rows = await this.window(q, lo, hi, q.limit - out.length);
      for (const r of rows) {
        if (out.length >= q.limit) break;
        out.push(r);
      }
      if (out.length >= q.limit) {
        // A device list checked on the rows may have cut the window short: resume below the last row.
        return { rows: out, next: Number(out[out.length - 1]!.id) };
      }
      hi = lo;
      w *= 4;
      if (hi > low && q.budgetMs !== undefined && this.now() - started > q.budgetMs)
        return { rows: out, next: hi };
    }
    return { rows: out, next: null };
  }

  /**
   * Tail catch-up: the newest `limit` matching rows with id > after, ascending, and how many
   * older matching ones (after `after`) were left out (counted up to `maxCount`).
   */
  async since(
    f: LogFilter,
    after: number,
    limit: number,
    maxCount = 1_000_000,
  ): Promise<{ rows: DbRow[]; skipped: number }> {
    const p = await this.page({ ...f, after, limit });
    const rows = p.rows.reverse();
    let skipped = 0;
    if (p.next !== null && rows.length > 0) skipped = await this.countRange(f, after + 1, p.next, maxCount);
    return { rows, skipped };
  }

  /** Matching rows with lo <= id < hi, counted up to `cap`. */
  async countRange(f: LogFilter, lo: number, hi: number, cap: number): Promise<number> {
    if (f.terms && f.terms.length === 0) return 0;
    const { where, postDevices } = this.filterSql(f, lo, hi);
    const inner =
      f.terms?.length && this.dialect === "sqlite"
        ? sql`select l.device_id from log_fts f cross join log_lines l on l.id = f.rowid
            where log_fts match ${ftsMatch(f.terms)} and f.rowid >= ${lo} and f.rowid < ${hi} and ${where} limit ${cap}`
        : sql`select l.device_id from log_lines l where ${where} limit ${cap}`;
    if (postDevices) {
      const { rows } = await sql<{ device_id: string }>`${inner}`.execute(this.db);
      return rows.filter((r) => postDevices.has(r.device_id)).length;
    }
    const { rows } = await sql<{ n: number | string }>`select count(*) as n from (${inner}) c`.execute(
      this.db,
    );
    return Number(rows[0]?.n ?? 0);
  }

  // ---- retention ----

  /** Delete the oldest rows (optionally of one project) up to `maxId`, at most RETAIN_BATCH, in one transaction. */
  private async deleteOldest(o: {
    projectId?: number;
    belowId?: number;
  }): Promise<{ n: number; bytes: number }> {
    return this.lock.run(() =>
      this.db.transaction().execute(async (trx) => {
        const where = sql.join(
          [
            o.projectId !== undefined ? sql`project_id = ${o.projectId}` : sql`true`,
            o.belowId !== undefined ? sql`id < ${o.belowId}` : sql`true`,
          ],
          sql` and `,
        );
        const { rows } = await sql<{
          id: number | string;
          project_id: number | string;
          bytes: number | string;
        }>`
          select id, project_id, bytes from log_lines where ${where} order by id limit ${RETAIN_BATCH}`.execute(
          trx,
        );
        if (rows.length === 0) return { n: 0, bytes: 0 };
        const first = Number(rows[0]!.id);
        const last = Number(rows[rows.length - 1]!.id);
        await sql`delete from log_lines where ${where} and id >= ${first} and id <= ${last}`.execute(trx);
        const per = new Map<number, number>();
        let bytes = 0;
        for (const r of rows) {
          per.set(Number(r.project_id), (per.get(Number(r.project_id)) ?? 0) + Number(r.bytes));
          bytes += Number(r.bytes);
        }
        for (const [p, b] of per)
          await sql`update log_usage set bytes = bytes - ${b} where project_id = ${p}`.execute(trx);
        return { n: rows.length, bytes };
      }),
    );
  }

  async usage(): Promise<Map<number, number>> {
    const { rows } = await sql<{ project_id: number | string; bytes: number | string }>`
      select project_id, bytes from log_usage`.execute(this.db);
    return new Map(rows.map((r) => [Number(r.project_id), Number(r.bytes)]));
  }

  /** One retention pass: by receipt age, then each project over its byte budget. At most `maxBatches` deletes. */
  async retain(
    now = this.now(),
    maxBatches = 200,
  ): Promise<{ deleted: number; byAge: number; bySize: number }> {
    let byAge = 0;
    let bySize = 0;
    let batches = 0;
    const cutoff = await this.firstIdReceivedFrom(now - this.retentionMs);
    while (batches < maxBatches && !this.closed) {
      const r = await this.deleteOldest({ belowId: cutoff });
      batches++;
      byAge += r.n;
      if (r.n < RETAIN_BATCH) break;
    }
    for (const [projectId, bytes] of await this.usage()) {
      if (bytes <= this.maxBytesPerProject) {
        this.sizeWarned.delete(projectId);
        continue;
      }
      if (!this.sizeWarned.has(projectId)) {
        this.sizeWarned.add(projectId);
        this.log.warn(
          { projectId, bytes, maxBytes: this.maxBytesPerProject },
          "logs: the project holds more log bytes than its size retention allows; its oldest lines are being deleted",
        );
      }
      let over = bytes - this.maxBytesPerProject;
      while (over > 0 && batches < maxBatches && !this.closed) {
        const r = await this.deleteOldest({ projectId });
        batches++;
        bySize += r.n;
        over -= r.bytes;
        if (r.n === 0) break;
      }
    }
    this.counters.retentionDeleted += byAge + bySize;
    if (byAge || bySize) this.log.debug({ byAge, bySize }, "logs: retention deleted lines");
    return { deleted: byAge + bySize, byAge, bySize };
  }

  async dropDevice(deviceId: string): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await this.lock.run(() =>
        this.db.transaction().execute(async (trx) => {
          const { rows } = await sql<{
            id: number | string;
            project_id: number | string;
            bytes: number | string;
          }>`
            select id, project_id, bytes from log_lines where device_id = ${deviceId} order by id limit ${RETAIN_BATCH}`.execute(
            trx,
          );
          if (rows.length === 0) return 0;
          const ids = rows.map((r) => Number(r.id));
          await sql`delete from log_lines where device_id = ${deviceId} and id >= ${ids[0]} and id <= ${ids[ids.length - 1]}`.execute(
            trx,
          );
          const per = new Map<number, number>();
          for (const r of rows)
            per.set(Number(r.project_id), (per.get(Number(r.project_id)) ?? 0) + Number(r.bytes));
          for (const [p, b] of per)
            await sql`update log_usage set bytes = bytes - ${b} where project_id = ${p}`.execute(trx);
          return rows.length;
        }),
      );
      total += n;
      if (n < RETAIN_BATCH) return total;
    }
  }

  async close(): Promise<void> {
    await this.lock.run(async () => {
      this.closed = true;
    });
    this.listeners.clear();
  }
}

export function badRequest(message: string): TetherError {
  return new TetherError("TETHER_ERR_BAD_REQUEST", message);
}

export { parseTerms };
