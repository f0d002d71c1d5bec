/**
 * First-start bootstrap and `tether server reset-admin`: the admin account, its console
 * password in <data>/admin.password and an API token in <data>/admin.token (both 0600).
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Accounts } from "./accounts.js";
import { randomToken } from "./security/secrets.js";

export const ADMIN_USER = "admin";
export const DEFAULT_PROJECT = "default";

export async function ensureAdmin(accounts: Accounts, dataDir: string, reset = false): Promise<boolean> {
  const projectId = await accounts.ensureProject(DEFAULT_PROJECT);
  let userId: number | null = null;
  try {
    userId = await accounts.userId(ADMIN_USER);
  } catch {
    userId = null;
  }
  if (userId !== null && !reset) return false;
  const password = randomToken(18);
  if (userId === null) userId = await accounts.createUser(ADMIN_USER, password);
  else await accounts.setPassword(ADMIN_USER, password);
  if (!(await accounts.roleIn(userId, projectId))) await accounts.setRole(userId, projectId, "admin");
  const { token } = await accounts.createApiToken(
    userId,
    projectId,
    reset ? "admin (reset)" : "admin (first start)",
  );
  writeFileSync(join(dataDir, "admin.password"), `${password}\n`, { mode: 0o600 });
  writeFileSync(join(dataDir, "admin.token"), `${token}\n`, { mode: 0o600 });
  return true;
}
