/**
 * Node-only transport: node:https with a pinned CA (the server's own CA by default).
 * Import from "@tether/sdk/node"; never imported by the browser entry point.
 */
import http from "node:http";
import https from "node:https";
import tls from "node:tls";
import type { HttpResponse, Transport } from "./transport.js";

export * from "./tunnel-socket.js";

export interface NodeTransportOptions {
  /** Per-request timeout in ms (default 75 s: longer than the server's longest device wait). */
  timeoutMs?: number;
  /**
   * Trust the system roots besides `caCert` (default true). Loading ~150 roots into a TLS
   * context costs tens of ms, a large part of a short CLI run: the CLI first connects with
   * its pinned CA alone and falls back to the roots when the server's certificate needs them.
   */
  systemRoots?: boolean;
}

/** A transport that trusts the system roots plus `caCert` (PEM text) when given. */
export function nodeTransport(caCert?: string, o: NodeTransportOptions = {}): Transport {
  const ca = caCert ? (o.systemRoots === false ? [caCert] : [...tls.rootCertificates, caCert]) : undefined;
  // One TLS context for every connection: building it from ~150 roots took ~80 ms each time.
  const secureContext = ca ? tls.createSecureContext({ ca }) : undefined;
  const agent = new https.Agent({ keepAlive: true, ...(secureContext ? { secureContext } : {}) });
  const timeoutMs = o.timeoutMs ?? 75_000;
  const t: Transport = (r) =>
    new Promise<HttpResponse>((resolveOuter, rejectOuter) => {
      // r.signal (the client's, shared by its requests) destroys this request; its listener
      // goes when the request settles.
      const onAbort = () => req.destroy(r.signal?.reason ?? new Error("aborted"));
      const settle = () => r.signal?.removeEventListener("abort", onAbort);
      const resolve = (v: HttpResponse) => {
        settle();
        resolveOuter(v);
      };
      const reject = (e: unknown) => {
        settle();
        rejectOuter(e);
      };
      const u = new URL(r.url);
      const data =
        r.body === undefined
          ? undefined
          : typeof r.body === "string"
            ? Buffer.from(r.body, "utf8")
            : Buffer.from(r.body.buffer, r.body.byteOffset, r.body.byteLength);
      const mod = u.protocol === "http:" ? http : https;
      const req = mod.request(
        u,
        {
          method: r.method,
          headers: { ...r.headers, ...(data ? { "content-length": String(data.length) } : {}) },
          ...(u.protocol === "https:" ? { agent } : {}),
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("error", reject);
          res.on("end", () => {
            const headers: Record<string, string> = {};
            for (const [k, v] of Object.entries(res.headers)) {
              if (v !== undefined) headers[k.toLowerCase()] = Array.isArray(v) ? v.join(", ") : v;
            }
            resolve({
              status: res.statusCode ?? 0,
              headers,
              setCookies: res.headers["set-cookie"] ?? [],
              body: Buffer.concat(chunks).toString("utf8"),
            });
          });
        },
      );
      req.setTimeout(timeoutMs, () => {
        req.destroy(new Error(`no answer within ${Math.round(timeoutMs / 1000)} s`));
      });
      req.on("error", reject);
      if (r.signal?.aborted) return onAbort();
      r.signal?.addEventListener("abort", onAbort, { once: true });
      if (data) req.write(data);
      req.end();
    });
  t.stream = (r, onText, signal) =>
    new Promise((resolve, reject) => {
      const u = new URL(r.url);
      const mod = u.protocol === "http:" ? http : https;
      const req = mod.request(
        u,
        { method: r.method, headers: r.headers, ...(u.protocol === "https:" ? { agent } : {}) },
        (res) => {
          res.setEncoding("utf8");
          const status = res.statusCode ?? 0;
          let body = "";
          res.on("data", (c: string) => {
            if (status >= 400) body += c;
            else onText(c);
          });
          res.on("error", (err) => (signal.aborted ? resolve({ status, body }) : reject(err)));
          res.on("end", () => resolve({ status, body }));
          res.on("close", () => resolve({ status, body }));
        },
      );
      // The server sends a keepalive comment every 15 s; silence for a minute is a dead link.
      req.setTimeout(60_000, () => req.destroy(new Error("the event stream went silent")));
      const abort = () => req.destroy();
      signal.addEventListener("abort", abort, { once: true });
      req.on("error", (err) => (signal.aborted ? resolve({ status: 200, body: "" }) : reject(err)));
      req.end();
    });
  return t;
}
