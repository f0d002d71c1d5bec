/**
 * Presence (docs/protocol.md §9): online when an authenticated `hello` arrives, offline at
 * once when the socket closes (embedded broker), when a will carrying the current
 * connection id fires, or on an explicit goodbye. Connection history is kept apart from
 * device state. Last-seen writes are batched. Listeners get debounced change events, so a
 * flapping link does not become a storm of notifications.
 */
import { EventEmitter } from "node:events";
import type { Kysely } from "kysely";
import type { Logger } from "pino";
import { nowIso } from "../store/db.js";
import type { DB } from "../store/schema.js";

export interface PresenceEvent {
  deviceId: string;
  online: boolean;
}

export class Presence {
  readonly events = new EventEmitter();
  private readonly lastSeen = new Map<string, string>();
  /** Devices whose last-seen changed since the last flush. */
  private readonly dirty = new Set<string>();
  private readonly connOf = new Map<string, string>();
  private readonly pendingOffline = new Map<string, NodeJS.Timeout>();
  private flushTimer: NodeJS.Timeout;

  constructor(
    private readonly db: Kysely<DB>,
    private readonly log: Logger,
    private readonly opts: { debounceMs: number; lastSeenFlushMs: number },
  ) {
    this.flushTimer = setInterval(() => void this.flushLastSeen(), opts.lastSeenFlushMs);
    this.flushTimer.unref();
  }

  /** The embedded broker dies with the server: nothing is online after a restart. */
  async resetAll(reason: string): Promise<void> {
    const at = nowIso();
    await this.db
      .updateTable("devices")
      .set({ online: 0, online_since: null })
      .where("online", "=", 1)
      .execute();
    await this.db
      .updateTable("connections")
      .set({ disconnected_at: at, reason })
      .where("disconnected_at", "is", null)
      .execute();
  }

  currentConn(deviceId: string): string | undefined {
    return this.connOf.get(deviceId);
  }

  touch(deviceId: string): void {
    this.lastSeen.set(deviceId, nowIso());
    this.dirty.add(deviceId);
  }

  seenAt(deviceId: string): string | undefined {
    return this.lastSeen.get(deviceId);
  }

  async online(deviceId: string, connId: string, facts: string | null): Promise<void> {
    const at = nowIso();
    const prev = this.connOf.get(deviceId);
    this.connOf.set(deviceId, connId);
    this.lastSeen.set(deviceId, at);
    if (prev === connId) {
      // A key rotation inside the same connection: not a new connection.
      if (facts) await this.db.updateTable("devices").set({ facts }).where("id", "=", deviceId).execute();
      return;
    }
    await this.db.transaction().execute(async (trx) => {
      await trx
        .updateTable("connections")
        .set({ disconnected_at: at, reason: "replaced by a new connection" })
        .where("device_id", "=", deviceId)
        .where("disconnected_at", "is", null)
        .execute();
      await trx
        .insertInto("connections")
        .values({
          device_id: deviceId,
          conn_id: connId,
          connected_at: at,
          disconnected_at: null,
          reason: null,
        })
        .execute();
      await trx
        .updateTable("devices")
        .set({
          online: 1,
          conn_id: connId,
          last_seen_at: at,
          online_since: at,
          ...(facts ? { facts } : {}),
        })
        .where("id", "=", deviceId)
        .execute();
    });
    const t = this.pendingOffline.get(deviceId);
    if (t) {
      // Came back within the debounce window: listeners never saw it leave.
      clearTimeout(t);
      this.pendingOffline.delete(deviceId);
    } else if (prev === undefined) {
      this.events.emit("change", { deviceId, online: true } satisfies PresenceEvent);
    }
    this.log.info({ deviceId, connId }, "device online");
  }

  /** Mark offline if `connId` (when given) is still the device's current connection. */
  async offline(deviceId: string, reason: string, connId?: string): Promise<boolean> {
    const cur = this.connOf.get(deviceId);
    if (connId !== undefined && cur !== connId) {
      this.log.debug({ deviceId, connId, cur }, "ignored stale offline signal");
      return false;
    }
    const wasOnline = cur !== undefined;
    this.connOf.delete(deviceId);
    const at = nowIso();
    await this.db.transaction().execute(async (trx) => {
      await trx
        .updateTable("connections")
        .set({ disconnected_at: at, reason })
        .where("device_id", "=", deviceId)
        .where("disconnected_at", "is", null)
        .execute();
      await trx
        .updateTable("devices")
        .set({ online: 0, online_since: null, last_seen_at: this.lastSeen.get(deviceId) ?? at })
        .where("id", "=", deviceId)
        .execute();
    });
    if (wasOnline && !this.pendingOffline.has(deviceId)) {
      const t = setTimeout(() => {
        this.pendingOffline.delete(deviceId);
        this.events.emit("change", { deviceId, online: false } satisfies PresenceEvent);
      }, this.opts.debounceMs);
      t.unref();
      this.pendingOffline.set(deviceId, t);
    }
    this.log.info({ deviceId, reason }, "device offline");
    return true;
  }

  async flushLastSeen(): Promise<void> {
    if (this.dirty.size === 0) return;
    const batch = [...this.dirty].map((id) => [id, this.lastSeen.get(id)!] as const);
    this.dirty.clear();
    try {
      await this.db.transaction().execute(async (trx) => {
        for (const [id, at] of batch) {
          await trx.updateTable("devices").set({ last_seen_at: at }).where("id", "=", id).execute();
        }
      });
    } catch (err) {
      for (const [id] of batch) this.dirty.add(id);
      this.log.warn({ err }, "last-seen flush failed; will retry");
    }
  }

  async close(): Promise<void> {
    clearInterval(this.flushTimer);
    for (const t of this.pendingOffline.values()) clearTimeout(t);
    await this.flushLastSeen();
  }
}
