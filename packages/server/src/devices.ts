/** The device registry: queries scoped to a project, state changes, labels. */
import { type Device, type Facts, fingerprint as fp, parseSelector, TetherError } from "@tether/protocol";
import type { Kysely, Selectable } from "kysely";
import { matches } from "./selector.js";
import type { DB, DevicesTable } from "./store/schema.js";

export type DeviceRow = Selectable<DevicesTable>;

export function toDevice(r: DeviceRow, project: string): Device {
  return {
    id: r.id,
    name: r.name,
    project,
    state: r.state as Device["state"],
    online: r.online === 1,
    labels: JSON.parse(r.labels),
    facts: r.facts ? (JSON.parse(r.facts) as Facts) : null,
    lastSeenAt: r.last_seen_at,
    onlineSince: r.online === 1 ? r.online_since : null,
    createdAt: r.created_at,
    fingerprint: r.fingerprint,
    hostname: r.hostname,
    sourceAddress: r.source_address,
    shard: r.shard,
    rateLimited: r.rate_limited,
  };
}

export const keyFingerprint = (signKeyB64: string): string => fp(Buffer.from(signKeyB64, "base64url"));

export class Devices {
  constructor(private readonly db: Kysely<DB>) {}

  async list(projectId: number, selector?: string): Promise<DeviceRow[]> {
    // An absent selector lists every device; a given one must parse (TETHER_ERR_BAD_SELECTOR).
    const terms = selector === undefined ? [] : parseSelector(selector);
    const rows = await this.db
      .selectFrom("devices")
      .selectAll()
      .where("project_id", "=", projectId)
      .orderBy("name")
      .orderBy("id")
      .execute();
    return rows.filter((r) => matches(terms, JSON.parse(r.labels), r.facts ? JSON.parse(r.facts) : null));
  }

  /**
   * DEVICE = id or name, inside the project only. A name resolves among accepted devices
   * first, then among the others, so a pending device enrolled under an accepted device's
   * name (anyone with a token can choose any name) never takes it over or makes it
   * ambiguous (docs/security.md "Device names"). Two devices of the same tier with the name
   * are ambiguous: use the id.
   */
  async find(projectId: number, ref: string): Promise<DeviceRow> {
    const byId = await this.db
      .selectFrom("devices")
      .selectAll()
      .where("project_id", "=", projectId)
      .where("id", "=", ref)
      .executeTakeFirst();
    if (byId) return byId;
    let byName = await this.db
      .selectFrom("devices")
      .selectAll()
      .where("project_id", "=", projectId)
      .where("name", "=", ref)
      .execute();
    const accepted = byName.filter((d) => d.state === "accepted");
    if (accepted.length) byName = accepted;
    if (byName.length > 1) {
      throw new TetherError(
        "TETHER_ERR_DEVICE_AMBIGUOUS",
        `several ${accepted.length ? "accepted " : ""}devices are named ${ref}; use the device id`,
      );
    }
    if (!byName[0]) throw new TetherError("TETHER_ERR_DEVICE_NOT_FOUND", `no device ${ref} in this project`);
    return byName[0];
  }

  /** DEVICE (id or name) that must be accepted for the action; TETHER_ERR_DEVICE_STATE otherwise. */
  async findAccepted(projectId: number, ref: string): Promise<DeviceRow> {
    const d = await this.find(projectId, ref);
    if (d.state !== "accepted")
      throw new TetherError("TETHER_ERR_DEVICE_STATE", `device ${d.name} is ${d.state}`);
    return d;
  }

  async get(id: string): Promise<DeviceRow | undefined> {
    return this.db.selectFrom("devices").selectAll().where("id", "=", id).executeTakeFirst();
  }

  async update(id: string, set: Partial<Omit<DeviceRow, "id">>): Promise<void> {
    await this.db.updateTable("devices").set(set).where("id", "=", id).execute();
  }

  async setLabels(row: DeviceRow, changes: Record<string, string | null>): Promise<Record<string, string>> {
    const labels: Record<string, string> = JSON.parse(row.labels);
    for (const [k, v] of Object.entries(changes)) {
      if (v === null) delete labels[k];
      else labels[k] = v;
    }
    await this.update(row.id, { labels: JSON.stringify(labels) });
    return labels;
  }

  async connections(deviceId: string, limit = 50) {
    return this.db
      .selectFrom("connections")
      .selectAll()
      .where("device_id", "=", deviceId)
      .orderBy("id", "desc")
      .limit(limit)
      .execute();
  }
}
