// @matrix: once
/**
 * The HTTPS API against hostile callers: missing and bogus credentials, project isolation,
 * roles, cookie CSRF defences, malformed and oversize bodies, garbage on the socket.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import https from "node:https";
import net from "node:net";
import tls from "node:tls";
import { after, before, describe, test } from "node:test";
import { closeOf, readResponse } from "../support/net.js";
import {
  type ApiResponse,
  cleanupTempDirs,
  type Device,
  device,
  enrollOnline,
  makeApi,
  type ServerHandle,
  startServer,
  type AgentHandle,
} from "./harness.js";

/** A request with a raw body (not necessarily JSON) and arbitrary headers. */
function rawRequest(
  server: ServerHandle,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: Buffer,
): Promise<ApiResponse> {
  return new Promise((resolve, reject) => {
    const req = https.request(new URL(path, server.info.url), { method, ca: server.ca, headers }, (res) =>
      readResponse(res).then(resolve, reject),
    );
    // The server may answer (413) and close before the whole body is written.
    req.on("error", (err: any) => {
      if (err?.code === "EPIPE" || err?.code === "ECONNRESET") return;
      reject(err);
    });
    if (body) req.write(body);
    req.end();
  });
}

function assertError(r: ApiResponse, status: number, code: string, what: string): void {
  assert.equal(r.status, status, `${what}: ${JSON.stringify(r.body)}`);
  assert.equal(r.body?.error?.code, code, `${what}: ${JSON.stringify(r.body)}`);
}

describe("http API against bad input", () => {
  let server: ServerHandle;
  let origin: string;
  let agent: AgentHandle;
  let dev: Device;

  async function login(username: string, password: string): Promise<string> {
    const r = await server.api.request("POST", "/api/v1/auth/login", { username, password }, { origin });
    assert.equal(r.status, 200, `login ${username}: ${JSON.stringify(r.body)}`);
    const set = ([] as string[]).concat(r.headers["set-cookie"] ?? []);
    const c = set.find((x) => x.startsWith("tether_session="));
    assert.ok(c, "session cookie set");
    assert.match(c, /HttpOnly/i);
    assert.match(c, /SameSite=Strict/i);
    assert.match(c, /Secure/i);
    return c.split(";")[0]!;
  }

  async function tokenFor(cookie: string, name: string): Promise<string> {
    const r = await makeApi(server.info.url, server.ca).request(
      "POST",
      "/api/v1/api-tokens",
      { name },
      { cookie, origin },
    );
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body.token;
  }

  before(async () => {
    server = await startServer();
    origin = new URL(server.info.url).origin;
    const e = await enrollOnline(server, { name: "hb-dev" });
    agent = e.agent;
    dev = e.device;
  });
  after(async () => {
    await agent?.kill();
    await server?.stop();
    await cleanupTempDirs();
  });

  test("no token, a bogus token or a malformed Authorization header gets 401", async () => {
    const anon = makeApi(server.info.url, server.ca);
    assertError(await anon.request("GET", "/api/v1/devices"), 401, "TETHER_ERR_UNAUTHENTICATED", "no token");
    const bogus = makeApi(server.info.url, server.ca, `tt_${randomBytes(24).toString("base64url")}`);
    assertError(
      await bogus.request("GET", "/api/v1/devices"),
      401,
      "TETHER_ERR_UNAUTHENTICATED",
      "bogus token",
    );
    assertError(
      await bogus.request("POST", `/api/v1/devices/${dev.id}/revoke`),
      401,
      "TETHER_ERR_UNAUTHENTICATED",
      "bogus token, revoke",
    );
    for (const authorization of [
      `Basic ${Buffer.from("admin:admin").toString("base64")}`,
      "Bearer",
      `Bearer ${server.token}x`,
      `${server.token}`,
    ]) {
      const r = await anon.request("GET", "/api/v1/devices", undefined, { authorization });
      assertError(r, 401, "TETHER_ERR_UNAUTHENTICATED", `authorization: ${authorization.slice(0, 12)}`);
    }
    // A forged session cookie.
    const r = await anon.request("GET", "/api/v1/devices", undefined, {
      cookie: "tether_session=forged",
      origin,
    });
    assertError(r, 401, "TETHER_ERR_UNAUTHENTICATED", "forged cookie");
    assert.equal((await device(server.api, "hb-dev")).state, "accepted");
  });

  test("a user of another project sees nothing of this project and cannot touch it", async () => {
    const p = await server.api.call("POST", "/api/v1/projects", { name: "p2" });
    assert.equal(p.role, "admin");
    const u = await server.api.request(
      "POST",
      "/api/v1/users",
      { username: "bob", role: "operator", password: "bob-password-1" },
      { "x-tether-project": "p2" },
    );
    assert.equal(u.status, 200, JSON.stringify(u.body));
    const cookie = await login("bob", "bob-password-1");
    const bob = makeApi(server.info.url, server.ca, await tokenFor(cookie, "bob-script"));
    const me = await bob.call("GET", "/api/v1/auth/me");
    assert.equal(me.project, "p2");
    assert.deepEqual(await bob.call("GET", "/api/v1/devices"), []);
    for (const ref of [dev.id, dev.name]) {
      assertError(
        await bob.request("GET", `/api/v1/devices/${ref}`),
        404,
        "TETHER_ERR_DEVICE_NOT_FOUND",
        `GET ${ref}`,
      );
      for (const action of ["accept", "reject", "revoke", "ping", "echo"]) {
        const body = action === "echo" ? { data: "x", waitMs: 0 } : {};
        assertError(
          await bob.request("POST", `/api/v1/devices/${ref}/${action}`, body),
          404,
          "TETHER_ERR_DEVICE_NOT_FOUND",
          `${action} ${ref}`,
        );
      }
      assertError(
        await bob.request("DELETE", `/api/v1/devices/${ref}`),
        404,
        "TETHER_ERR_DEVICE_NOT_FOUND",
        `DELETE ${ref}`,
      );
      assertError(
        await bob.request("PATCH", `/api/v1/devices/${ref}`, { labels: { owned: "yes" } }),
        404,
        "TETHER_ERR_DEVICE_NOT_FOUND",
        `PATCH ${ref}`,
      );
      assertError(
        await bob.request("GET", `/api/v1/devices/${ref}/connections`),
        404,
        "TETHER_ERR_DEVICE_NOT_FOUND",
        `connections ${ref}`,
      );
    }
    for (const project of ["default", "nope"]) {
      const r = await bob.request("GET", "/api/v1/devices", undefined, { "x-tether-project": project });
      assertError(r, 404, "TETHER_ERR_PROJECT_NOT_FOUND", `select project ${project}`);
      const w = await bob.request(
        "POST",
        `/api/v1/devices/${dev.id}/revoke`,
        {},
        { "x-tether-project": project },
      );
      assertError(w, 404, "TETHER_ERR_PROJECT_NOT_FOUND", `revoke in ${project}`);
    }
    // Bob's own project works; his enrollment tokens land there, not in default.
    const t = await bob.request("POST", "/api/v1/enrollment-tokens", {});
    assert.equal(t.status, 200, JSON.stringify(t.body));
    const admins = await server.api.call<any[]>("GET", "/api/v1/enrollment-tokens");
    assert.ok(
      !admins.some((x) => x.id === t.body.id || x.createdBy === "bob"),
      "bob's token is not in default",
    );
    const bobs = await bob.call<any[]>("GET", "/api/v1/enrollment-tokens");
    assert.deepEqual(
      bobs.map((x) => [x.id, x.project]),
      [[t.body.id, "p2"]],
    );
    // Nothing changed on the device.
    const d = await device(server.api, "hb-dev");
    assert.equal(d.state, "accepted");
    assert.equal(d.online, true);
    assert.deepEqual(d.labels, dev.labels);
    const audit = await server.api.call<any[]>("GET", "/api/v1/audit");
    assert.ok(!audit.some((a) => a.actor === "bob"), "no audit entry by bob in default");
  });

  test("a viewer can read but not change anything", async () => {
    const u = await server.api.request("POST", "/api/v1/users", {
      username: "vera",
      role: "viewer",
      password: "vera-password-1",
    });
    assert.equal(u.status, 200, JSON.stringify(u.body));
    const cookie = await login("vera", "vera-password-1");
    const vera = makeApi(server.info.url, server.ca, await tokenFor(cookie, "vera-script"));
    const list = await vera.call<Device[]>("GET", "/api/v1/devices");
    assert.deepEqual(
      list.map((x) => x.name),
      ["hb-dev"],
    );
    assert.equal((await vera.call("GET", `/api/v1/devices/${dev.id}`)).id, dev.id);
    const forbidden: [string, string, unknown?][] = [
      ["POST", `/api/v1/devices/${dev.id}/accept`, {}],
      ["POST", `/api/v1/devices/${dev.id}/reject`, {}],
      ["POST", `/api/v1/devices/${dev.id}/revoke`, {}],
      ["POST", `/api/v1/devices/${dev.id}/ping`, {}],
      ["POST", `/api/v1/devices/${dev.id}/echo`, { data: "x", waitMs: 0 }],
      ["PATCH", `/api/v1/devices/${dev.id}`, { labels: { x: "y" } }],
      ["DELETE", `/api/v1/devices/${dev.id}`],
      ["POST", "/api/v1/enrollment-tokens", {}],
      ["GET", "/api/v1/enrollment-tokens"],
      ["GET", "/api/v1/audit"],
      ["GET", "/api/v1/users"],
      ["POST", "/api/v1/users", { username: "mallory", role: "admin", password: "mallory-pass-1" }],
      ["PUT", "/api/v1/users/vera/role", { role: "admin" }],
      ["POST", "/api/v1/projects", { name: "vera-land" }],
    ];
    for (const [method, path, body] of forbidden) {
      assertError(await vera.request(method, path, body), 403, "TETHER_ERR_FORBIDDEN", `${method} ${path}`);
    }
    // Same through the session cookie (with a proper Origin).
    const viaCookie = await makeApi(server.info.url, server.ca).request(
      "POST",
      `/api/v1/devices/${dev.id}/revoke`,
      {},
      { cookie, origin },
    );
    assertError(viaCookie, 403, "TETHER_ERR_FORBIDDEN", "viewer revoke via cookie");
    const me = await vera.call("GET", "/api/v1/auth/me");
    assert.equal(me.role, "viewer");
    assert.equal((await device(server.api, "hb-dev")).state, "accepted");
  });

  test("cookie authentication refuses cross-origin and origin-less changes", async () => {
    await server.api.call("POST", "/api/v1/users", {
      username: "cora",
      role: "operator",
      password: "cora-password-1",
    });
    const cookie = await login("cora", "cora-password-1");
    const anon = makeApi(server.info.url, server.ca);
    const body = { name: "csrf" };
    for (const bad of [
      "https://evil.example",
      "null",
      `${origin}.evil.example`,
      origin.replace("https:", "http:"),
    ]) {
      const r = await anon.request("POST", "/api/v1/api-tokens", body, { cookie, origin: bad });
      assertError(r, 403, "TETHER_ERR_BAD_ORIGIN", `origin ${bad}`);
    }
    assertError(
      await anon.request("POST", "/api/v1/api-tokens", body, { cookie }),
      403,
      "TETHER_ERR_BAD_ORIGIN",
      "no origin",
    );
    assertError(
      await anon.request("DELETE", `/api/v1/devices/${dev.id}`, undefined, { cookie }),
      403,
      "TETHER_ERR_BAD_ORIGIN",
      "DELETE without origin",
    );
    for (const site of ["cross-site", "same-site"]) {
      const r = await anon.request("GET", "/api/v1/devices", undefined, { cookie, "sec-fetch-site": site });
      assertError(r, 403, "TETHER_ERR_BAD_ORIGIN", `sec-fetch-site ${site}`);
    }
    // Login itself is refused cross-origin (login CSRF).
    const evilLogin = await anon.request(
      "POST",
      "/api/v1/auth/login",
      { username: "cora", password: "cora-password-1" },
      { origin: "https://evil.example" },
    );
    assertError(evilLogin, 403, "TETHER_ERR_BAD_ORIGIN", "cross-origin login");
    // The same requests from the console's own origin work.
    const ok = await anon.request("POST", "/api/v1/api-tokens", body, { cookie, origin });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    const get = await anon.request("GET", "/api/v1/devices", undefined, {
      cookie,
      "sec-fetch-site": "same-origin",
    });
    assert.equal(get.status, 200);
    const plainGet = await anon.request("GET", "/api/v1/devices", undefined, { cookie });
    assert.equal(plainGet.status, 200);
    // After logout the cookie is dead.
    const out = await anon.request("POST", "/api/v1/auth/logout", {}, { cookie, origin });
    assert.equal(out.status, 200);
    assertError(
      await anon.request("GET", "/api/v1/devices", undefined, { cookie }),
      401,
      "TETHER_ERR_UNAUTHENTICATED",
      "after logout",
    );
  });

  test("garbage on the HTTPS port is closed or answered 400; the server stays healthy", async () => {
    // Random bytes inside TLS.
    const s = tls.connect({ host: "127.0.0.1", port: server.httpPort, ca: server.ca });
    s.on("error", () => {});
    await once(s, "secureConnect");
    const got: Buffer[] = [];
    s.on("data", (c) => got.push(c));
    const end = closeOf(s);
    s.write(randomBytes(8192));
    s.end();
    await end;
    const text = Buffer.concat(got).toString("latin1");
    assert.ok(text === "" || /^HTTP\/1\.1 400/.test(text), `unexpected answer: ${text.slice(0, 80)}`);
    // A huge header line.
    const h = tls.connect({ host: "127.0.0.1", port: server.httpPort, ca: server.ca });
    h.on("error", () => {});
    await once(h, "secureConnect");
    const got2: Buffer[] = [];
    h.on("data", (c) => got2.push(c));
    const end2 = closeOf(h);
    h.write(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(128 * 1024)}\r\n\r\n`);
    await end2;
    assert.match(Buffer.concat(got2).toString("latin1"), /^(HTTP\/1\.1 431|HTTP\/1\.1 400|)/);
    // Plain-text HTTP to the TLS port.
    const p = net.connect({ host: "127.0.0.1", port: server.httpPort });
    p.on("error", () => {});
    await once(p, "connect");
    const end3 = closeOf(p);
    p.write("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n");
    await end3;
    const health = await makeApi(server.info.url, server.ca).request("GET", "/healthz");
    assert.equal(health.status, 200);
    assert.equal(health.body.ok, true);
  });

  test("malformed, hostile and oversize bodies are refused with stable codes", async () => {
    const auth = { authorization: `Bearer ${server.token}` };
    const json = { ...auth, "content-type": "application/json" };
    const bad = await rawRequest(
      server,
      "POST",
      "/api/v1/enrollment-tokens",
      json,
      Buffer.from('{"labels": {'),
    );
    assertError(bad, 400, "TETHER_ERR_BAD_REQUEST", "malformed JSON");
    const proto = await rawRequest(
      server,
      "POST",
      "/api/v1/enrollment-tokens",
      json,
      Buffer.from('{"__proto__": {"autoAccept": true}, "labels": {}}'),
    );
    assertError(proto, 400, "TETHER_ERR_BAD_REQUEST", "__proto__ key");
    const wrongType = await rawRequest(
      server,
      "POST",
      "/api/v1/devices/hb-dev/ping",
      json,
      Buffer.from('{"timeoutMs": "soon"}'),
    );
    assertError(wrongType, 400, "TETHER_ERR_BAD_REQUEST", "wrong type");
    const longRef = await server.api.request("GET", `/api/v1/devices/${"a".repeat(300)}`);
    assert.ok(longRef.status >= 400 && longRef.status < 500, `over-long ref: ${longRef.status}`);
    const badValue = await server.api.request("PATCH", "/api/v1/devices/hb-dev", {
      labels: { ok: "x".repeat(300) },
    });
    assertError(badValue, 400, "TETHER_ERR_BAD_REQUEST", "label value over 256");
    const text = await rawRequest(
      server,
      "POST",
      "/api/v1/enrollment-tokens",
      { ...auth, "content-type": "text/plain" },
      Buffer.from("hello"),
    );
    assert.ok(text.status >= 400 && text.status < 500, `text/plain body: ${text.status}`);
    assert.equal(text.body?.error?.code, "TETHER_ERR_BAD_REQUEST");

    const big = Buffer.from(JSON.stringify({ data: "x".repeat(1024 * 1024 + 100) }));
    const tooLarge = await rawRequest(
      server,
      "POST",
      "/api/v1/devices/hb-dev/echo",
      {
        ...json,
        "content-length": String(big.length),
      },
      big,
    );
    assertError(tooLarge, 413, "TETHER_ERR_PAYLOAD_TOO_LARGE", "body over 1 MiB");
    // Oversize without any credentials is refused the same way (no parsing of huge bodies for anonymous callers).
    const anonBig = await rawRequest(
      server,
      "POST",
      "/api/v1/enroll",
      {
        "content-type": "application/json",
        "content-length": String(big.length),
      },
      big,
    );
    assertError(anonBig, 413, "TETHER_ERR_PAYLOAD_TOO_LARGE", "anonymous body over 1 MiB");

    assertError(
      await server.api.request("GET", "/api/v1/nope"),
      404,
      "TETHER_ERR_NOT_FOUND",
      "unknown route",
    );
    assertError(
      await server.api.request("DELETE", "/api/v1/devices"),
      404,
      "TETHER_ERR_NOT_FOUND",
      "unknown method",
    );
    const health = await makeApi(server.info.url, server.ca).request("GET", "/healthz");
    assert.equal(health.status, 200);
  });

  test("a label key outside the allowed pattern is refused with 400", async () => {
    const r = await server.api.request("PATCH", "/api/v1/devices/hb-dev", {
      labels: { "bad key!": "x".repeat(5000) },
    });
    assertError(r, 400, "TETHER_ERR_BAD_REQUEST", "bad label key");
  });

  test("an over-long device ref gets the documented error shape", async () => {
    const r = await server.api.request("GET", `/api/v1/devices/${"a".repeat(120)}`);
    assert.equal(typeof r.body?.error, "object", JSON.stringify(r.body));
    assert.equal(r.body.error.code.startsWith("TETHER_ERR_"), true);
  });

  test("/api/openapi.json serves the OpenAPI document (/api/docs renders it)", async () => {
    const r = await makeApi(server.info.url, server.ca).request("GET", "/api/openapi.json");
    assert.equal(r.status, 200);
    assert.match(String(r.body.openapi), /^3\./);
    assert.ok(r.body.paths["/api/v1/devices"], "documents /api/v1/devices");
    assert.ok(r.body.paths["/api/v1/devices/{ref}/ping"], "documents ping");
    assert.equal(r.headers["x-content-type-options"], "nosniff");
  });
});
