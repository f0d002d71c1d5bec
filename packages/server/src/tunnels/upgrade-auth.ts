/**
 * Authentication of a user's WebSocket upgrade (terminal, port forward): the same API token or
 * session cookie as the REST API (http/auth.ts), which never sees an upgrade. A cookie needs a
 * same-origin Origin (a foreign page cannot open a shell with the user's cookie); a token needs
 * none (the CLI). docs/security.md "Tunnels".
 */
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { ERRORS, type ErrorCode, PROJECT_HEADER, SESSION_COOKIE, TetherError } from "@tether/protocol";
import type { Accounts, Principal } from "../accounts.js";

function cookie(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? "").split(";")) {
    const i = part.indexOf("=");
    if (i > 0 && part.slice(0, i).trim() === name) return decodeURIComponent(part.slice(i + 1).trim());
  }
  return undefined;
}

export async function authenticateUpgrade(
  req: IncomingMessage,
  accounts: Accounts,
  allowedOrigins: () => string[],
): Promise<Principal> {
  const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? "");
  const token = m?.[1];
  const session = token ? undefined : cookie(req, SESSION_COOKIE);
  const origin = req.headers.origin;
  if (origin !== undefined) {
    const own = `https://${req.headers.host}`;
    if (origin !== own && !allowedOrigins().includes(origin))
      throw new TetherError(
        "TETHER_ERR_BAD_ORIGIN",
        `WebSocket connections from origin ${origin} are not allowed`,
      );
  } else if (session) {
    throw new TetherError(
      "TETHER_ERR_BAD_ORIGIN",
      "a cookie-authenticated WebSocket must carry an Origin header",
    );
  }
  const url = new URL(req.url ?? "/", "https://x");
  const project =
    (req.headers[PROJECT_HEADER] as string | undefined) || url.searchParams.get("project") || undefined;
  const p = await accounts.authenticate({ token, session }, project);
  if (!p)
    throw new TetherError(
      "TETHER_ERR_UNAUTHENTICATED",
      token || session ? "the API token or session is not valid" : "sign in or pass an API token",
    );
  return p;
}

/** Answer an upgrade with an HTTP error (status from the code) and close the socket. */
export function refuseUpgrade(socket: Duplex, err: unknown): void {
  const e =
    err instanceof TetherError ? err : new TetherError("TETHER_ERR_INTERNAL" as ErrorCode, "internal error");
  const status = ERRORS[e.code as ErrorCode]?.status ?? 500;
  const body = JSON.stringify({ error: { code: e.code, message: e.message } });
  if (socket.writable)
    socket.end(
      `HTTP/1.1 ${status} ${status === 401 ? "Unauthorized" : status === 403 ? "Forbidden" : "Error"}\r\n` +
        `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  // end() flushes the answer first; a peer that never reads it is cut off.
  setTimeout(() => socket.destroy(), 1000).unref();
}
