/**
 * Live tail (`GET /api/v1/logs/stream`, docs/protocol.md §15): Server-Sent Events, one
 * `event: line` per stored line that matches the client's filters, `id:` the line id.
 *
 * Resume without duplicates or holes: the client is registered for live lines BEFORE the
 * catch-up query of the stored lines after its Last-Event-ID; live lines wait in a bounded
 * pending list meanwhile, and every line is sent only if its id is above the last one sent.
 * A catch-up is the newest `maxCatchUp` candidate lines; older ones left out are announced
 * first with `event: lagged` `{"dropped": n}`. A client that does not read: once
 * `maxBufferedBytes` wait in its connection, lines are dropped and counted, and `lagged`
 * says how many when it reads again; its Last-Event-ID still resumes from what it saw.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { LogLine } from "@tether/protocol";
import { LOG_STREAM_EVENTS, levelAtLeast } from "@tether/protocol";
import type { Logger } from "pino";
import { openSse, type SseClient, type SseConnection, SseRegistry } from "../../http/sse.js";
import { type DbRow, type LogFilter, type LogStore, rowToStored, type StoredRow } from "./store.js";

export interface TailOptions {
  maxPerUser: number;
  heartbeatMs: number;
  /** Bytes waiting in one connection before lines are dropped (lagged). */
  maxBufferedBytes: number;
  /** Stored lines one resume sends at most. */
  maxCatchUp: number;
  /** Live lines held while a catch-up runs. */
  maxPending: number;
}

export const DEFAULT_TAIL: TailOptions = {
  maxPerUser: 16,
  heartbeatMs: 15_000,
  maxBufferedBytes: 1024 * 1024,
  maxCatchUp: 10_000,
  maxPending: 10_000,
};

/** The filters of a tail: the project, devices (or all), source/unit, level, a case-insensitive substring. */
export interface TailFilter {
  projectId: number;
  deviceIds?: Set<string>;
  source?: string;
  unit?: string;
  minLevel?: LogLine["level"];
  /** Lower-cased substring. */
  text?: string;
}

interface Client extends SseClient {
  filter: TailFilter;
  offer(rows: StoredRow[]): void;
}

export function tailMatches(f: TailFilter, r: StoredRow): boolean {
  if (r.projectId !== f.projectId) return false;
  if (f.deviceIds && !f.deviceIds.has(r.deviceId)) return false;
  if (f.source !== undefined && r.source !== f.source) return false;
  if (f.unit !== undefined && r.unit !== f.unit) return false;
  if (f.minLevel && !levelAtLeast(r.level, f.minLevel)) return false;
  if (f.text && !r.message.toLowerCase().includes(f.text)) return false;
  return true;
}

export function toLogLine(r: StoredRow): LogLine {
  const { deviceName, projectId: _p, ...rest } = r;
  return { ...rest, device: deviceName };
}

export class TailHub {
  readonly registry: SseRegistry<Client>;
  /** Lines dropped for slow clients (server metrics, tests). */
  slowDropped = 0;

  constructor(
    readonly o: TailOptions,
    private readonly store: LogStore,
    private readonly names: (ids: string[]) => Promise<Map<string, string>>,
    private readonly log: Logger,
  ) {
    this.registry = new SseRegistry(o.maxPerUser, "log streams");
  }

  get size(): number {
    return this.registry.clients.size;
  }

  /** Stored lines of one commit (one device): to every client whose filters they match. */
  stored(rows: StoredRow[]): void {
    for (const c of this.registry.clients) c.offer(rows);
  }

  /**
   * Serve one client on a hijacked reply. Throws TETHER_ERR_TOO_MANY_STREAMS before anything
   * is written. `after`: resume after this line id (Last-Event-ID).
   */
  open(
    who: { userId: number; projectId: number; username: string },
    filter: TailFilter,
    after: number | undefined,
    req: IncomingMessage,
    res: ServerResponse,
    hijack: () => void,
  ): void {
    let lastId = after ?? 0;
    let catchingUp = after !== undefined;
    let pending: StoredRow[] = [];
    let pendingDropped = 0;
    let slow = 0;
    let conn: SseConnection | null = null;
    const lagged = (n: number) =>
      conn?.write(`event: ${LOG_STREAM_EVENTS.lagged}\ndata: ${JSON.stringify({ dropped: n })}\n\n`);
    const send = (r: StoredRow) => {
      const id = Number(r.id);
      if (id <= lastId || !conn?.open) return;
      lastId = id;
      if (conn.buffered > this.o.maxBufferedBytes) {
        slow++;
        this.slowDropped++;
        return;
      }
      conn.write(`event: ${LOG_STREAM_EVENTS.line}\nid: ${r.id}\ndata: ${JSON.stringify(toLogLine(r))}\n\n`);
    };
    const client: Client = {
      userId: who.userId,
      projectId: who.projectId,
      filter,
      offer(rows) {
        for (const r of rows) {
          if (!tailMatches(filter, r)) continue;
          if (!catchingUp) send(r);
          else if (pending.length < hub.o.maxPending) pending.push(r);
          else pendingDropped++;
        }
      },
      close: () => conn?.end(),
    };
    const hub = this;
    const forget = this.registry.add(client);
    conn = openSse(req, res, hijack, {
      heartbeatMs: this.o.heartbeatMs,
      maxBufferedBytes: this.o.maxBufferedBytes,
      onEnd: forget,
      onDrain: () => {
        if (slow > 0 && conn?.open) {
          const n = slow;
          slow = 0;
          lagged(n);
          this.log.debug({ user: who.username, dropped: n }, "log tail: a slow client skipped lines");
        }
      },
    });
    if (!conn || after === undefined) return;
    void this.catchUp(filter, after)
      .then(({ rows, skipped }) => {
        if (!conn?.open) return;
        if (skipped > 0) lagged(skipped);
        for (const r of rows) send(r);
        catchingUp = false;
        if (pendingDropped > 0) lagged(pendingDropped);
        const held = pending;
        pending = [];
        for (const r of held) send(r);
      })
      .catch((err) => {
        this.log.warn({ err }, "log tail: the catch-up query failed; closing the stream");
        conn?.end();
      });
  }

  private async catchUp(f: TailFilter, after: number): Promise<{ rows: StoredRow[]; skipped: number }> {
    // The substring is checked here, as on live lines (the same meaning either way); the SQL
    // narrows by everything else.
    const sqlFilter: LogFilter = {
      projectId: f.projectId,
      deviceIds: f.deviceIds ? [...f.deviceIds] : undefined,
      source: f.source,
      unit: f.unit,
      minLevel: f.minLevel ?? undefined,
    };
    const got: { rows: DbRow[]; skipped: number } = await this.store.since(
      sqlFilter,
      after,
      this.o.maxCatchUp,
    );
    const names = await this.names([...new Set(got.rows.map((r) => r.device_id))]);
    const rows = got.rows
      .map((r) => rowToStored(r, names.get(r.device_id) ?? r.device_id))
      .filter((r) => tailMatches(f, r));
    return { rows, skipped: got.skipped };
  }

  closeStreamsOf(userId: number, projectId?: number): number {
    return this.registry.closeStreamsOf(userId, projectId);
  }

  closeAll(): void {
    this.registry.closeAll();
  }
}
