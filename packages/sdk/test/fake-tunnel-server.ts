// A fake Tether server for the SDK's tunnel sockets: real HTTP with REST routes a test writes,
// and the user WebSocket endpoints (docs/protocol.md §17.3, §17.5) speaking the real frames
// through the real TunnelMux, each connection handed to the test.
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { TunnelMux } from "@tether/protocol/tunnel-mux";
import { type WebSocket, WebSocketServer } from "ws";

export interface UserLeg {
  ws: WebSocket;
  /** The upgrade request (headers: authorization, x-tether-project, x-tether-client). */
  req: IncomingMessage;
  /** The first JSON message (open / join). */
  first: any;
  mux: TunnelMux;
  /** JSON text messages after the first. */
  texts: any[];
  /** Send a JSON text message. */
  json(v: unknown): void;
}

export type LegHandler = (leg: UserLeg) => void | Promise<void>;
export type Route = (req: IncomingMessage, body: any, res: ServerResponse) => void;

export interface FakeTunnelServer {
  url: string;
  env: Record<string, string>;
  /** Handle the next connections to `path` (/api/v1/terminal, /api/v1/forward). */
  onLeg(path: string, h: LegHandler): void;
  /** Refuse upgrades to `path` with this HTTP status and error body (status 0: stop refusing). */
  refuse(path: string, status: number, code: string, message: string): void;
  route(method: string, path: string, h: Route): void;
  /** Requests seen by the REST routes: method, path with query. */
  requests: { method: string; url: string; body: any }[];
  legs: UserLeg[];
  close(): Promise<void>;
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

export async function startFakeTunnelServer(): Promise<FakeTunnelServer> {
  const legHandlers = new Map<string, LegHandler>();
  const refusals = new Map<string, { status: number; code: string; message: string }>();
  const routes = new Map<string, Route>();
  const requests: FakeTunnelServer["requests"] = [];
  const legs: UserLeg[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      const body = text ? JSON.parse(text) : undefined;
      requests.push({ method: req.method ?? "GET", url: req.url ?? "/", body });
      const path = new URL(req.url ?? "/", "http://x").pathname;
      const h = routes.get(`${req.method} ${path}`);
      if (!h)
        return sendJson(res, 404, { error: { code: "TETHER_ERR_NOT_FOUND", message: `no route ${path}` } });
      h(req, body, res);
    });
  });
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  server.on("upgrade", (req, socket, head) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    const r = refusals.get(path);
    if (r) {
      const body = JSON.stringify({ error: { code: r.code, message: r.message } });
      socket.end(
        `HTTP/1.1 ${r.status} Refused\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
      );
      return;
    }
    const h = legHandlers.get(path);
    if (!h) {
      socket.destroy();
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const mux = new TunnelMux({
        send: (f) => {
          if (ws.readyState === ws.OPEN) ws.send(f, { binary: true });
        },
      });
      let leg: UserLeg | undefined;
      const texts: any[] = [];
      ws.on("message", (data: Buffer, isBinary) => {
        if (isBinary) {
          mux.receive(new Uint8Array(data));
          return;
        }
        const m = JSON.parse(data.toString("utf8"));
        if (leg) {
          texts.push(m);
          return;
        }
        leg = { ws, req, first: m, mux, texts, json: (v) => ws.send(JSON.stringify(v)) };
        legs.push(leg);
        void h(leg);
      });
      ws.on("close", () => mux.destroy());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    env: { TETHER_URL: url, TETHER_TOKEN: "tok_test" },
    onLeg: (path, h) => legHandlers.set(path, h),
    refuse: (path, status, code, message) => {
      if (status) refusals.set(path, { status, code, message });
      else refusals.delete(path);
    },
    route: (method, path, h) => routes.set(`${method} ${path}`, h),
    requests,
    legs,
    async close() {
      for (const c of wss.clients) c.terminate();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Read a channel (or any readable) to its end as text. */
export function readAll(r: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve, reject) => {
    let s = "";
    r.on("data", (c: Buffer) => {
      s += c.toString("utf8");
    });
    r.on("end", () => resolve(s));
    r.on("error", reject);
  });
}
