/**
 * Device telemetry tokens (docs/protocol.md §14.1): 256 random bits, stored as SHA-256
 * digests in the main database, delivered in the durable control message `telemetry.token`.
 * A device has a current token and, while a replacement travels, a next one: both work, so a
 * device offline for a week can still upload its buffer with the old one. The next one
 * becomes current when the agent acknowledges the message or first uploads with it; the old
 * one stops working then. Revocation deletes both at once.
 */
import { TELEMETRY_TOKEN_PATTERN } from "@tether/protocol";
import type { Kysely } from "kysely";
import type { Logger } from "pino";
import type { ControlLink } from "../control/link.js";
import type { DeviceRow } from "../devices.js";
import { digest, randomToken } from "../security/secrets.js";
import { nowIso } from "../store/db.js";
import type { DB } from "../store/schema.js";
import { TokenCache } from "./token-cache.js";
import type { TelemetryTokensTable } from "./token-migrations.js";

type TokenDB = DB & { telemetry_tokens: TelemetryTokensTable };

const TOKEN_RE = new RegExp(TELEMETRY_TOKEN_PATTERN);

export class TelemetryTokens {
  readonly cache: TokenCache;
  private readonly db: Kysely<TokenDB>;

  constructor(private readonly d: { db: Kysely<DB>; link: ControlLink; log: Logger; cacheSize?: number }) {
    this.db = d.db as unknown as Kysely<TokenDB>;
    this.cache = new TokenCache(d.cacheSize ?? 100_000);
  }

  /**
   * Issue a new token as the device's next one, in one transaction with its outbox message
   * (an older undelivered replacement is taken back: only the newest travels). Resolves with
   * the message id; the message is sent now if the device is connected.
   */
  async rotate(device: DeviceRow): Promise<number> {
    const token = randomToken(32);
    const hash = digest(token);
    const issuedAt = nowIso();
    const m = await this.db.transaction().execute(async (trx) => {
      const main = trx as unknown as Kysely<DB>;
      const row = await trx
        .selectFrom("telemetry_tokens")
        .select("next_mid")
        .where("device_id", "=", device.id)
        .executeTakeFirst();
      if (row?.next_mid != null) await this.d.link.cancel(device.id, row.next_mid, main);
      const [msg] = await this.d.link.enqueueIn(main, [
        { deviceId: device.id, type: "telemetry.token", body: { token } },
      ]);
      await trx
        .insertInto("telemetry_tokens")
        .values({
          device_id: device.id,
          current_hash: null,
          next_hash: hash,
          next_mid: msg.mid,
          issued_at: issuedAt,
        })
        .onConflict((oc) =>
          oc.column("device_id").doUpdateSet({ next_hash: hash, next_mid: msg.mid, issued_at: issuedAt }),
        )
        .execute();
      return msg;
    });
    this.cache.forgetDevice(device.id);
    await this.d.link.flush(device, m);
    return m.mid;
  }

  /** Issue the first token unless the device has one (accept, first credential, the sweep). */
  async ensure(device: DeviceRow): Promise<number | null> {
    const has = await this.db
      .selectFrom("telemetry_tokens")
      .select("device_id")
      .where("device_id", "=", device.id)
      .executeTakeFirst();
    return has ? null : this.rotate(device);
  }

  /** The agent stored `token` (its ack): it becomes current, the older one is retired. */
  async delivered(device: DeviceRow, token: string): Promise<boolean> {
    const promoted = await this.promote(device.id, digest(token));
    // An older replacement acknowledged after a newer one was issued changes nothing.
    if (promoted) this.d.log.info({ deviceId: device.id }, "telemetry: device token delivered");
    return promoted;
  }

  /** Revocation or deletion: both tokens stop working now. */
  async revoke(deviceId: string): Promise<void> {
    await this.db.deleteFrom("telemetry_tokens").where("device_id", "=", deviceId).execute();
    this.cache.forgetDevice(deviceId);
  }

  /**
   * The device a presented token belongs to, or null. Using the next token makes it
   * current (the agent has it, so the old one can go).
   */
  async authenticate(token: string): Promise<string | null> {
    if (!TOKEN_RE.test(token)) return null;
    const hash = digest(token);
    const hit = this.cache.get(hash);
    if (hit?.slot === "current") return hit.deviceId;
    const epoch = this.cache.epoch;
    const row = await this.db
      .selectFrom("telemetry_tokens")
      .select(["device_id", "current_hash", "next_hash"])
      .where((eb) => eb.or([eb("current_hash", "=", hash), eb("next_hash", "=", hash)]))
      .executeTakeFirst();
    if (!row) return null;
    if (row.current_hash === hash) {
      this.cache.set(hash, { deviceId: row.device_id, slot: "current" }, epoch);
    } else {
      await this.promote(row.device_id, hash);
    }
    return row.device_id;
  }

  /** Accepted devices without a token (up to `limit`). */
  missing(limit: number): Promise<DeviceRow[]> {
    return this.db
      .selectFrom("devices")
      .leftJoin("telemetry_tokens", "telemetry_tokens.device_id", "devices.id")
      .selectAll("devices")
      .where("devices.state", "=", "accepted")
      .where("telemetry_tokens.device_id", "is", null)
      .orderBy("devices.id")
      .limit(limit)
      .execute();
  }

  /** Accepted devices whose newest token was issued before `cutoff` (ISO). */
  due(cutoff: string, limit: number): Promise<DeviceRow[]> {
    return this.db
      .selectFrom("devices")
      .innerJoin("telemetry_tokens", "telemetry_tokens.device_id", "devices.id")
      .selectAll("devices")
      .where("devices.state", "=", "accepted")
      .where("telemetry_tokens.issued_at", "<", cutoff)
      .orderBy("telemetry_tokens.issued_at")
      .limit(limit)
      .execute();
  }

  private async promote(deviceId: string, hash: string): Promise<boolean> {
    const r = await this.db
      .updateTable("telemetry_tokens")
      .set((eb) => ({ current_hash: eb.ref("next_hash"), next_hash: null, next_mid: null }))
      .where("device_id", "=", deviceId)
      .where("next_hash", "=", hash)
      .executeTakeFirst();
    this.cache.forgetDevice(deviceId);
    return Number(r.numUpdatedRows) > 0;
  }
}
