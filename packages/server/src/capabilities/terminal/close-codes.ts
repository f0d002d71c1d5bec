/**
 * How a terminal ends on the user's WebSocket (docs/protocol.md §17.3): the error code of a
 * refusal picks the close code (the CLI exits 125 for refused, 255 for unreachable, like exec),
 * and a session's end reason picks the last message and the close code.
 */
import { type TerminalServerMessage, TUNNEL_CLOSE } from "@tether/protocol";
import type { SessionEnd } from "../../tunnels/index.js";

/** Refusals: the request or the caller was wrong, retrying the same will not help. */
const REFUSED = new Set([
  "TETHER_ERR_BAD_REQUEST",
  "TETHER_ERR_FORBIDDEN",
  "TETHER_ERR_EXEC_USER_NOT_ALLOWED",
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

const CLOSE_FOR_END: Record<SessionEnd["reason"], number> = {
  exited: TUNNEL_CLOSE.normal,
  closed: TUNNEL_CLOSE.normal,
  revoked: TUNNEL_CLOSE.revoked,
  idle: TUNNEL_CLOSE.timeout,
  "max-length": TUNNEL_CLOSE.timeout,
  "device-gone": TUNNEL_CLOSE.unreachable,
  "server-stopped": TUNNEL_CLOSE.unreachable,
  failed: TUNNEL_CLOSE.unreachable,
};

/** The last message and close code for everyone on a session that ended. */
export function endMessage(e: SessionEnd): { code: number; message: TerminalServerMessage } {
  const code = CLOSE_FOR_END[e.reason] ?? TUNNEL_CLOSE.unreachable;
  if (e.reason === "exited") return { code, message: { type: "exit", code: e.exitCode, signal: e.signal } };
  return {
    code,
    message: { type: "error", code: e.code ?? "TETHER_ERR_TUNNEL_CLOSED", message: e.message },
  };
}
