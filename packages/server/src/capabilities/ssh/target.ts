/**
 * What an SSH username names (docs/protocol.md §17.6): `DEVICE` in the user's default project,
 * or `DEVICE.PROJECT`. DEVICE is a device name or id; names and project names may hold dots
 * themselves, so every project of the user that ends the username is tried (longest name
 * first) before the whole username is taken as a device of the default project.
 */
import { type Role, TetherError } from "@tether/protocol";
import type { Accounts } from "../../accounts.js";
import type { Devices } from "../../devices.js";

export interface Target {
  projectId: number;
  project: string;
  /** The user's role there. */
  role: Role;
  /** The device's id when it resolved; its name (or what the user typed) for messages. */
  deviceId: string | null;
  deviceName: string;
  /** Why there is no device (shown on the session's stderr after sign-in): not found, ambiguous. */
  problem: string | null;
}

/** What a username may look like at all: device-name characters, one optional `.PROJECT`. */
const USERNAME = /^[A-Za-z0-9._-]{1,129}$/;

/** The target of `username` for this user, or a reason to refuse the sign-in (no project, bad name). */
export async function resolveTarget(
  accounts: Accounts,
  devices: Devices,
  userId: number,
  username: string,
): Promise<Target | { refused: string }> {
  if (!USERNAME.test(username)) return { refused: "the SSH username is not DEVICE or DEVICE.PROJECT" };
  const { roles, defaultProjectId } = await accounts.home(userId);
  if (!roles.length) return { refused: "the user has no role in any project" };
  // As a sign-in that names no project: the user's choice, else the first by name.
  const home = roles.find((r) => r.id === defaultProjectId) ?? roles[0]!;
  const candidates = roles
    .filter((r) => username.length > r.name.length + 1 && username.endsWith(`.${r.name}`))
    .sort((a, b) => b.name.length - a.name.length)
    .map((r) => ({ project: r, ref: username.slice(0, -(r.name.length + 1)) }));
  candidates.push({ project: home, ref: username });
  for (const c of candidates) {
    const base = { projectId: c.project.id, project: c.project.name, role: c.project.role };
    try {
      const d = await devices.find(c.project.id, c.ref);
      return { ...base, deviceId: d.id, deviceName: d.name, problem: null };
    } catch (err) {
      if (!(err instanceof TetherError)) throw err;
      if (err.code === "TETHER_ERR_DEVICE_AMBIGUOUS")
        return { ...base, deviceId: null, deviceName: c.ref, problem: err.message };
      if (err.code !== "TETHER_ERR_DEVICE_NOT_FOUND") throw err;
    }
  }
  const first = candidates[0]!;
  return {
    projectId: first.project.id,
    project: first.project.name,
    role: first.project.role,
    deviceId: null,
    deviceName: first.ref,
    problem: `no device ${first.ref} in project ${first.project.name}`,
  };
}
