/**
 * Enrollment (docs/architecture.md §3, docs/protocol.md §6): tokens that carry the server key
 * fingerprint, signed requests and responses, idempotent per device public key, pending
 * devices waiting with signed polls.
 */
import { randomBytes } from "node:crypto";
import {
  type BrokerCredential,
  checkDeviceName,
  ed25519Sign,
  ed25519Verify,
  type EnrollmentToken,
  type EnrollRequest,
  type EnrollResponse,
  type EnrollResponseBody,
  LABEL_ENROLL,
  LABEL_INFO,
  LABEL_POLL,
  LABEL_RESPONSE,
  type Labels,
  type PollRequest,
  parseEnrollToken,
  type SignedServerInfo,
  sha256,
  shardFor,
  signedBytes,
  TetherError,
} from "@tether/protocol";
import type { Kysely } from "kysely";
import type { Audit } from "./audit.js";
import { type DeviceRow, keyFingerprint } from "./devices.js";
import { digest, randomToken } from "./security/secrets.js";
import type { ServerKeys } from "./security/server-keys.js";
import { nowIso } from "./store/db.js";
import type { DB } from "./store/schema.js";

export interface BrokerAddress {
  url: string;
  wsUrl?: string;
  caCert: string;
}

const b64u = (b: Buffer) => b.toString("base64url");
const ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789";

export function newDeviceId(): string {
  const bytes = randomBytes(20);
  let s = "dev_";
  for (const b of bytes) s += ID_ALPHABET[b % 36];
  return s;
}

export function parseDuration(s: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(s.trim());
  if (!m)
    throw new TetherError(
      "TETHER_ERR_BAD_REQUEST",
      `bad duration ${JSON.stringify(s)}: use e.g. 30s, 15m, 1h, 7d`,
    );
  const mult = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 }[(m[2] ?? "s") as "s"];
  return Number(m[1]) * mult;
}

export interface EnrollmentDeps {
  db: Kysely<DB>;
  keys: ServerKeys;
  audit: Audit;
  caCert: string;
  apiUrl: () => string;
  broker: () => BrokerAddress;
  /** Called when a device gets a new broker password (external brokers need to know). */
  onCredential?: (device: DeviceRow, password: string) => Promise<void>;
}

export class Enrollment {
  constructor(private readonly d: EnrollmentDeps) {}

  serverInfo(): SignedServerInfo {
    const info = {
      purpose: LABEL_INFO,
      serverSignKey: b64u(this.d.keys.sign.publicKey),
      serverNoiseKey: b64u(this.d.keys.noise.publicKey),
      caCert: this.d.caCert,
    } as const;
    return { info, signature: b64u(ed25519Sign(this.d.keys.sign.privateKey, signedBytes(LABEL_INFO, info))) };
  }

  agentCommand(token: string): string {
    return `tether agent --url ${this.d.apiUrl()} --token ${token}`;
  }

  async createToken(
    projectId: number,
    actor: string,
    o: { labels?: Labels; expiresInSeconds?: number; uses?: number; autoAccept?: boolean },
  ) {
    const secret = randomToken(32);
    const token = `tether1.${this.d.keys.fingerprint}.${secret}`;
    const expiresIn = o.expiresInSeconds ?? 3600;
    if (!(expiresIn > 0 && expiresIn <= 365 * 86400)) {
      throw new TetherError("TETHER_ERR_BAD_REQUEST", "expiry must be between 1 second and 365 days");
    }
    const uses = o.uses ?? 1;
    if (!(Number.isInteger(uses) && uses >= 1 && uses <= 1_000_000)) {
      throw new TetherError("TETHER_ERR_BAD_REQUEST", "uses must be a whole number from 1 to 1000000");
    }
    const expiresAt = new Date(Date.now() + expiresIn * 1000).toISOString();
    const r = await this.d.db
      .insertInto("enrollment_tokens")
      .values({
        project_id: projectId,
        secret_hash: digest(secret),
        labels: JSON.stringify(o.labels ?? {}),
        uses_left: uses,
        uses: 0,
        auto_accept: o.autoAccept ? 1 : 0,
        expires_at: expiresAt,
        created_at: nowIso(),
        created_by: actor,
      })
      .returning("id")
      .executeTakeFirstOrThrow();
    await this.d.audit.write({
      actor,
      action: "enrollment-token.create",
      projectId,
      detail: { tokenId: r.id, uses, expiresAt, autoAccept: !!o.autoAccept, labels: o.labels ?? {} },
    });
    return { id: r.id, token, command: this.agentCommand(token), expiresAt };
  }

  async listTokens(projectId: number): Promise<EnrollmentToken[]> {
    const rows = await this.d.db
      .selectFrom("enrollment_tokens")
      .innerJoin("projects", "projects.id", "enrollment_tokens.project_id")
      .selectAll("enrollment_tokens")
      .select("projects.name as project")
      .where("project_id", "=", projectId)
      .orderBy("enrollment_tokens.id", "desc")
      .execute();
    return rows.map((r) => ({
      id: r.id,
      project: r.project,
      labels: JSON.parse(r.labels),
      usesLeft: r.uses_left,
      uses: r.uses,
      autoAccept: r.auto_accept === 1,
      expiresAt: r.expires_at,
      createdAt: r.created_at,
      createdBy: r.created_by,
    }));
  }

  async deleteToken(projectId: number, id: number, actor: string): Promise<void> {
    const r = await this.d.db
      .deleteFrom("enrollment_tokens")
      .where("project_id", "=", projectId)
      .where("id", "=", id)
      .executeTakeFirst();
    if (!r.numDeletedRows) throw new TetherError("TETHER_ERR_TOKEN_NOT_FOUND", `no enrollment token ${id}`);
    await this.d.audit.write({
      actor,
      action: "enrollment-token.delete",
      projectId,
      detail: { tokenId: id },
    });
  }

  private verifySigned(label: string, body: unknown, signKey: string, signature: string): void {
    const ok = ed25519Verify(
      Buffer.from(signKey, "base64url"),
      signedBytes(label, body),
      Buffer.from(signature, "base64url"),
    );
    if (!ok)
      throw new TetherError("TETHER_ERR_ENROLL_SIGNATURE", "the request's signature does not match its key");
  }

  async enroll(req: EnrollRequest, sourceAddress: string): Promise<EnrollResponse> {
    const r = req.request;
    // The rename rule (names.ts): a name full of control characters is refused, not stored.
    checkDeviceName(r.name, "device name (tether agent --name, else the hostname)");
    this.verifySigned(LABEL_ENROLL, r, r.signKey, req.signature);
    if (r.serverFingerprint !== this.d.keys.fingerprint) {
      throw new TetherError("TETHER_ERR_ENROLL_WRONG_SERVER", "the request is for another server's key");
    }
    const parsed = parseEnrollToken(req.token);
    if (!parsed || b64u(sha256(req.token)) !== r.tokenHash) {
      throw new TetherError(
        "TETHER_ERR_ENROLL_TOKEN_INVALID",
        "the enrollment token is malformed or does not match the request",
      );
    }
    if (parsed.fingerprint !== this.d.keys.fingerprint) {
      throw new TetherError(
        "TETHER_ERR_ENROLL_TOKEN_INVALID",
        "the enrollment token was issued by another server",
      );
    }
    const blocked = await this.d.db
      .selectFrom("blocked_keys")
      .select("device_id")
      .where("sign_key", "=", r.signKey)
      .executeTakeFirst();
    if (blocked) {
      throw new TetherError(
        "TETHER_ERR_ENROLL_KEY_BLOCKED",
        "this device key was revoked and cannot enroll again",
      );
    }
    const secretHash = digest(parsed.secret);
    const tok = await this.d.db
      .selectFrom("enrollment_tokens")
      .selectAll()
      .where("secret_hash", "=", secretHash)
      .executeTakeFirst();
    const existing = await this.d.db
      .selectFrom("devices")
      .selectAll()
      .where("sign_key", "=", r.signKey)
      .executeTakeFirst();
    if (existing) {
      // Idempotent per public key: a lost response does not burn a single-use token.
      if (!tok || existing.enroll_token_id !== tok.id) {
        throw new TetherError(
          "TETHER_ERR_ENROLL_TOKEN_INVALID",
          "this key is already enrolled with another token",
        );
      }
      return this.respond(existing);
    }
    if (!tok) throw new TetherError("TETHER_ERR_ENROLL_TOKEN_INVALID", "unknown enrollment token");
    if (tok.expires_at <= nowIso())
      throw new TetherError("TETHER_ERR_ENROLL_TOKEN_INVALID", "the enrollment token has expired");
    const id = newDeviceId();
    const device = await this.d.db.transaction().execute(async (trx) => {
      const upd = await trx
        .updateTable("enrollment_tokens")
        .set((eb) => ({ uses_left: eb("uses_left", "-", 1), uses: eb("uses", "+", 1) }))
        .where("id", "=", tok.id)
        .where("uses_left", ">", 0)
        .executeTakeFirst();
      if (!upd.numUpdatedRows) {
        throw new TetherError("TETHER_ERR_ENROLL_TOKEN_INVALID", "the enrollment token is used up");
      }
      const row: DeviceRow = {
        id,
        project_id: tok.project_id,
        name: r.name,
        state: tok.auto_accept ? "accepted" : "pending",
        sign_key: r.signKey,
        noise_key: r.noiseKey,
        fingerprint: keyFingerprint(r.signKey),
        hostname: r.facts.hostname,
        source_address: sourceAddress,
        labels: tok.labels,
        facts: JSON.stringify(r.facts),
        shard: shardFor(id),
        broker_password_hash: null,
        enroll_token_id: tok.id,
        created_at: nowIso(),
        last_seen_at: null,
        online: 0,
        online_since: null,
        conn_id: null,
        hs_counter: "0",
        down_next_mid: 1,
        up_low: 0,
        up_above: "[]",
        rate_limited: 0,
      };
      await trx.insertInto("devices").values(row).execute();
      return row;
    });
    await this.d.audit.write({
      actor: `device:${id}`,
      action: "device.enroll",
      projectId: tok.project_id,
      deviceId: id,
      detail: {
        name: r.name,
        state: device.state,
        fingerprint: device.fingerprint,
        sourceAddress,
        tokenId: tok.id,
      },
    });
    return this.respond(device);
  }

  async poll(req: PollRequest): Promise<EnrollResponse> {
    const r = req.request;
    this.verifySigned(LABEL_POLL, r, r.signKey, req.signature);
    const device = await this.d.db
      .selectFrom("devices")
      .selectAll()
      .where("id", "=", r.deviceId)
      .where("sign_key", "=", r.signKey)
      .executeTakeFirst();
    if (!device) throw new TetherError("TETHER_ERR_DEVICE_NOT_FOUND", "no such device for this key");
    return this.respond(device, r.nonce);
  }

  /** Signed answer; an accepted device that has never completed a handshake gets a fresh broker secret. */
  private async respond(device: DeviceRow, nonce?: string): Promise<EnrollResponse> {
    if (device.state === "revoked") {
      throw new TetherError("TETHER_ERR_ENROLL_KEY_BLOCKED", "this device was revoked");
    }
    let broker: BrokerCredential | undefined;
    if (device.state === "accepted" && device.hs_counter === "0") {
      const password = randomToken(32);
      await this.d.db
        .updateTable("devices")
        .set({ broker_password_hash: digest(password) })
        .where("id", "=", device.id)
        .execute();
      await this.d.onCredential?.(device, password);
      const b = this.d.broker();
      broker = { url: b.url, wsUrl: b.wsUrl, caCert: b.caCert, username: device.id, password };
    }
    const response: EnrollResponseBody = {
      purpose: LABEL_RESPONSE,
      deviceId: device.id,
      signKey: device.sign_key,
      state: device.state as EnrollResponseBody["state"],
      shard: device.shard,
      serverSignKey: b64u(this.d.keys.sign.publicKey),
      serverNoiseKey: b64u(this.d.keys.noise.publicKey),
      nonce,
      pollSeconds: 5,
      broker,
      apiUrl: this.d.apiUrl(),
    };
    return {
      response,
      signature: b64u(ed25519Sign(this.d.keys.sign.privateKey, signedBytes(LABEL_RESPONSE, response))),
    };
  }
}
