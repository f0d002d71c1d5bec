/**
 * HTTP bodies: JSON bodies through the server's own Fastify app in this process (app.inject,
 * no sockets) for the routes that take bodies from outside: the device-facing enrollment
 * endpoints (no user auth) and, as the admin, rename/label, create command and create
 * enrollment token. The first input byte picks the route, the rest is the body.
 * Contract: any 4xx (or 2xx) answer; a 5xx or a thrown inject is a crash.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer, type TetherServer } from "@tether/server";
import pino from "pino";
import type { Target } from "../lib.js";
import { enrollBody, key43 as k } from "./keys.js";

const ROUTES = [
  { method: "POST", url: "/api/v1/enroll", auth: false },
  { method: "POST", url: "/api/v1/enroll/poll", auth: false },
  { method: "PATCH", url: "/api/v1/devices/robot-7", auth: true },
  { method: "POST", url: "/api/v1/commands", auth: true },
  { method: "POST", url: "/api/v1/enrollment-tokens", auth: true },
] as const;

export class ServerError extends Error {}

let srv: TetherServer | undefined;
let dir = "";
let token = "";
/** Answers seen, per route and status (printed after a run: how deep the inputs got). */
const statuses = new Map<string, number>();

const body = (route: number, v: unknown) =>
  Buffer.concat([Buffer.from([route]), Buffer.from(JSON.stringify(v))]);
export const http: Target = {
  name: "http",
  what: "JSON bodies of enroll, enroll/poll, PATCH device, commands, enrollment-tokens (app.inject)",
  seeds: () => [
    body(0, enrollBody()),
    body(1, {
      request: { purpose: "tether-poll-v1", deviceId: "dev_x", signKey: k(3), nonce: k(4) },
      signature: k(9),
    }),
    body(2, { name: "robot-8", labels: { site: "lab", old: null } }),
    body(3, { argv: ["uptime"], devices: ["robot-7"], timeoutMs: 1000, outputLimit: 1024 }),
    body(3, {
      argv: ["ls"],
      selector: "site=lab,fact.arch=arm64",
      shell: false,
      env: { A: "1" },
      concurrency: 2,
    }),
    body(4, { labels: { site: "tokyo" }, expiresIn: 3600, uses: 2, autoAccept: true }),
  ],
  dictionary: [
    '"name"',
    '"labels"',
    '"argv"',
    '"selector"',
    '"all"',
    "null",
    "true",
    "-1",
    "1e999",
    "[]",
    "{}",
    '"\\u0000"',
  ],
  async setup() {
    dir = mkdtempSync(join(tmpdir(), "tether-fuzz-http-"));
    srv = await createServer({
      dataDir: dir,
      listen: { host: "127.0.0.1", port: 0 },
      mqttListen: { host: "127.0.0.1", port: 0 },
      log: pino({ level: "silent" }),
      // The per-address limits would answer 429 before the body is parsed: fuzz the parsers.
      rateLimits: { enrollPerAddress: 1e9, enrollPollPerAddress: 1e9, loginPerAddress: 1e9 },
    });
    await srv.app.ready();
    token = readFileSync(join(dir, "admin.token"), "utf8").trim();
  },
  async teardown() {
    if (process.env.FUZZ_VERBOSE)
      for (const [k, n] of [...statuses].sort()) process.stderr.write(`  http: ${k}: ${n}\n`);
    statuses.clear();
    await srv?.close();
    srv = undefined;
    rmSync(dir, { recursive: true, force: true });
  },
  async run(input) {
    const r = ROUTES[(input[0] ?? 0) % ROUTES.length];
    const res = await srv!.app.inject({
      method: r.method,
      url: r.url,
      headers: {
        "content-type": "application/json",
        ...(r.auth ? { authorization: `Bearer ${token}` } : {}),
      },
      payload: input.subarray(1),
    });
    const code = /"code":"(\w+)"/.exec(res.body)?.[1] ?? "";
    const key = `${r.method} ${r.url.replace("/api/v1", "")} ${res.statusCode} ${code}`;
    statuses.set(key, (statuses.get(key) ?? 0) + 1);
    if (res.statusCode >= 500)
      throw new ServerError(`${r.method} ${r.url} -> ${res.statusCode} ${res.body.slice(0, 200)}`);
  },
  expected: () => false,
};
