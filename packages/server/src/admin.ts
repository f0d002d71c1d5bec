/**
 * First-start bootstrap and `tether server reset-admin`: the admin account, its console
 * password in <data>/admin.password and an API token in <data>/admin.token (both 0600).
 *
 * A reset assumes the old password or token may be known to someone else: it ends every
 * sign-in (session) of the admin and revokes all of the admin's API tokens, in every
 * project, except the new one it writes (docs/security.md "Accounts").
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Accounts, DEFAULT_PROJECT } from "./accounts.js";
import type { UserChange } from "./capability.js";
import { randomToken } from "./security/secrets.js";

export const ADMIN_USER = "admin";

export async function ensureAdmin(
  accounts: Accounts,
  dataDir: string,
  reset = false,
  /** Told when a reset ended the admin's access (closes what it holds open in this process). */
  userChanged?: (change: UserChange) => Promise<void>,
): Promise<boolean> {
  const projectId = await accounts.ensureProject(DEFAULT_PROJECT);
  let userId: number | null = null;
  try {
    userId = await accounts.userId(ADMIN_USER);
  } catch {
    userId = null;
  }
  if (userId !== null && !reset) return false;
  const password = randomToken(18);
  if (userId === null) userId = await accounts.createUser(ADMIN_USER, password, projectId);
  else await accounts.setPassword(ADMIN_USER, password);
  if (!(await accounts.roleIn(userId, projectId))) await accounts.setRole(userId, projectId, "admin");
  const { id, token } = await accounts.createApiToken(
    userId,
    projectId,
    reset ? "admin (reset)" : "admin (first start)",
  );
  if (reset) {
    await accounts.revokeAccess(userId, id);
    await userChanged?.({ userId, kind: "access-revoked" });
  }
  writeFileSync(join(dataDir, "admin.password"), `${password}\n`, { mode: 0o600 });
  writeFileSync(join(dataDir, "admin.token"), `${token}\n`, { mode: 0o600 });
  return true;
}
