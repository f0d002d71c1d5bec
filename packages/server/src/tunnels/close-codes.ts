/**
 * How a user's tunnel WebSocket (terminal, forward) closes (docs/protocol.md §17.3, §17.5): a
 * refusal's error code picks "refused" or "unreachable" (the CLI exits 125 or 255, as exec
 * does), and a session's end reason picks the close code once it was open.
 */
import { TUNNEL_CLOSE } from "@tether/protocol";
import type { EndReason } from "./types.js";

/** Refusals: the request or the caller was wrong; retrying the same will not help. */
const REFUSED = new Set([
  "TETHER_ERR_BAD_REQUEST",
  "TETHER_ERR_FORBIDDEN",
  "TETHER_ERR_EXEC_USER_NOT_ALLOWED",
  "TETHER_ERR_FORWARD_NOT_ALLOWED",
  "TETHER_ERR_TUNNEL_LIMIT",
  "TETHER_ERR_DEVICE_STATE",
  "TETHER_ERR_DEVICE_AMBIGUOUS",
  "TETHER_ERR_SESSION_NOT_FOUND",
  "TETHER_ERR_BAD_ORIGIN",
  "TETHER_ERR_UNAUTHENTICATED",
]);

/** The close code for a session that could not open with this error code. */
export function refusalClose(code: string): number {
  return REFUSED.has(code) ? TUNNEL_CLOSE.refused : TUNNEL_CLOSE.unreachable;
}

const CLOSE_FOR_END: Record<EndReason, number> = {
  exited: TUNNEL_CLOSE.normal,
  closed: TUNNEL_CLOSE.normal,
  revoked: TUNNEL_CLOSE.revoked,
  idle: TUNNEL_CLOSE.timeout,
  "max-length": TUNNEL_CLOSE.timeout,
  "device-gone": TUNNEL_CLOSE.unreachable,
  "server-stopped": TUNNEL_CLOSE.unreachable,
  failed: TUNNEL_CLOSE.unreachable,
};

/** The close code once the session ended. */
export function endClose(reason: EndReason): number {
  return CLOSE_FOR_END[reason] ?? TUNNEL_CLOSE.unreachable;
}
