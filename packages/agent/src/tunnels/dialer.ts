/**
 * Dials tunnels back to the server (docs/protocol.md §17.1, §17.2): on `tunnel.open`, a
 * WebSocket to the server's TUNNEL_AGENT_PATH over TLS verified against the pinned CA (as
 * telemetry), presenting the single-use token; then the frames run through a TunnelMux and each
 * session goes to the capability that registered its kind (terminal: shells; forward: tcp).
 * When the socket closes, every channel closes, and the handlers kill what they carry.
 */
import {
  destinationAllowed,
  FrameError,
  TUNNEL_AGENT_PATH,
  TUNNEL_AUTH_SCHEME,
  TUNNEL_CLOSE,
  TUNNEL_LIMITS,
} from "@tether/protocol";
import { type MuxChannel, TunnelMux } from "@tether/protocol/tunnel-mux";
import WebSocket from "ws";
import type { AgentTunnels, AgentTunnelsOptions, ShellHandler, TcpHandler, TunnelOpen } from "./types.js";

/** How long the dial (TCP, TLS, upgrade) may take; the server gives up on its side at 10 s too. */
const CONNECT_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_TUNNELS = 32;

export function tunnelUrl(apiUrl: string, sid: string): string {
  const base = apiUrl.replace(/\/+$/, "").replace(/^http/, "ws");
  return `${base}${TUNNEL_AGENT_PATH}?sid=${encodeURIComponent(sid)}`;
}

interface Tunnel {
  sid: string;
  ws: WebSocket;
  mux: TunnelMux | null;
}

export function createAgentTunnels(o: AgentTunnelsOptions): AgentTunnels {
  const log = o.log;
  const max = o.maxTunnels ?? DEFAULT_MAX_TUNNELS;
  const tunnels = new Set<Tunnel>();
  let shellHandler: ShellHandler | undefined;
  let tcpHandler: TcpHandler | undefined;
  let stopping = false;

  function start(t: Tunnel, open: TunnelOpen, mux: TunnelMux): void {
    if (open.kind === "shell") {
      const ch = mux.channel(0);
      if (!open.shell || !shellHandler) {
        ch.fail(
          "TETHER_ERR_SPAWN_FAILED",
          open.shell
            ? "this agent does not run shells (no terminal capability)"
            : "the request named no shell to run",
        );
        return;
      }
      try {
        shellHandler({ id: t.sid, spec: open.shell, channel: ch });
      } catch (err) {
        log.error({ err, session: t.sid }, "the shell handler failed");
        ch.fail("TETHER_ERR_SPAWN_FAILED", `could not start the shell: ${(err as Error).message}`);
      }
      return;
    }
    const allow = open.tcp?.allow ?? [];
    mux.on("open", (ch: MuxChannel, host: string, port: number) => {
      // The server checked already; checking again here means a confused server cannot send us elsewhere.
      if (!destinationAllowed(allow, host, port))
        return ch.fail(
          "TETHER_ERR_FORWARD_NOT_ALLOWED",
          `${host}:${port} is not on the project's forward allow-list`,
        );
      if (!tcpHandler)
        return ch.fail(
          "TETHER_ERR_FORWARD_FAILED",
          "this agent does not forward ports (no forward capability)",
        );
      try {
        tcpHandler({ id: t.sid, allow }, ch, { host, port });
      } catch (err) {
        log.error({ err, session: t.sid }, "the forward handler failed");
        ch.fail("TETHER_ERR_FORWARD_FAILED", `could not connect: ${(err as Error).message}`);
      }
    });
  }

  function dial(open: TunnelOpen): void {
    try {
      if (stopping) return;
      if (tunnels.size >= max) {
        log.warn(
          { session: open.sid, open: tunnels.size },
          `refusing a tunnel: ${max} are open already (the most)`,
        );
        return;
      }
      const ws = new WebSocket(tunnelUrl(o.apiUrl, open.sid), {
        ca: [o.caCert],
        rejectUnauthorized: true,
        headers: { authorization: `${TUNNEL_AUTH_SCHEME} ${open.token}`, "x-tether-device": o.deviceId },
        maxPayload: TUNNEL_LIMITS.maxFrameBytes,
        perMessageDeflate: false,
        handshakeTimeout: CONNECT_TIMEOUT_MS,
        followRedirects: false,
      });
      const t: Tunnel = { sid: open.sid, ws, mux: null };
      tunnels.add(t);
      log.debug({ session: open.sid, kind: open.kind }, "dialling the tunnel back");
      ws.on("upgrade", (res) => (res.socket as { setNoDelay?: (b: boolean) => void }).setNoDelay?.(true));
      ws.on("unexpected-response", (_req, res) => {
        log.warn({ session: open.sid, status: res.statusCode }, "the server refused the tunnel");
        res.resume();
        ws.terminate();
      });
      ws.on("error", (err) => log.warn({ err, session: open.sid }, "tunnel connection failed"));
      ws.on("open", () => {
        const mux = new TunnelMux({
          send: (f) => {
            if (ws.readyState === WebSocket.OPEN) ws.send(f);
          },
        });
        t.mux = mux;
        ws.on("message", (data: Buffer, isBinary: boolean) => {
          if (!isBinary) return protocolError(t, "a text message on the tunnel");
          try {
            mux.receive(data);
          } catch (err) {
            if (err instanceof FrameError) protocolError(t, err.message);
            else {
              log.error({ err, session: t.sid }, "a tunnel frame handler failed");
              ws.close(TUNNEL_CLOSE.normal);
              mux.destroy();
            }
          }
        });
        log.info({ session: open.sid, kind: open.kind }, "tunnel open");
        start(t, open, mux);
      });
      ws.on("close", (code: number) => {
        tunnels.delete(t);
        if (t.mux) log.info({ session: t.sid, code }, "tunnel closed");
        t.mux?.destroy();
      });
    } catch (err) {
      log.error({ err, session: open.sid }, "could not dial the tunnel");
    }
  }

  function protocolError(t: Tunnel, what: string): void {
    log.warn({ session: t.sid, what }, "tunnel protocol error from the server");
    t.ws.close(TUNNEL_CLOSE.protocol, "protocol error");
    t.mux?.destroy();
  }

  return {
    onShell(h) {
      shellHandler = h;
    },
    onTcp(h) {
      tcpHandler = h;
    },
    dial,
    count: () => tunnels.size,
    closeAll() {
      stopping = true;
      for (const t of [...tunnels]) {
        t.ws.close(1001, "agent stopping");
        // The channels close now, so their processes are killed before the agent exits.
        t.mux?.destroy();
        setTimeout(() => t.ws.terminate(), 1000).unref();
      }
    },
  };
}
