// A fake Tether REST API over real HTTP (node:http) for the CLI's unit tests of logs, alerts
// and webhooks: each route is a handler the test writes; every request is recorded. Also an Io
// that records output and whose stop signal (Ctrl-C) the test controls.
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Io } from "../src/io.js";

export interface Recorded {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage["headers"];
  body: any;
}

export type Handler = (req: Recorded, res: ServerResponse) => void;

export interface FakeApi {
  url: string;
  requests: Recorded[];
  /** Answer `METHOD /path` (no query) with `h`; the newest registration wins. */
  on(method: string, path: string, h: Handler): void;
  /** Env for the CLI: TETHER_URL and a token. */
  env: Record<string, string>;
  close(): Promise<void>;
}

export function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

export async function startFakeApi(): Promise<FakeApi> {
  const routes = new Map<string, Handler>();
  const requests: Recorded[] = [];
  const open = new Set<ServerResponse>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const u = new URL(req.url ?? "/", "http://x");
      const text = Buffer.concat(chunks).toString("utf8");
      const r: Recorded = {
        method: req.method ?? "GET",
        path: u.pathname,
        query: u.searchParams,
        headers: req.headers,
        body: text ? JSON.parse(text) : undefined,
      };
      requests.push(r);
      open.add(res);
      res.on("close", () => open.delete(res));
      const h = routes.get(`${r.method} ${r.path}`);
      if (!h)
        return json(res, 404, { error: { code: "TETHER_ERR_NOT_FOUND", message: `no route ${r.path}` } });
      h(r, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    requests,
    env: { TETHER_URL: url, TETHER_TOKEN: "tok_test" },
    on: (method, path, h) => routes.set(`${method} ${path}`, h),
    async close() {
      for (const res of open) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export interface TestIo extends Io {
  out(): string;
  err(): string;
  /** Raw chunks written to stdout (bytes stay bytes). */
  readonly chunks: (string | Uint8Array)[];
  /** Ctrl-C. */
  stop(): void;
}

export function testIo(env: Record<string, string>): TestIo {
  const ac = new AbortController();
  let out = "";
  let err = "";
  const chunks: (string | Uint8Array)[] = [];
  const text = (s: string | Uint8Array) => (typeof s === "string" ? s : Buffer.from(s).toString("utf8"));
  return {
    chunks,
    out: () => out,
    err: () => err,
    stop: () => ac.abort(),
    stdout: (s) => {
      chunks.push(s);
      out += text(s);
    },
    stderr: (s) => {
      err += text(s);
    },
    readStdin: async () => Buffer.alloc(0),
    env: { ...env, TETHER_HOME: "/nonexistent-tether-home" },
    home: "/nonexistent-home",
    stopSignal: () => ac.signal,
  };
}

/** Poll `cond` until it holds or `ms` pass (then throw `what`). */
export async function waitFor(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
