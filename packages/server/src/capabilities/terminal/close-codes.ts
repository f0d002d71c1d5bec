/**
 * The last message of a terminal session (docs/protocol.md §17.3): `exit` after the process
 * exited, else `error` with why; the close code comes from the tunnel layer.
 */
import type { TerminalServerMessage } from "@tether/protocol";
import { endClose, type SessionEnd } from "../../tunnels/index.js";

/** The last message and close code for everyone on a session that ended. */
export function endMessage(e: SessionEnd): { code: number; message: TerminalServerMessage } {
  const code = endClose(e.reason);
  if (e.reason === "exited") return { code, message: { type: "exit", code: e.exitCode, signal: e.signal } };
  return {
    code,
    message: { type: "error", code: e.code ?? "TETHER_ERR_TUNNEL_CLOSED", message: e.message },
  };
}
