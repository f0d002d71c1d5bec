/**
 * For the terminal endpoint's unit tests: a fake tunnel layer whose sessions are real TunnelMux
 * pairs (the server's channel 0 ↔ a "device" channel the test drives), fake accounts and devices,
 * and the real TerminalEndpoint on a loopback HTTP server. The user's side is a real `ws` client
 * (tests/support/terminal-client.ts).
 */
import { EventEmitter } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { type Role, TERMINAL_WS_PATH, TetherError } from "@tether/protocol";
import { type MuxChannel, TunnelMux } from "@tether/protocol/tunnel-mux";
import { pino } from "pino";
import type { Principal } from "../src/accounts.js";
import { type EndpointLimits, TerminalEndpoint } from "../src/capabilities/terminal/endpoint.js";
import type { DeviceRow } from "../src/devices.js";
import type { EndReason, OpenRequest, SessionEnd, TunnelLayer } from "../src/tunnels/index.js";

let n = 0;

export class FakeSession extends EventEmitter {
  readonly id = `ses_${String(++n).padStart(20, "0")}`;
  readonly kind = "shell" as const;
  readonly recorded = false;
  readonly startedAt = new Date();
  readonly projectId: number;
  readonly device: { id: string; name: string };
  readonly owner: { userId: number; username: string };
  readonly via: string;
  pty: { cols: number; rows: number } | null;
  readonly main: MuxChannel;
  /** The device's end of channel 0: write output, read input, watch 'resize'/'signal', exit(). */
  readonly dev: MuxChannel;
  readonly devMux: TunnelMux;
  readonly serverMux: TunnelMux;
  ended: SessionEnd | null = null;
  private exitInfo: { code: number | null; signal: string | null } | null = null;

  constructor(readonly req: OpenRequest) {
    super();
    this.projectId = req.principal.projectId;
    this.device = { id: req.device.id, name: req.device.name };
    this.owner = { userId: req.principal.userId, username: req.principal.username };
    this.via = req.via;
    this.pty = req.spec.kind === "shell" && req.spec.shell.pty ? { ...req.spec.shell.pty } : null;
    // Frames cross on a later turn, like a socket.
    this.serverMux = new TunnelMux({ send: (f) => setImmediate(() => this.devMux.receive(f)) });
    this.devMux = new TunnelMux({ send: (f) => setImmediate(() => this.serverMux.receive(f)) });
    this.main = this.serverMux.channel(0);
    this.dev = this.devMux.channel(0);
    this.dev.on("error", () => {});
    this.main.on("error", () => {});
    this.main.onResize = (cols, rows) => {
      if (this.pty) this.pty = { cols, rows };
    };
    this.main.on("exit", (code: number | null, signal: string | null) => {
      this.exitInfo = { code, signal };
    });
    this.main.on("close", () => {
      if (this.exitInfo)
        this.finish({
          reason: "exited",
          message: `exited ${this.exitInfo.code}`,
          exitCode: this.exitInfo.code,
          signal: this.exitInfo.signal,
        });
      else this.close("closed");
    });
  }

  openChannel(): Promise<never> {
    return Promise.reject(new TetherError("TETHER_ERR_BAD_REQUEST", "no tcp"));
  }

  close(reason: EndReason, message?: string): void {
    this.finish({
      reason,
      message: message ?? `ended: ${reason}`,
      code: "TETHER_ERR_TUNNEL_CLOSED",
      exitCode: null,
      signal: null,
    });
  }

  private finish(e: SessionEnd): void {
    if (this.ended) return;
    this.ended = e;
    this.emit("end", e);
    this.serverMux.destroy();
    this.devMux.destroy();
  }
}

export interface World {
  url: string;
  endpoint: TerminalEndpoint;
  sessions: FakeSession[];
  opens: OpenRequest[];
  /** Make the next open() fail with this error. */
  failNext: TetherError | null;
  tokens: Record<string, Principal>;
  /** Roles now, as accounts.roleIn answers (userId → role in project 1). */
  roles: Map<number, Role | null>;
  close(): Promise<void>;
}

const principal = (userId: number, username: string, role: Role, projectId = 1): Principal => ({
  userId,
  username,
  projectId,
  project: projectId === 1 ? "default" : "elsewhere",
  role,
  via: "token",
});

export async function world(limits: Partial<EndpointLimits> = {}): Promise<World> {
  const sessions: FakeSession[] = [];
  const opens: OpenRequest[] = [];
  const tokens: Record<string, Principal> = {
    admin: principal(1, "admin", "admin"),
    ops: principal(2, "ops", "operator"),
    ops2: principal(3, "ops2", "operator"),
    viewer: principal(4, "watcher", "viewer"),
    stranger: principal(5, "stranger", "admin", 2),
  };
  const w: World = {
    url: "",
    endpoint: undefined as unknown as TerminalEndpoint,
    sessions,
    opens,
    failNext: null,
    tokens,
    roles: new Map(),
    close: async () => {},
  };
  const tunnels: Partial<TunnelLayer> = {
    async open(req) {
      opens.push(req);
      if (w.failNext) {
        const e = w.failNext;
        w.failNext = null;
        throw e;
      }
      const s = new FakeSession(req);
      sessions.push(s);
      return s as never;
    },
    live: (projectId, id) =>
      sessions.find((s) => s.id === id && s.projectId === projectId && !s.ended) as never,
  };
  const devices = {
    async findAccepted(projectId: number, ref: string): Promise<DeviceRow> {
      if (ref !== "robot-1" && ref !== "d1-0001")
        throw new TetherError("TETHER_ERR_DEVICE_NOT_FOUND", `no device ${ref} in this project`);
      if (projectId !== 1) throw new TetherError("TETHER_ERR_DEVICE_NOT_FOUND", "other project");
      return { id: "d1-0001", name: "robot-1", project_id: 1, state: "accepted" } as DeviceRow;
    },
  };
  const accounts = {
    async authenticate(c: { token?: string; session?: string }) {
      return c.token ? tokens[c.token] : undefined;
    },
    async roleIn(userId: number, projectId: number): Promise<Role | null> {
      if (w.roles.has(userId)) return w.roles.get(userId) ?? null;
      return (
        Object.values(tokens).find((p) => p.userId === userId && p.projectId === projectId)?.role ?? null
      );
    },
  };
  const endpoint = new TerminalEndpoint(
    { accounts, devices, tunnels, config: {} } as never,
    pino({ level: "silent" }),
    {
      maxViewers: 16,
      maxLagBytes: 1024 * 1024,
      replayBytes: 64 * 1024,
      flushMs: 5000,
      firstMessageMs: 10_000,
      socketsPerUser: 64,
      ...limits,
    },
  );
  const server = http.createServer((_req, res) => res.writeHead(404).end());
  server.on("upgrade", (req, socket, head) => {
    if ((req.url ?? "").split("?")[0] === TERMINAL_WS_PATH) endpoint.upgrade(req, socket, head);
    else socket.destroy();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  w.url = `ws://127.0.0.1:${port}${TERMINAL_WS_PATH}`;
  w.endpoint = endpoint;
  w.close = async () => {
    for (const s of sessions) s.close("server-stopped");
    await endpoint.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  };
  return w;
}

export const auth = (token: string, extra: Record<string, string> = {}) => ({
  authorization: `Bearer ${token}`,
  ...extra,
});

export const OPEN = { type: "open", device: "robot-1", pty: { cols: 80, rows: 24 } } as const;
