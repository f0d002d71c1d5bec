/**
 * The agent's dial-back endpoint (docs/protocol.md §17.1), mounted at TUNNEL_AGENT_PATH on the
 * HTTPS port: `Authorization: Tunnel <token>`, `?sid=ses_…`, `x-tether-device: <id>`. Checked
 * before the upgrade is accepted: a wrong, used, expired or misdirected token gets a plain 401
 * and never a WebSocket. No database access: tokens and waiting sessions are in memory, so a
 * flood of bad dials costs a hash each.
 */
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import {
  SESSION_ID_PATTERN,
  TetherError,
  TUNNEL_AUTH_SCHEME,
  TUNNEL_LIMITS,
  TUNNEL_TOKEN_PATTERN,
} from "@tether/protocol";
import type { Logger } from "pino";
import { type WebSocket, WebSocketServer } from "ws";
import type { Session } from "./session.js";
import type { TunnelTokens } from "./tokens.js";
import type { WebSocketHandler } from "./types.js";
import { refuseUpgrade } from "./upgrade-auth.js";

const SID = new RegExp(SESSION_ID_PATTERN);
const TOKEN = new RegExp(TUNNEL_TOKEN_PATTERN);
const AUTH = new RegExp(`^${TUNNEL_AUTH_SCHEME}\\s+(\\S+)$`);
const DEVICE_ID = /^[A-Za-z0-9_-]{1,64}$/;

export interface AgentEndpointDeps {
  tokens: TunnelTokens;
  /** The session waiting for this id's dial-back, if any. */
  waiting(sessionId: string): Session | undefined;
  /** A presentation was refused (stats). */
  refused(): void;
  log: Logger;
}

export function agentEndpoint(d: AgentEndpointDeps): { handler: WebSocketHandler; close(): void } {
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: TUNNEL_LIMITS.maxFrameBytes,
    perMessageDeflate: false,
    clientTracking: false,
  });
  const handler = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? "/", "https://x");
    const sid = url.searchParams.get("sid") ?? "";
    const token = AUTH.exec(req.headers.authorization ?? "")?.[1] ?? "";
    const deviceId = String(req.headers["x-tether-device"] ?? "");
    const refuse = (why: string) => {
      d.refused();
      d.log.warn(
        { sid: sid.slice(0, 40), device: deviceId.slice(0, 64), why, remote: req.socket.remoteAddress },
        "tunnel dial-back refused",
      );
      refuseUpgrade(
        socket,
        new TetherError(
          "TETHER_ERR_TUNNEL_TOKEN",
          "the tunnel token is not valid (unknown, used, expired, or for another device or session)",
        ),
      );
    };
    if (!SID.test(sid) || !TOKEN.test(token) || !DEVICE_ID.test(deviceId)) return refuse("malformed");
    const verdict = d.tokens.take(sid, deviceId, token);
    const s = d.waiting(sid);
    if (verdict !== true) {
      // The token was spent by this presentation: the session cannot open any more, say so now.
      if (s)
        s.abort(
          "TETHER_ERR_TUNNEL_TOKEN",
          `the dial-back for this session was refused (${verdict === "device" ? "from another device" : `${verdict} token`}); try again`,
        );
      return refuse(`${verdict} token`);
    }
    if (!s || s.device.id !== deviceId) return refuse("no session waiting");
    (socket as { setNoDelay?: (b: boolean) => void }).setNoDelay?.(true);
    wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      if (!s.waiting) {
        ws.close(1000);
        return;
      }
      s.attach(ws);
    });
  };
  return { handler, close: () => wss.close() };
}
