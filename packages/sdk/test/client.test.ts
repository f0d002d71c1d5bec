// @matrix: once
import assert from "node:assert/strict";
import { test } from "node:test";
import { commandFixture, runFixture, sseFrame as sse } from "../../../tests/support/exec-fixtures.js";
import { ApiError, TetherClient, type HttpRequest, type Transport } from "../src/index.js";

function fake(status: number, body: unknown, seen: HttpRequest[] = [], setCookies: string[] = []): Transport {
  return async (r) => {
    seen.push(r);
    return { status, headers: {}, setCookies, body: typeof body === "string" ? body : JSON.stringify(body) };
  };
}

test("requests carry the token, the project header and JSON bodies", async () => {
  const seen: HttpRequest[] = [];
  const c = new TetherClient({
    url: "https://t.example:8443/",
    token: "tok",
    project: "lab",
    transport: fake(200, []),
  });
  (c as any).transport = fake(200, [], seen);
  await c.listDevices("site=lab,fact.arch=arm64");
  await c.updateDevice("my dev", { labels: { a: "1", b: null } });
  await c.audit({ device: "d1", limit: 5 });
  assert.equal(seen[0].method, "GET");
  assert.equal(seen[0].url, "https://t.example:8443/api/v1/devices?selector=site%3Dlab%2Cfact.arch%3Darm64");
  assert.equal(seen[0].headers.authorization, "Bearer tok");
  assert.equal(seen[0].headers["x-tether-project"], "lab");
  assert.equal(seen[0].body, undefined);
  assert.equal(seen[1].method, "PATCH");
  assert.equal(seen[1].url, "https://t.example:8443/api/v1/devices/my%20dev");
  assert.deepEqual(JSON.parse(seen[1].body!), { labels: { a: "1", b: null } });
  assert.equal(seen[1].headers["content-type"], "application/json");
  assert.equal(seen[2].url, "https://t.example:8443/api/v1/audit?device=d1&limit=5");
});

test("server errors become ApiError with status and code", async () => {
  const c = new TetherClient({
    url: "https://x",
    token: "t",
    transport: fake(403, { error: { code: "TETHER_ERR_FORBIDDEN", message: "needs operator" } }),
  });
  await assert.rejects(c.createEnrollmentToken({}), (e: unknown) => {
    assert.ok(e instanceof ApiError);
    assert.equal(e.status, 403);
    assert.equal(e.code, "TETHER_ERR_FORBIDDEN");
    assert.equal(e.message, "needs operator");
    return true;
  });
  const html = new TetherClient({ url: "https://x", transport: fake(502, "<html>bad gateway</html>") });
  await assert.rejects(
    html.me(),
    (e: any) => e instanceof ApiError && e.status === 502 && e.code === "TETHER_ERR_HTTP",
  );
});

test("network failures become TETHER_ERR_UNREACHABLE naming the URL", async () => {
  const c = new TetherClient({
    url: "https://down.example:8443",
    transport: async () => {
      throw Object.assign(new Error("connect ECONNREFUSED 10.0.0.1:8443"), { code: "ECONNREFUSED" });
    },
  });
  await assert.rejects(c.listDevices(), (e: any) => {
    assert.ok(e instanceof ApiError);
    assert.equal(e.code, "TETHER_ERR_UNREACHABLE");
    assert.equal(e.status, 0);
    assert.equal(
      e.message,
      "cannot reach the Tether server at https://down.example:8443: connection refused",
    );
    return true;
  });
  // fetch-style errors (TypeError with a cause) and untrusted certificates.
  const f = new TetherClient({
    url: "https://self.example",
    fetchImpl: async () => {
      throw new TypeError("fetch failed", {
        cause: Object.assign(new Error("self-signed certificate"), { code: "DEPTH_ZERO_SELF_SIGNED_CERT" }),
      });
    },
  });
  await assert.rejects(
    f.me(),
    /cannot reach the Tether server at https:\/\/self\.example: self-signed certificate.*CA certificate/,
  );
});

test("without a token: fetch with same-origin credentials; login keeps the session cookie in Node", async () => {
  const calls: { url: string; init: any }[] = [];
  const c = new TetherClient({
    url: "",
    fetchImpl: async (url: string, init: any) => {
      calls.push({ url, init });
      return new Response(
        JSON.stringify({ username: "a", project: "default", role: "admin", projects: [] }),
        {
          status: 200,
          headers: { "set-cookie": "tether_session=abc; Path=/; HttpOnly; Secure" },
        },
      );
    },
  });
  await c.me();
  assert.equal(calls[0].url, "/api/v1/auth/me");
  assert.equal(calls[0].init.credentials, "same-origin");
  assert.equal(calls[0].init.headers.authorization, undefined);

  const seen: HttpRequest[] = [];
  const n = new TetherClient({
    url: "https://h:8443",
    transport: fake(200, { username: "a", project: "p", role: "viewer", projects: [] }, seen, [
      "tether_session=s3cr3t; Path=/; HttpOnly",
    ]),
  });
  await n.login("a", "pw");
  await n.createApiToken("cli");
  assert.equal(seen[0].headers.origin, "https://h:8443");
  assert.equal(seen[1].headers.cookie, "tether_session=s3cr3t");
  assert.equal(seen[1].headers.origin, "https://h:8443");
});

test("caCert loads the node transport lazily and pins the CA", async () => {
  const c = new TetherClient({ url: "https://127.0.0.1:1", caCert: "-----BEGIN CERTIFICATE-----\n" });
  await assert.rejects(c.me(), (e: any) => e.code === "TETHER_ERR_UNREACHABLE");
});

const RUN = runFixture();
const COMMAND = commandFixture();
const out = (text: string) =>
  sse("output", {
    type: "output",
    deviceId: "dev_1",
    device: "d",
    stream: "stdout",
    data: Buffer.from(text).toString("base64"),
  });

/** A transport whose event stream serves `connections` in turn (each a list of text pieces). */
function streaming(connections: { pieces: string[]; breaks?: boolean }[]): Transport {
  const t: Transport = async () => ({ status: 200, headers: {}, setCookies: [], body: "{}" });
  let n = 0;
  t.stream = async (_req, onText, signal) => {
    const conn = connections[n++];
    for (const p of conn.pieces) {
      if (signal.aborted) break;
      onText(p);
    }
    if (conn.breaks) throw Object.assign(new Error("socket hang up"), { code: "ECONNRESET" });
    return { status: 200, body: "" };
  };
  return t;
}

test("followCommand reconnects after a break and passes each output byte once", async () => {
  const c = new TetherClient({
    url: "https://x",
    token: "t",
    transport: streaming([
      { pieces: [sse("run", { type: "run", run: RUN }), out("hel")], breaks: true },
      // The replay after the reconnect repeats everything, in other chunks, then goes on.
      {
        pieces: [
          out("h"),
          out("el"),
          out("lo"),
          out(" world"),
          sse("done", { type: "done", command: COMMAND }),
        ],
      },
    ]),
  });
  const opened: number[] = [];
  const retried: string[] = [];
  let text = "";
  const events: string[] = [];
  const done = await c.followCommand(
    "cmd_1",
    (e) => {
      events.push(e.type);
      if (e.type === "output") text += Buffer.from(e.data, "base64").toString();
    },
    { onOpen: (n) => opened.push(n), onRetry: (err) => retried.push(err.code) },
  );
  assert.equal(done.id, "cmd_1");
  assert.equal(text, "hello world");
  assert.deepEqual(opened, [0, 1]);
  assert.deepEqual(retried, ["TETHER_ERR_UNREACHABLE"]);
  assert.deepEqual(events, ["run", "output", "output", "output", "done"]);
});

test("an event that does not match the protocol schema is an error, not a retry", async () => {
  const c = new TetherClient({
    url: "https://x",
    token: "t",
    transport: streaming([{ pieces: [sse("run", { type: "run", run: { ...RUN, status: "bogus" } })] }]),
  });
  let retried = 0;
  await assert.rejects(
    c.followCommand("cmd_1", () => {}, { onRetry: () => retried++ }),
    (e: any) => e instanceof ApiError && e.code === "TETHER_ERR_HTTP" && /unexpected event/.test(e.message),
  );
  assert.equal(retried, 0);
});
