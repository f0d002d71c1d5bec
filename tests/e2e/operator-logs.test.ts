// @matrix: once
/**
 * What an operator reads: `tether server` and `tether agent` started through the CLI log
 * text lines by default and pino JSON with --log-format json (TETHER_LOG_FORMAT); the agent's
 * pending-enrollment lines carry the key fingerprint the API shows for the device; /api/docs
 * is Swagger UI served from the server itself and /api/openapi.json the OpenAPI document.
 * Runs once: it starts its own servers (SQLite, embedded broker) through the CLI.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type Api, cleanupTempDirs, createToken, makeApi, ROOT, tempDir, waitFor } from "./harness.js";

const CLI = join(ROOT, "packages/cli/src/main.ts");
const FINGERPRINT = /key fingerprint ([A-Za-z0-9_-]{43});/;

interface Proc {
  proc: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
}

const procs: Proc[] = [];

/** `tether ARGS` with none of the caller's TETHER_* settings, plus `env`. */
function tether(args: string[], env: Record<string, string> = {}): Proc {
  const e: Record<string, string | undefined> = { ...process.env };
  for (const k of Object.keys(e)) if (k.startsWith("TETHER_")) delete e[k];
  const proc = spawn(process.execPath, ["--import", "tsx", "--conditions=source", CLI, ...args], {
    cwd: ROOT,
    env: { ...e, XDG_CONFIG_HOME: tempDir("cli-config-"), ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  proc.stdout!.on("data", (c) => {
    out += c;
  });
  proc.stderr!.on("data", (c) => {
    err += c;
  });
  const exited = once(proc, "exit").then(([code]) => code as number | null);
  const p: Proc = {
    proc,
    stdout: () => out,
    stderr: () => err,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGTERM");
      return exited;
    },
  };
  procs.push(p);
  return p;
}

interface CliServer extends Proc {
  url: string;
  api: Api;
  ca: string;
}

/** `tether server` on loopback, once its banner says it is running. */
async function startCliServer(args: string[] = [], env: Record<string, string> = {}): Promise<CliServer> {
  const dataDir = join(tempDir(), "server");
  const p = tether(
    ["server", "--data", dataDir, "--listen", "127.0.0.1:0", "--mqtt-listen", "127.0.0.1:0", ...args],
    env,
  );
  await waitFor(() => {
    if (p.proc.exitCode !== null) throw new Error(`tether server exited: ${p.stderr().slice(-2000)}`);
    return /is running/.test(p.stdout());
  }, "tether server to start");
  const info = JSON.parse(readFileSync(join(dataDir, "server.json"), "utf8"));
  const ca = readFileSync(info.caCert, "utf8");
  const token = readFileSync(join(dataDir, "admin.token"), "utf8").trim();
  return { ...p, url: info.url, ca, api: makeApi(info.url, ca, token) };
}

/** `tether agent` enrolling as `name` with a token that needs an operator's accept. */
async function enrollPending(server: CliServer, name: string, args: string[] = [], env = {}) {
  const token = await createToken(server.api, {});
  const dataDir = join(tempDir(), "agent");
  const agent = tether(
    ["agent", "--url", server.url, "--token", token, "--data", dataDir, "--name", name, ...args],
    env,
  );
  const device = await waitFor(async () => {
    if (agent.proc.exitCode !== null) throw new Error(`tether agent exited: ${agent.stderr().slice(-2000)}`);
    const r = await server.api.request("GET", `/api/v1/devices/${name}`);
    return r.status === 200 && r.body.state === "pending" ? r.body : undefined;
  }, `${name} pending`);
  return { agent, dataDir, device };
}

const lines = (s: string) => s.split("\n").filter((l) => l.trim() !== "");

let text: CliServer;
let json: CliServer;

before(async () => {
  // Both servers start at once (the slow part is loading the sources).
  [text, json] = await Promise.all([
    startCliServer(),
    startCliServer(["--log-format", "json", "--log-level", "debug"]),
  ]);
});

after(async () => {
  await Promise.all(procs.map((p) => p.stop()));
  await cleanupTempDirs();
});

describe("tether server logs", () => {
  test("text by default: no JSON, level first (no time without a terminal), the banner on stdout", async () => {
    await waitFor(
      () => /^INFO {2}Server listening at https:\/\/127\.0\.0\.1:\d+$/m.test(text.stderr()),
      "text line",
    );
    for (const l of lines(text.stderr())) {
      assert.ok(!l.startsWith("{"), `a JSON line in the text log: ${l}`);
      assert.match(l, /^(TRACE|DEBUG|INFO |WARN |ERROR|FATAL) \S/, `not a text log line: ${l}`);
    }
    // The banner is one block: every line of it together, nothing of the log inside.
    const out = text.stdout();
    assert.match(
      out,
      /\nTether server \S+ is running \(data: .*\)\n {2}console: {2}https:\/\/127\.0\.0\.1:\d+\/\n/,
    );
    assert.match(out, /admin password: .*admin\.password\n {2}admin token: {4}.*admin\.token\n/);
    assert.ok(!out.includes("INFO") && !out.includes('"level"'), out);
  });

  test("--log-format json: pino's JSON lines, every one of them", async () => {
    // Some traffic for debug lines too: an agent enrolls (JSON through TETHER_LOG_FORMAT).
    const { agent, device } = await enrollPending(json, "op-json", [], { TETHER_LOG_FORMAT: "json" });
    const rec = await waitFor(
      () =>
        lines(agent.stderr())
          .map((l) => JSON.parse(l))
          .find((r) => r.fingerprint),
      "the agent's enrollment record",
    );
    assert.equal(rec.fingerprint, device.fingerprint);
    assert.equal(rec.state, "pending");
    assert.equal(rec.deviceId, device.id);
    assert.ok(rec.msg.includes(device.fingerprint), rec.msg);
    assert.equal(await agent.stop(), 0);
    assert.equal(await json.stop(), 0);
    for (const [who, err] of [
      ["server", json.stderr()],
      ["agent", agent.stderr()],
    ]) {
      const all = lines(err);
      assert.ok(all.length >= 2, `${who}: ${err}`);
      for (const l of all) {
        const r = JSON.parse(l); // throws on a line that is not JSON
        assert.equal(typeof r.level, "number", l);
        assert.equal(typeof r.time, "number", l);
        assert.equal(typeof r.msg, "string", l);
      }
    }
    assert.ok(lines(json.stderr()).some((l) => JSON.parse(l).msg === "stopping the server"));
  });
});

describe("tether agent logs the key fingerprint while it waits", () => {
  test("at enrollment and in each waiting line, the fingerprint the API reports", async () => {
    const { agent, dataDir, device } = await enrollPending(text, "op-text");
    assert.match(device.fingerprint, /^[A-Za-z0-9_-]{43}$/);
    const enrolled = await waitFor(
      () => lines(agent.stderr()).find((l) => l.includes("enrolled as op-text (pending)")),
      "the enrollment line",
    );
    assert.equal(FINGERPRINT.exec(enrolled)?.[1], device.fingerprint, enrolled);
    assert.match(enrolled, /^INFO {2}enrolled as op-text \(pending\): waiting for an operator to accept it/);
    assert.match(enrolled, /compare it with the console or tether devices show op-text/);
    assert.ok(!lines(agent.stderr()).some((l) => l.startsWith("{")), agent.stderr());
    assert.equal(await agent.stop(), 0);

    // Started again while still pending, it says so with the fingerprint at once.
    const again = tether(["agent", "--data", dataDir]);
    const waiting = await waitFor(
      () => lines(again.stderr()).find((l) => l.includes("op-text is pending: waiting for an operator")),
      "the waiting line",
    );
    assert.equal(FINGERPRINT.exec(waiting)?.[1], device.fingerprint, waiting);
    assert.equal(await again.stop(), 0);
  });
});

describe("API docs", () => {
  test("/api/docs is Swagger UI whose files the server itself serves", async () => {
    const r = await makeApi(text.url, text.ca).request("GET", "/api/docs");
    assert.equal(r.status, 200);
    assert.match(String(r.headers["content-type"]), /^text\/html/);
    const html = String(r.body);
    const assets = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
    for (const name of ["swagger-ui-bundle.js", "swagger-ui.css", "swagger-initializer.js"]) {
      assert.ok(
        assets.some((a) => a.endsWith(`/${name}`)),
        `${name} in ${assets.join(" ")}`,
      );
    }
    for (const a of assets) {
      assert.ok(!/^(https?:)?\/\//.test(a), `no third-party asset: ${a}`);
      const res = await makeApi(text.url, text.ca).request(
        "GET",
        new URL(a, `${text.url}/api/docs`).pathname,
      );
      assert.equal(res.status, 200, a);
      // The server's content-security policy covers them (no inline script is needed).
      assert.match(String(res.headers["content-security-policy"]), /default-src 'self'/, a);
    }
    const init = await makeApi(text.url, text.ca).request("GET", "/api/docs/static/swagger-initializer.js");
    assert.match(String(init.body), /SwaggerUIBundle\(/);
  });

  test("/api/openapi.json (and /api/docs/json) is the OpenAPI document, no sign-in needed", async () => {
    for (const path of ["/api/openapi.json", "/api/docs/json"]) {
      const r = await makeApi(text.url, text.ca).request("GET", path);
      assert.equal(r.status, 200, path);
      assert.match(String(r.headers["content-type"]), /^application\/json/);
      assert.match(String(r.body.openapi), /^3\./);
      assert.ok(r.body.paths["/api/v1/devices"], `${path} documents /api/v1/devices`);
    }
    // Reading the document needs no sign-in; the API it describes still does.
    const anon = await makeApi(text.url, text.ca).request("GET", "/api/v1/devices");
    assert.equal(anon.status, 401);
  });
});
