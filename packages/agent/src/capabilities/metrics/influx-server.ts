/**
 * The InfluxDB line protocol endpoint on 127.0.0.1 (tether.metrics.influxPort, default 8186):
 * UDP and HTTP on the same port number, as Telegraf's outputs and InfluxDB clients expect.
 * HTTP: POST /write (v1) and /api/v2/write (v2), `precision` ns|us|ms|s (v1 also n, u, m, h),
 * gzip accepted; 204 when every line was taken, 400 with a JSON error naming the first bad
 * line (the good lines are kept, as InfluxDB does), 413 over the body cap. GET /ping and
 * /health answer, and POST /query accepts Telegraf's CREATE DATABASE.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { gunzipSync } from "node:zlib";
import type { Drops } from "./drops.js";
import { influxToSamples, parsePrecision } from "./influx-line.js";
import type { Sample } from "./sample.js";
import { listenUdp, type UdpListener } from "./udp.js";

/** Host headers of a request sent to this loopback port (127.0.0.1, localhost, [::1], with a port or not). */
const LOOPBACK_HOST = /^(127\.0\.0\.1|localhost|\[::1\])(:\d+)?$/i;

/** Bytes of one request body, after decompression. */
export const MAX_INFLUX_BODY_BYTES = 4 * 1024 * 1024;

export interface InfluxEndpoint {
  readonly port: number;
  close(): Promise<void>;
}

export interface InfluxEndpointOptions {
  port: number;
  drops: Drops;
  sink: (samples: Sample[]) => void;
  now: () => number;
  onError: (err: Error) => void;
  maxBodyBytes?: number;
}

const json = (res: ServerResponse, status: number, body: unknown) => {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
};

/** InfluxDB's error shapes: v1 reads `error`, v2 `code` and `message`. */
const fail = (res: ServerResponse, status: number, code: string, message: string, extra: object = {}) =>
  json(res, status, { code, message, error: message, ...extra });

function readBody(req: IncomingMessage, max: number): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > max) {
        resolve(null);
        req.resume();
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => resolve(size > max ? null : Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

function handler(o: InfluxEndpointOptions, max: number) {
  return async (req: IncomingMessage, res: ServerResponse) => {
    // Loopback is not enough: a web page open on the device may POST here (a simple request
    // needs no preflight) or reach it by DNS rebinding. Line-protocol clients send no Origin
    // and name a loopback host; a browser's request does not pass both.
    if (req.headers.origin !== undefined || !LOOPBACK_HOST.test(req.headers.host ?? "")) {
      req.resume();
      return fail(res, 403, "forbidden", "only local line-protocol clients may write here (no browsers)");
    }
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const path = url.pathname;
    if (path === "/ping" && (req.method === "GET" || req.method === "HEAD")) {
      res.writeHead(204, { "x-influxdb-version": "tether" }).end();
      return;
    }
    if (path === "/health" && req.method === "GET") return json(res, 200, { name: "tether", status: "pass" });
    if (path === "/query" && req.method === "POST") {
      req.resume();
      return json(res, 200, { results: [{ statement_id: 0 }] });
    }
    if ((path !== "/write" && path !== "/api/v2/write") || req.method !== "POST")
      return fail(res, 404, "not found", "only POST /write and /api/v2/write take line protocol here");
    const precision = parsePrecision(url.searchParams.get("precision"));
    if (!precision) {
      req.resume();
      return fail(res, 400, "invalid", `bad precision ${JSON.stringify(url.searchParams.get("precision"))}`);
    }
    let body: Buffer | null;
    try {
      body = await readBody(req, max);
      if (body && /gzip/i.test(req.headers["content-encoding"] ?? ""))
        body = gunzipSync(body, { maxOutputLength: max });
    } catch (err) {
      const tooBig = (err as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE";
      if (tooBig) o.drops.add("oversize");
      return fail(
        res,
        tooBig ? 413 : 400,
        tooBig ? "request too large" : "invalid",
        tooBig ? `body over ${max} bytes` : "bad gzip body",
      );
    }
    if (!body) {
      o.drops.add("oversize");
      return fail(res, 413, "request too large", `body over ${max} bytes`);
    }
    const { samples, bad } = influxToSamples(body.toString("utf8"), precision, o.now(), o.drops);
    if (samples.length) o.sink(samples);
    if (bad.length) {
      const b = bad[0]!;
      const more = bad.length > 1 ? ` (and ${bad.length - 1} more bad lines)` : "";
      return fail(
        res,
        400,
        "invalid",
        `unable to parse line ${b.line}: ${b.error}: ${JSON.stringify(b.text)}${more}`,
        {
          line: b.line,
          badLines: bad.length,
        },
      );
    }
    res.writeHead(204).end();
  };
}

function listenHttp(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      server.off("error", reject);
      const a = server.address();
      resolve(typeof a === "object" && a ? a.port : port);
    });
  });
}

const closeHttp = (server: Server) =>
  new Promise<void>((r) => {
    server.close(() => r());
    server.closeAllConnections();
  });

export async function startInfluxEndpoint(o: InfluxEndpointOptions): Promise<InfluxEndpoint> {
  const max = o.maxBodyBytes ?? MAX_INFLUX_BODY_BYTES;
  const onUdp = (text: string) => {
    const { samples } = influxToSamples(text, "ns", o.now(), o.drops);
    if (samples.length) o.sink(samples);
  };
  // Port 0 (tests): the HTTP port is chosen first and UDP takes the same number; retry if taken.
  for (let attempt = 0; ; attempt++) {
    const server = createServer({ requestTimeout: 30_000, headersTimeout: 10_000 }, (req, res) => {
      handler(o, max)(req, res).catch((err) => {
        o.onError(err as Error);
        if (!res.headersSent) fail(res, 500, "internal error", (err as Error).message);
      });
    });
    server.on("clientError", (_err, socket) => socket.destroy());
    const port = await listenHttp(server, o.port);
    let udp: UdpListener;
    try {
      udp = await listenUdp(port, o.drops, onUdp, o.onError);
    } catch (err) {
      await closeHttp(server);
      if (o.port === 0 && attempt < 5) continue;
      throw err;
    }
    return {
      port,
      close: async () => {
        await Promise.all([closeHttp(server), udp.close()]);
      },
    };
  }
}
