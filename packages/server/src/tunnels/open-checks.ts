/**
 * What must hold before a session is asked of a device (docs/protocol.md §17.1): the role, the
 * device's state and connection, the run-as user (the exec-users policy, as `exec --user`), the
 * forward allow-list, and the session limits. Each refusal names the rule and how to change it.
 */
import { DESTINATION_PATTERN, destinationAllowed, TetherError } from "@tether/protocol";
import { type Principal, requireRole } from "../accounts.js";
import type { DeviceRow } from "../devices.js";
import type { TunnelLimits } from "./types.js";

export function checkDevice(p: Principal, d: DeviceRow, isConnected: (id: string) => boolean): void {
  requireRole(p, "operator");
  if (d.project_id !== p.projectId)
    throw new TetherError("TETHER_ERR_DEVICE_NOT_FOUND", `no device ${d.name} in this project`);
  if (d.state !== "accepted")
    throw new TetherError("TETHER_ERR_DEVICE_STATE", `device ${d.name} is ${d.state}`);
  if (!isConnected(d.id)) throw new TetherError("TETHER_ERR_DEVICE_OFFLINE", `device ${d.name} is offline`);
}

export function checkRunAs(p: Principal, user: string | undefined, allowed: string[]): void {
  if (user === undefined || allowed.includes(user)) return;
  throw new TetherError(
    "TETHER_ERR_EXEC_USER_NOT_ALLOWED",
    allowed.length
      ? `shells in project ${p.project} may run as ${allowed.join(", ")} only, not ${user}`
      : `project ${p.project} allows no --user (shells run as the agent's own user); an admin can allow users with 'tether projects exec-users'`,
  );
}

export function checkDestination(allow: readonly string[], host: string, port: number): void {
  if (destinationAllowed(allow, host, port)) return;
  const shown = host.includes(":") && !host.startsWith("[") ? `[${host}]:${port}` : `${host}:${port}`;
  throw new TetherError(
    "TETHER_ERR_FORWARD_NOT_ALLOWED",
    `${shown} is not on the project's forward allow-list (${allow.length ? allow.join(", ") : "empty"}); an admin can change it with 'tether projects tunnels --forward-allow'`,
  );
}

const DEST = new RegExp(DESTINATION_PATTERN);

/** An allow-list as an admin wrote it: each entry HOST:PORT, HOST:LOW-HIGH or HOST:*, ports 1-65535. */
export function validateAllowList(list: unknown): string[] {
  if (!Array.isArray(list)) throw new TetherError("TETHER_ERR_BAD_REQUEST", "forwardAllow must be a list");
  if (list.length > 256)
    throw new TetherError("TETHER_ERR_BAD_REQUEST", `forwardAllow has ${list.length} entries; at most 256`);
  for (const e of list) {
    const bad = (why: string) =>
      new TetherError(
        "TETHER_ERR_BAD_REQUEST",
        `forward allow-list entry ${JSON.stringify(String(e).slice(0, 300))} ${why}; write HOST:PORT, HOST:LOW-HIGH or HOST:* (IPv6 in brackets)`,
      );
    if (typeof e !== "string" || !DEST.test(e)) throw bad("is not valid");
    const ports = e.slice(e.lastIndexOf(":") + 1);
    if (ports !== "*") {
      const [lo, hi = lo] = ports.split("-").map(Number);
      if (lo < 1 || hi > 65535 || lo > hi) throw bad("has a port outside 1-65535 or a range upside down");
    }
  }
  return [...new Set(list as string[])];
}

export function checkLimits(
  limits: TunnelLimits,
  d: DeviceRow,
  p: Principal,
  count: { device: number; user: number },
): void {
  if (count.device >= limits.perDevice)
    throw new TetherError(
      "TETHER_ERR_TUNNEL_LIMIT",
      `device ${d.name} already has ${count.device} open sessions, the most per device (tether server --tunnel-per-device ${limits.perDevice})`,
    );
  if (count.user >= limits.perUser)
    throw new TetherError(
      "TETHER_ERR_TUNNEL_LIMIT",
      `${p.username} already has ${count.user} open sessions, the most per user (tether server --tunnel-per-user ${limits.perUser})`,
    );
}
