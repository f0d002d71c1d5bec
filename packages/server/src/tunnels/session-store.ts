/**
 * Sessions and per-project tunnel settings in the main database (docs/protocol.md §17.7): a
 * row is written when a session opens and completed when it ends, so the history answers
 * who, which device, when, how long and how it ended; a row a killed server left open is
 * ended as server-stopped at the next start.
 */
import {
  DEFAULT_FORWARD_ALLOW,
  type SessionKind,
  type SessionView,
  TetherError,
  type TunnelSettings,
} from "@tether/protocol";
import type { Kysely, Selectable } from "kysely";
import type { Dialect } from "../store/db.js";
import type { DB } from "../store/schema.js";
import { type TunnelSessionsTable, type TunnelsDB, tunnelsDb } from "./schema.js";

export interface SessionRecord {
  id: string;
  projectId: number;
  deviceId: string;
  deviceName: string;
  userId: number;
  username: string;
  kind: SessionKind;
  via: string;
  target: string;
  runAs: string | null;
  recorded: boolean;
  startedAt: Date;
}

export interface SessionEndRecord {
  endedAt: Date;
  endReason: string;
  exitCode: number | null;
  bytesIn: number;
  bytesOut: number;
}

export interface SessionQuery {
  /** Device id or name (the name it had when the session started). */
  device?: string;
  /** Default 50, at most 500. */
  limit?: number;
  /** A session id: only sessions older than it (the previous page's last). */
  before?: string;
}

export const SESSION_LIST_DEFAULT = 50;
export const SESSION_LIST_MAX = 500;

type Row = Selectable<TunnelSessionsTable>;

function view(r: Row, live: (id: string) => boolean): SessionView {
  const ended = r.ended_at;
  return {
    id: r.id,
    device: { id: r.device_id, name: r.device_name },
    user: r.username,
    kind: r.kind as SessionKind,
    via: r.via,
    target: r.target,
    runAs: r.run_as,
    startedAt: r.started_at,
    endedAt: ended,
    durationMs: ended ? Math.max(0, Date.parse(ended) - Date.parse(r.started_at)) : null,
    endReason: r.end_reason,
    exitCode: r.exit_code,
    bytesIn: Number(r.bytes_in),
    bytesOut: Number(r.bytes_out),
    recorded: r.recorded === 1,
    live: ended === null && live(r.id),
  };
}

export class SessionStore {
  private readonly db: Kysely<TunnelsDB>;

  constructor(
    db: Kysely<DB>,
    readonly dialect: Dialect,
  ) {
    this.db = tunnelsDb(db);
  }

  async insert(r: SessionRecord): Promise<void> {
    await this.db
      .insertInto("tunnel_sessions")
      .values({
        id: r.id,
        project_id: r.projectId,
        device_id: r.deviceId,
        device_name: r.deviceName,
        user_id: r.userId,
        username: r.username,
        kind: r.kind,
        via: r.via,
        target: r.target,
        run_as: r.runAs,
        recorded: r.recorded ? 1 : 0,
        started_at: r.startedAt.toISOString(),
        ended_at: null,
        end_reason: null,
        exit_code: null,
        bytes_in: 0,
        bytes_out: 0,
      })
      .execute();
  }

  /** Completes the row once; a second end (a race between two closers) changes nothing. */
  async end(id: string, e: SessionEndRecord): Promise<void> {
    await this.db
      .updateTable("tunnel_sessions")
      .set({
        ended_at: e.endedAt.toISOString(),
        end_reason: e.endReason,
        exit_code: e.exitCode,
        bytes_in: Math.max(0, Math.floor(e.bytesIn)),
        bytes_out: Math.max(0, Math.floor(e.bytesOut)),
      })
      .where("id", "=", id)
      .where("ended_at", "is", null)
      .execute();
  }

  /** At start: sessions a killed server left open end as server-stopped; returns how many. */
  async endOrphans(at: Date): Promise<number> {
    const r = await this.db
      .updateTable("tunnel_sessions")
      .set({ ended_at: at.toISOString(), end_reason: "server-stopped" })
      .where("ended_at", "is", null)
      .executeTakeFirst();
    return Number(r.numUpdatedRows);
  }

  /** Newest first, paged by `before` (a session id of this project). */
  async list(projectId: number, q: SessionQuery, live: (id: string) => boolean): Promise<SessionView[]> {
    const limit = Math.max(1, Math.min(SESSION_LIST_MAX, Math.floor(q.limit ?? SESSION_LIST_DEFAULT)));
    let query = this.db.selectFrom("tunnel_sessions").selectAll().where("project_id", "=", projectId);
    if (q.device !== undefined) {
      const d = q.device;
      query = query.where((eb) => eb.or([eb("device_id", "=", d), eb("device_name", "=", d)]));
    }
    if (q.before !== undefined) {
      const at = await this.db
        .selectFrom("tunnel_sessions")
        .select(["id", "started_at"])
        .where("project_id", "=", projectId)
        .where("id", "=", q.before)
        .executeTakeFirst();
      if (!at)
        throw new TetherError(
          "TETHER_ERR_BAD_REQUEST",
          `before: no session ${q.before} in this project to page from`,
        );
      query = query.where((eb) =>
        eb.or([
          eb("started_at", "<", at.started_at),
          eb.and([eb("started_at", "=", at.started_at), eb("id", "<", at.id)]),
        ]),
      );
    }
    const rows = await query.orderBy("started_at", "desc").orderBy("id", "desc").limit(limit).execute();
    return rows.map((r) => view(r, live));
  }

  async get(projectId: number, id: string, live: (id: string) => boolean): Promise<SessionView | undefined> {
    const r = await this.db
      .selectFrom("tunnel_sessions")
      .selectAll()
      .where("project_id", "=", projectId)
      .where("id", "=", id)
      .executeTakeFirst();
    return r ? view(r, live) : undefined;
  }

  async settings(projectId: number): Promise<TunnelSettings> {
    const r = await this.db
      .selectFrom("tunnel_settings")
      .selectAll()
      .where("project_id", "=", projectId)
      .executeTakeFirst();
    if (!r) return { record: false, forwardAllow: [...DEFAULT_FORWARD_ALLOW] };
    return { record: r.record === 1, forwardAllow: JSON.parse(r.forward_allow) as string[] };
  }

  async setSettings(projectId: number, s: TunnelSettings): Promise<void> {
    const row = { record: s.record ? 1 : 0, forward_allow: JSON.stringify(s.forwardAllow) };
    await this.db
      .insertInto("tunnel_settings")
      .values({ project_id: projectId, ...row })
      .onConflict((oc) => oc.column("project_id").doUpdateSet(row))
      .execute();
  }
}
