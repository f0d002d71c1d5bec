/** The audit log: every action that touches a device or a credential (docs/architecture.md §3). */
import { AUDIT_PAGE_DEFAULT, AUDIT_PAGE_MAX, type AuditEntry } from "@tether/protocol";
import type { Kysely } from "kysely";
import { nowIso } from "./store/db.js";
import type { DB } from "./store/schema.js";

export interface AuditInput {
  actor: string;
  action: string;
  projectId: number;
  deviceId?: string | null;
  /** About a device: include its `name` (the log keeps it after the device is deleted). */
  detail?: Record<string, unknown>;
}

/** Which entries to list (all optional; they combine with AND). */
export interface AuditFilter {
  /** Entries about any of these devices. */
  deviceIds?: string[];
  actor?: string;
  /** An exact action name, or a prefix ending in `*`. */
  action?: string;
  /** ISO 8601 instants: `since` inclusive, `until` exclusive. */
  since?: string;
  until?: string;
  /** Cursor: entries with an id below this one (older). */
  before?: number;
  /** Page size, clamped to 1..AUDIT_PAGE_MAX (default AUDIT_PAGE_DEFAULT). */
  limit?: number;
}

export class Audit {
  constructor(private readonly db: Kysely<DB>) {}

  async write(e: AuditInput): Promise<void> {
    await this.db
      .insertInto("audit")
      .values({
        at: nowIso(),
        actor: e.actor,
        action: e.action,
        project_id: e.projectId,
        device_id: e.deviceId ?? null,
        detail: JSON.stringify(e.detail ?? {}),
      })
      .execute();
  }

  /** A page of the project's log, newest first. Each entry carries its device's name. */
  async list(projectId: number, f: AuditFilter = {}): Promise<AuditEntry[]> {
    let q = this.db
      .selectFrom("audit")
      .innerJoin("projects", "projects.id", "audit.project_id")
      .leftJoin("devices", "devices.id", "audit.device_id")
      .select([
        "audit.id",
        "audit.at",
        "audit.actor",
        "audit.action",
        "projects.name as project",
        "audit.device_id",
        "audit.detail",
        "devices.name as device_name",
      ])
      .where("audit.project_id", "=", projectId);
    if (f.deviceIds) q = q.where("audit.device_id", "in", f.deviceIds.length ? f.deviceIds : [""]);
    if (f.actor) q = q.where("audit.actor", "=", f.actor);
    if (f.action?.endsWith("*")) {
      // Action names use [a-z0-9.-] only (the route's schema), so the prefix holds no LIKE wildcard.
      const prefix = f.action.slice(0, -1);
      if (prefix) q = q.where("audit.action", "like", `${prefix}%`);
    } else if (f.action) q = q.where("audit.action", "=", f.action);
    // `at` is an ISO 8601 UTC string (nowIso), so text order is time order on both engines.
    if (f.since) q = q.where("audit.at", ">=", f.since);
    if (f.until) q = q.where("audit.at", "<", f.until);
    if (f.before !== undefined) q = q.where("audit.id", "<", f.before);
    const limit = Math.min(Math.max(1, Math.floor(f.limit ?? AUDIT_PAGE_DEFAULT)), AUDIT_PAGE_MAX);
    const rows = await q.orderBy("audit.id", "desc").limit(limit).execute();
    const gone = [
      ...new Set(rows.filter((r) => r.device_id && r.device_name === null).map((r) => r.device_id!)),
    ];
    const lastNames = gone.length ? await this.lastNames(projectId, gone) : new Map<string, string>();
    return rows.map((r) => ({
      id: r.id,
      at: r.at,
      actor: r.actor,
      action: r.action,
      project: r.project,
      deviceId: r.device_id,
      deviceName: r.device_id ? (r.device_name ?? lastNames.get(r.device_id) ?? null) : null,
      ...(r.device_id && r.device_name === null ? { deviceDeleted: true } : {}),
      detail: JSON.parse(r.detail) as Record<string, unknown>,
    }));
  }

  /** The name each deleted device had last, from its newest entry (device entries record it). */
  private async lastNames(projectId: number, deviceIds: string[]): Promise<Map<string, string>> {
    const rows = await this.db
      .selectFrom("audit")
      .select(["device_id", "detail"])
      .where(
        "id",
        "in",
        this.db
          .selectFrom("audit")
          .select((eb) => eb.fn.max("id").as("id"))
          .where("project_id", "=", projectId)
          .where("device_id", "in", deviceIds)
          .groupBy("device_id"),
      )
      .execute();
    const out = new Map<string, string>();
    for (const r of rows) {
      const d = JSON.parse(r.detail) as { name?: unknown; to?: unknown };
      const name = typeof d.to === "string" ? d.to : d.name;
      if (r.device_id && typeof name === "string") out.set(r.device_id, name);
    }
    return out;
  }

  /**
   * The devices a filter value names: a current device by id or name (the caller resolves
   * those), else what the log itself knows: a deleted device's id, or the name it had.
   */
  async devicesNamed(projectId: number, ref: string): Promise<string[]> {
    const byId = await this.db
      .selectFrom("audit")
      .select("device_id")
      .where("project_id", "=", projectId)
      .where("device_id", "=", ref)
      .limit(1)
      .executeTakeFirst();
    if (byId) return [ref];
    // Device entries record the name in their detail ({"name":"robot-7",…}): match the JSON
    // text portably, then confirm on the parsed value (a LIKE wildcard in a name only widens).
    const rows = await this.db
      .selectFrom("audit")
      .select(["device_id", "detail"])
      .where("project_id", "=", projectId)
      .where("device_id", "is not", null)
      .where("detail", "like", `%"name":${JSON.stringify(ref)}%`)
      .execute();
    const ids = new Set<string>();
    for (const r of rows) if (r.device_id && JSON.parse(r.detail).name === ref) ids.add(r.device_id);
    return [...ids];
  }
}
