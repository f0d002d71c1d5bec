/**
 * How a forward ends on the user's WebSocket (docs/protocol.md §17.5): a refusal's error code
 * picks the close code (the CLI exits 125 for refused, 255 for unreachable, as exec and shell
 * do), and a session's end reason picks it once the forward was open.
 */
import { TUNNEL_CLOSE } from "@tether/protocol";
import type { SessionEnd } from "../../tunnels/index.js";

/** Refusals: the request or the caller was wrong; retrying the same will not help. */
const REFUSED = new Set([
  "TETHER_ERR_BAD_REQUEST",
  "TETHER_ERR_FORBIDDEN",
  "TETHER_ERR_FORWARD_NOT_ALLOWED",
  "TETHER_ERR_TUNNEL_LIMIT",
  "TETHER_ERR_DEVICE_STATE",
  "TETHER_ERR_DEVICE_AMBIGUOUS",
  "TETHER_ERR_BAD_ORIGIN",
  "TETHER_ERR_UNAUTHENTICATED",
]);

/** The close code for a forward that could not open with this error code. */
export function refusalClose(code: string): number {
  return REFUSED.has(code) ? TUNNEL_CLOSE.refused : TUNNEL_CLOSE.unreachable;
}

/** The close code once the session ended (the user's own close needs none: its socket is gone). */
export function endClose(reason: SessionEnd["reason"]): number {
  if (reason === "revoked") return TUNNEL_CLOSE.revoked;
  if (reason === "idle" || reason === "max-length") return TUNNEL_CLOSE.timeout;
  return TUNNEL_CLOSE.unreachable;
}
