/**
 * Signing in to the SSH gateway (docs/protocol.md §17.6, docs/security.md "SSH gateway"):
 * public keys only, and only keys users registered (`tether ssh-keys add`). The key's owner
 * must hold operator or admin in the project of the device the username names; otherwise
 * the sign-in fails as for an unknown key (the client prints "Permission denied") and the
 * server logs why. At most MAX_AUTH_TRIES failed attempts per connection, then it is closed.
 */
import { ROLE_RANK } from "@tether/protocol";
import type { Logger } from "pino";
import type { AuthContext } from "ssh2";
import { utils } from "./ssh2-lib.js";
import type { Accounts } from "../../accounts.js";
import type { Devices } from "../../devices.js";
import type { GatewayConnection } from "./connection.js";
import type { SshKeys } from "./key-store.js";
import { sshFingerprint } from "./keys.js";
import { resolveTarget } from "./target.js";

/** As sshd's MaxAuthTries. */
export const MAX_AUTH_TRIES = 6;
/** Signed-in connections one user may hold at once; more are refused with a log line. */
export const MAX_CONNECTIONS_PER_USER = 32;

export interface AuthDeps {
  keys: SshKeys;
  accounts: Accounts;
  devices: Devices;
  log: Logger;
  /** Signed-in connections of the user now. */
  connectionsOf(userId: number): number;
  /** The connection signed in: it no longer counts as unauthenticated. */
  signedIn(conn: GatewayConnection): void;
}

export function authenticator(deps: AuthDeps, conn: GatewayConnection) {
  let failures = 0;
  const fail = (ctx: AuthContext) => {
    ctx.reject(["publickey"]);
    if (++failures >= MAX_AUTH_TRIES) {
      deps.log.info(
        { address: conn.address },
        `SSH: closed a connection after ${MAX_AUTH_TRIES} failed sign-in attempts`,
      );
      conn.client.end();
    }
  };

  return async (ctx: AuthContext): Promise<void> => {
    // Only publickey is announced; "none" is every client's first probe and is not counted.
    if (ctx.method === "none") return ctx.reject(["publickey"]);
    if (ctx.method !== "publickey") return fail(ctx);
    const fp = sshFingerprint(ctx.key.data);
    const row = await deps.keys.byFingerprint(fp);
    if (!row) {
      deps.log.debug({ address: conn.address, fingerprint: fp }, "SSH: unregistered key offered");
      return fail(ctx);
    }
    const key = utils.parseKey(row.public_key);
    if (key instanceof Error || Array.isArray(key)) return fail(ctx);
    // Without a signature the client only asks whether the key would do (RFC 4252 §7).
    if (!ctx.signature || !ctx.blob) return ctx.accept();
    if (!key.verify(ctx.blob, ctx.signature, ctx.hashAlgo)) return fail(ctx);

    const target = await resolveTarget(deps.accounts, deps.devices, row.user_id, ctx.username);
    const who = { user: row.username, fingerprint: fp, sshUser: ctx.username, address: conn.address };
    if ("refused" in target) {
      deps.log.info(who, `SSH: refused ${row.username}: ${target.refused}`);
      return fail(ctx);
    }
    if (ROLE_RANK[target.role] < ROLE_RANK.operator) {
      deps.log.info(
        who,
        `SSH: refused ${row.username} for ${ctx.username}: the ${target.role} role in project ${target.project} may not open shells (operator or admin needed)`,
      );
      return fail(ctx);
    }
    if (deps.connectionsOf(row.user_id) >= MAX_CONNECTIONS_PER_USER) {
      deps.log.warn(
        who,
        `SSH: refused ${row.username}: already ${MAX_CONNECTIONS_PER_USER} SSH connections open (the most per user)`,
      );
      return fail(ctx);
    }
    conn.user = { userId: row.user_id, username: row.username, keyId: row.id, fingerprint: fp };
    conn.target = target;
    deps.signedIn(conn);
    ctx.accept();
    deps.log.info(
      { ...who, project: target.project, device: target.deviceId },
      `SSH: ${row.username} signed in for ${target.deviceName} in ${target.project}`,
    );
    void deps.keys.touch(row.id).catch(() => {});
  };
}
