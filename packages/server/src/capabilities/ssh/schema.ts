/** The SSH gateway's table (docs/protocol.md §17.6), beside the core schema. */
import type { Generated, Kysely } from "kysely";
import type { DB } from "../../store/schema.js";

export interface SshKeysTable {
  id: Generated<number>;
  user_id: number;
  /** `SHA256:` + base64 (no padding) of the public key blob, as OpenSSH prints it. */
  fingerprint: string;
  /** OpenSSH key type: ssh-ed25519, ecdsa-sha2-nistp256/384/521, ssh-rsa. */
  type: string;
  bits: number;
  /** `TYPE BASE64`, no comment. */
  public_key: string;
  comment: string;
  created_at: string;
  last_used_at: string | null;
}

/** The database as the SSH capability sees it. */
export type SshDB = DB & { ssh_keys: SshKeysTable };

/** The core handle viewed with the SSH capability's table. */
export const sshDb = (db: Kysely<DB>): Kysely<SshDB> => db as unknown as Kysely<SshDB>;
