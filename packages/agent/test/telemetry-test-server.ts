/**
 * A small real HTTPS ingest endpoint for the agent's telemetry tests (docs/protocol.md §14):
 * a self-signed certificate made with openssl, the server's duplicate rule (a seq at or below
 * the last stored one per stream is a duplicate, answered 200), tokens it accepts, and a
 * scripted answer per batch (a status, or "hang"). It can go down and come back on its port.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import type { TelemetryBatch } from "@tether/protocol";

export interface Received {
  token: string;
  batch: TelemetryBatch;
  headers: Record<string, string | string[] | undefined>;
  /** The answer given ("hang": none). */
  status: number | "hang";
  /** True when this request stored the batch (a 200 that was not a duplicate). */
  stored: boolean;
}

/** A scripted answer: an HTTP status with an error code, or no answer at all. */
export type Answer = { status: number; code?: string } | "hang" | undefined;

export function makeCert(cn = "tether-telemetry-test"): { cert: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), "tether-cert-"));
  try {
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-days",
        "2",
        "-subj",
        `/CN=${cn}`,
        "-addext",
        "subjectAltName=DNS:localhost,IP:127.0.0.1",
        "-keyout",
        "key.pem",
        "-out",
        "cert.pem",
      ],
      { cwd: dir, stdio: ["ignore", "ignore", "pipe"] },
    );
    return {
      cert: readFileSync(join(dir, "cert.pem"), "utf8"),
      key: readFileSync(join(dir, "key.pem"), "utf8"),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export class TelemetryTestServer {
  /** Every request that reached the handler, in arrival order. */
  readonly received: Received[] = [];
  /** Tokens the server accepts. */
  readonly tokens = new Set<string>();
  /** Decide the answer to a batch (after the token check); undefined: store it (200). */
  answer: (b: TelemetryBatch) => Answer = () => undefined;
  /** The last stored seq per stream (a test may preset it: "stored before the crash"). */
  readonly last = new Map<string, number>();
  private server: https.Server | null = null;
  private readonly hung = new Set<import("node:http").ServerResponse>();
  port = 0;

  constructor(readonly tls: { cert: string; key: string }) {}

  get url(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  /** Batches stored (not duplicates), in order. */
  get stored(): TelemetryBatch[] {
    return this.received.filter((r) => r.stored).map((r) => r.batch);
  }

  async start(): Promise<void> {
    const server = https.createServer({ cert: this.tls.cert, key: this.tls.key }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => this.handle(req, res, Buffer.concat(chunks)));
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.port, "127.0.0.1", () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  /** Go down: refuse connections and cut the open ones (an outage). */
  async stop(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (!s) return;
    for (const r of this.hung) r.destroy();
    this.hung.clear();
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  private handle(
    req: import("node:http").IncomingMessage,
    res: import("node:http").ServerResponse,
    body: Buffer,
  ): void {
    const send = (status: number, json: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(json));
    };
    const token = String(req.headers.authorization ?? "").replace(/^Bearer /, "");
    let batch: TelemetryBatch;
    try {
      const raw = req.headers["content-encoding"] === "gzip" ? gunzipSync(body) : body;
      batch = JSON.parse(raw.toString("utf8")) as TelemetryBatch;
    } catch {
      send(400, { error: { code: "TETHER_ERR_BATCH_MALFORMED", message: "not gzip JSON" } });
      return;
    }
    const rec: Received = { token, batch, headers: req.headers, status: 200, stored: false };
    if (!this.tokens.has(token)) {
      rec.status = 401;
      this.received.push(rec);
      send(401, { error: { code: "TETHER_ERR_TELEMETRY_TOKEN", message: "bad token" } });
      return;
    }
    const a = this.answer(batch);
    if (a === "hang") {
      rec.status = "hang";
      this.received.push(rec);
      this.hung.add(res);
      return;
    }
    if (a && a.status !== 200) {
      rec.status = a.status;
      this.received.push(rec);
      send(a.status, { error: { code: a.code ?? "TETHER_ERR_INTERNAL", message: "scripted" } });
      return;
    }
    const last = this.last.get(batch.stream) ?? 0;
    rec.stored = batch.seq > last;
    if (rec.stored) this.last.set(batch.stream, batch.seq);
    this.received.push(rec);
    send(200, { seq: batch.seq, duplicate: !rec.stored, accepted: 0, dropped: {}, skewMs: 0 });
  }
}

/** Poll `cond` until true or the deadline (no fixed sleeps: the test waits on the condition). */
export async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Tokens in the protocol's shape (43 base64url characters). */
export const tokenOf = (c: string): string => c.repeat(43);

/** A metrics batch of `points` samples at t0, t0+1000, ... (one series), with its span. */
export function metricsBatch(t0: number, points = 3, name = "cpu_usage_percent") {
  const pts: [number, number][] = Array.from({ length: points }, (_, i) => [t0 + i * 1000, i]);
  return {
    metrics: [{ name, points: pts }],
    span: { from: t0, to: t0 + (points - 1) * 1000, count: points },
  };
}

/** Wait until the server stored `n` batches AND the agent processed the answers (its buffer is empty). */
export function delivered(
  server: TelemetryTestServer,
  layer: { status(): { pending: Record<string, number> } },
  n: number,
  what: string,
): Promise<void> {
  return until(
    () => server.stored.length === n && Object.values(layer.status().pending).every((p) => p === 0),
    what,
  );
}
