/**
 * Device id → name and project, for what labels stored samples as they flow (remote write,
 * the live stream): a bounded cache so a fleet uploading every few seconds does not cost one
 * main-store query per batch. A renamed device shows its new name within `ttlMs`.
 */
import type { Kysely } from "kysely";
import type { DB } from "../store/schema.js";

export interface DeviceName {
  id: string;
  name: string;
  projectId: number;
  project: string;
}

interface Entry {
  v: DeviceName | null;
  at: number;
}

export class DeviceNames {
  private readonly cache = new Map<string, Entry>();

  constructor(
    private readonly db: Kysely<DB>,
    private readonly o: { ttlMs: number; max: number } = { ttlMs: 60_000, max: 100_000 },
  ) {}

  /** The cached answer when fresh (undefined: ask `get`). */
  peek(id: string, now = Date.now()): DeviceName | null | undefined {
    const e = this.cache.get(id);
    return e && now - e.at < this.o.ttlMs ? e.v : undefined;
  }

  /** Name and project of a device; null when it no longer exists. */
  async get(id: string): Promise<DeviceName | null> {
    const hit = this.peek(id);
    if (hit !== undefined) return hit;
    const r = await this.db
      .selectFrom("devices")
      .innerJoin("projects", "projects.id", "devices.project_id")
      .select([
        "devices.id as id",
        "devices.name as name",
        "projects.id as projectId",
        "projects.name as project",
      ])
      .where("devices.id", "=", id)
      .executeTakeFirst();
    const v = r ? { id: r.id, name: r.name, projectId: Number(r.projectId), project: r.project } : null;
    this.cache.delete(id);
    this.cache.set(id, { v, at: Date.now() });
    // Map keeps insertion order: the first key is the least recently refreshed.
    while (this.cache.size > this.o.max) this.cache.delete(this.cache.keys().next().value!);
    return v;
  }
}
