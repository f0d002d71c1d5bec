/**
 * Which devices a metrics request covers, inside the caller's project only: one device by
 * name or id, a label selector (TETHER_ERR_BAD_SELECTOR when it does not parse), or every
 * device of the project. Data outlives revocation, so any state is readable here.
 */
import { TetherError } from "@tether/protocol";
import type { Principal } from "../accounts.js";
import type { DeviceRow, Devices } from "../devices.js";

export interface Scope {
  rows: DeviceRow[];
  ids: string[];
  byId: Map<string, DeviceRow>;
}

export function scopeOf(rows: DeviceRow[]): Scope {
  return { rows, ids: rows.map((r) => r.id), byId: new Map(rows.map((r) => [r.id, r])) };
}

export async function resolveScope(
  devices: Devices,
  p: Principal,
  q: { device?: string; selector?: string },
  o: { acceptedOnly?: boolean } = {},
): Promise<Scope> {
  if (q.device !== undefined && q.selector !== undefined)
    throw new TetherError("TETHER_ERR_BAD_REQUEST", "give device or selector, not both");
  let rows: DeviceRow[];
  if (q.device !== undefined) rows = [await devices.find(p.projectId, q.device)];
  else rows = await devices.list(p.projectId, q.selector);
  if (o.acceptedOnly) rows = rows.filter((r) => r.state === "accepted");
  return scopeOf(rows);
}
