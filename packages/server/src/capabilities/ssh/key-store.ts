/**
 * Users' SSH public keys (docs/protocol.md §17.6): a user registers, lists and removes their
 * own; the gateway looks a key up by fingerprint when a client offers it. At most
 * MAX_SSH_KEYS_PER_USER keys per user.
 */
import { MAX_SSH_KEYS_PER_USER, type SshKey, TetherError } from "@tether/protocol";
import type { Kysely, Selectable } from "kysely";
import type { Principal } from "../../accounts.js";
import type { Audit } from "../../audit.js";
import { nowIso } from "../../store/db.js";
import type { DB } from "../../store/schema.js";
import { parsePublicKey } from "./keys.js";
import { type SshDB, type SshKeysTable, sshDb } from "./schema.js";

export type SshKeyRow = Selectable<SshKeysTable>;

/** `SHA256:abc…` or `abc…` (as some tools print it) → `SHA256:abc…`. */
export const normalizeFingerprint = (fp: string): string => (fp.startsWith("SHA256:") ? fp : `SHA256:${fp}`);

export function toSshKey(r: SshKeyRow): SshKey {
  return {
    fingerprint: r.fingerprint,
    type: r.type,
    bits: r.bits,
    publicKey: r.public_key,
    comment: r.comment,
    createdAt: r.created_at,
    lastUsedAt: r.last_used_at,
  };
}

export class SshKeys {
  private readonly db: Kysely<SshDB>;

  constructor(
    db: Kysely<DB>,
    private readonly audit: Audit,
  ) {
    this.db = sshDb(db);
  }

  /** The user's keys, oldest first. */
  async list(userId: number): Promise<SshKey[]> {
    const rows = await this.db
      .selectFrom("ssh_keys")
      .selectAll()
      .where("user_id", "=", userId)
      .orderBy("id")
      .execute();
    return rows.map(toSshKey);
  }

  async add(p: Principal, text: string): Promise<SshKey> {
    const k = parsePublicKey(text);
    const taken = await this.byFingerprint(k.fingerprint);
    if (taken) throw exists(k.fingerprint);
    const n = await this.db
      .selectFrom("ssh_keys")
      .select((eb) => eb.fn.countAll<number>().as("n"))
      .where("user_id", "=", p.userId)
      .executeTakeFirstOrThrow();
    if (Number(n.n) >= MAX_SSH_KEYS_PER_USER)
      throw new TetherError(
        "TETHER_ERR_BAD_REQUEST",
        `you already have ${MAX_SSH_KEYS_PER_USER} SSH keys, the most one user may register; remove one first (tether ssh-keys remove)`,
      );
    let row: SshKeyRow;
    try {
      row = await this.db
        .insertInto("ssh_keys")
        .values({
          user_id: p.userId,
          fingerprint: k.fingerprint,
          type: k.type,
          bits: k.bits,
          public_key: k.publicKey,
          comment: k.comment,
          created_at: nowIso(),
          last_used_at: null,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
    } catch (err) {
      // Two adds of one key at once: the unique fingerprint lets one through.
      if (await this.byFingerprint(k.fingerprint)) throw exists(k.fingerprint);
      throw err;
    }
    await this.audit.write({
      actor: p.username,
      action: "ssh-key.add",
      projectId: p.projectId,
      detail: { fingerprint: k.fingerprint, type: k.type, bits: k.bits, comment: k.comment },
    });
    return toSshKey(row);
  }

  /** Remove one of the caller's keys; answers the removed row (the gateway closes its connections). */
  async remove(p: Principal, fingerprint: string): Promise<SshKeyRow> {
    const fp = normalizeFingerprint(fingerprint);
    const row = await this.db
      .deleteFrom("ssh_keys")
      .where("user_id", "=", p.userId)
      .where("fingerprint", "=", fp)
      .returningAll()
      .executeTakeFirst();
    if (!row)
      throw new TetherError(
        "TETHER_ERR_SSH_KEY_NOT_FOUND",
        `you have no SSH key ${fp} (see tether ssh-keys list)`,
      );
    await this.audit.write({
      actor: p.username,
      action: "ssh-key.remove",
      projectId: p.projectId,
      detail: { fingerprint: fp, type: row.type, comment: row.comment },
    });
    return row;
  }

  /** The key with this fingerprint and its owner's name, if registered. */
  async byFingerprint(fingerprint: string): Promise<(SshKeyRow & { username: string }) | undefined> {
    return this.db
      .selectFrom("ssh_keys")
      .innerJoin("users", "users.id", "ssh_keys.user_id")
      .selectAll("ssh_keys")
      .select("users.username")
      .where("ssh_keys.fingerprint", "=", fingerprint)
      .executeTakeFirst();
  }

  /** A key signed in (shown as "last used"). */
  async touch(id: number): Promise<void> {
    await this.db.updateTable("ssh_keys").set({ last_used_at: nowIso() }).where("id", "=", id).execute();
  }
}

const exists = (fp: string) =>
  new TetherError(
    "TETHER_ERR_SSH_KEY_EXISTS",
    `the SSH key ${fp} is already registered (to you or another user)`,
  );
