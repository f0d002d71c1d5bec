/** The audit log: every action that touches a device or a credential (docs/architecture.md §3). */
import type { AuditEntry } from "@tether/protocol";
import type { Kysely } from "kysely";
import { nowIso } from "./store/db.js";
import type { DB } from "./store/schema.js";

export interface AuditInput {
  actor: string;
  action: string;
  projectId: number;
  deviceId?: string | null;
  detail?: Record<string, unknown>;
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

  async list(projectId: number, opts: { deviceId?: string; limit?: number } = {}): Promise<AuditEntry[]> {
    let q = this.db
      .selectFrom("audit")
      .innerJoin("projects", "projects.id", "audit.project_id")
      .select([
        "audit.id",
        "audit.at",
        "audit.actor",
        "audit.action",
        "projects.name as project",
        "audit.device_id",
        "audit.detail",
      ])
      .where("audit.project_id", "=", projectId);
    if (opts.deviceId) q = q.where("audit.device_id", "=", opts.deviceId);
    const rows = await q
      .orderBy("audit.id", "desc")
      .limit(opts.limit ?? 200)
      .execute();
    return rows.map((r) => ({
      id: r.id,
      at: r.at,
      actor: r.actor,
      action: r.action,
      project: r.project,
      deviceId: r.device_id,
      detail: JSON.parse(r.detail),
    }));
  }
}
