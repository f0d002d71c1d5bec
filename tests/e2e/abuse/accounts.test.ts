// @matrix: once
/**
 * Abuse suite, part C: accounts (issue 9 findings 4, 9, 10 and the sign-in and enrollment
 * rate limits of 12; docs/security.md "Accounts").
 * 4. `tether server reset-admin` ends the admin's old sign-ins and API tokens (all but the
 *    one it writes); `tether users revoke-access USER` ends all of a user's sign-ins and API
 *    tokens at once (audited); `tether api-tokens create NAME --expires D` tokens are refused
 *    (401) once expired, and listed as expired.
 * 9. A sign-in with an unknown username does the same password-hash work as one with a wrong
 *    password (counted through the server's replaceable verifier, in-process; never timed).
 * 10. A project admin cannot tell whether a username or project exists elsewhere, cannot add
 *    another project's user to their project, and cannot move where another user's sign-in
 *    lands; the user chooses (PUT /me/default-project, `tether projects default`).
 * 12. /auth/login is limited per username (failures) and per source address; /enroll,
 *    /enroll/info and /enroll/poll per source address: 429 TETHER_ERR_RATE_LIMITED with
 *    Retry-After, a log line, and the CLI says "too many attempts; retry in N s".
 * A real server process (4, 10) and a server in this process (9, 12, so its password
 * verifier can be counted and its limits set low), attacked over HTTPS; the real CLI.
 */
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createServer, type TetherServer } from "@tether/server";
import pino from "pino";
import { sessionCookie } from "../../support/api-lookups.js";
import { Cli, expectExit, stopClis } from "../../support/cli-driver.js";
import {
  type Api,
  type ApiResponse,
  cleanupTempDirs,
  makeApi,
  type ServerHandle,
  startServer,
  tempDir,
  waitFor,
} from "../harness.js";

function assertError(r: ApiResponse, status: number, code: string, what: string): void {
  assert.equal(r.status, status, `${what}: ${JSON.stringify(r.body)}`);
  assert.equal(r.body?.error?.code, code, `${what}: ${JSON.stringify(r.body)}`);
}

describe("accounts against a hostile user (findings 4, 10)", () => {
  let server: ServerHandle;
  let cli: Cli;
  let origin: string;
  let anon: Api;
  const asCookie = (cookie: string, project?: string) =>
    makeApi(server.info.url, server.ca, undefined, {
      cookie,
      origin,
      ...(project ? { "x-tether-project": project } : {}),
    });
  const asToken = (token: string, project?: string) =>
    makeApi(server.info.url, server.ca, token, project ? { "x-tether-project": project } : {});

  before(async () => {
    server = await startServer();
    cli = new Cli(server);
    origin = new URL(server.info.url).origin;
    anon = makeApi(server.info.url, server.ca);
  });
  after(async () => {
    stopClis();
    await server?.stop();
    await cleanupTempDirs();
  });

  test("4: tether users revoke-access ends every sign-in and API token of the user, audited", async () => {
    await server.api.call("POST", "/api/v1/users", {
      username: "ursula",
      role: "operator",
      password: "ursula-password-1",
    });
    const { cookie } = await sessionCookie(server.info.url, server.ca, "ursula", "ursula-password-1");
    const t1 = (await asCookie(cookie).call<{ token: string }>("POST", "/api/v1/api-tokens", { name: "u1" }))
      .token;
    const t2 = (await asCookie(cookie).call<{ token: string }>("POST", "/api/v1/api-tokens", { name: "u2" }))
      .token;
    for (const api of [asCookie(cookie), asToken(t1), asToken(t2)])
      assert.equal((await api.request("GET", "/api/v1/devices")).status, 200);

    const r = await cli.run(["users", "revoke-access", "ursula"]);
    expectExit(r, 0, "users revoke-access");
    assert.match(r.stdout, /ursula: ended 1 sign-in\(s\) and revoked 2 API token\(s\)/);

    for (const [api, what] of [
      [asCookie(cookie), "session"],
      [asToken(t1), "token 1"],
      [asToken(t2), "token 2"],
    ] as const)
      assertError(await api.request("GET", "/api/v1/devices"), 401, "TETHER_ERR_UNAUTHENTICATED", what);
    const audit = await server.api.call<any[]>("GET", "/api/v1/audit");
    const e = audit.find((x) => x.action === "user.revoke-access");
    assert.ok(e, JSON.stringify(audit.slice(0, 3)));
    assert.equal(e.actor, "admin");
    assert.equal(e.detail.username, "ursula");
    // The user keeps the role and password: a new sign-in works.
    await sessionCookie(server.info.url, server.ca, "ursula", "ursula-password-1");
  });

  test("4: an API token made with --expires is refused (401) once expired and listed as expired", async () => {
    const long = await cli.json<{ token: string; expiresAt: string }>([
      "api-tokens",
      "create",
      "month",
      "--expires",
      "30d",
    ]);
    const days = (Date.parse(long.expiresAt) - Date.now()) / 86400e3;
    assert.ok(days > 29.9 && days <= 30, `expires in ${days} days`);
    assert.equal((await asToken(long.token).request("GET", "/api/v1/devices")).status, 200);

    const short = await server.api.call<{ id: number; token: string }>("POST", "/api/v1/api-tokens", {
      name: "brief",
      expiresInSeconds: 1,
    });
    const refused = await waitFor(
      async () => {
        const r = await asToken(short.token).request("GET", "/api/v1/devices");
        return r.status === 401 ? r : undefined;
      },
      "the 1 s token to be refused",
      10_000,
    );
    assertError(refused, 401, "TETHER_ERR_UNAUTHENTICATED", "expired token");
    assert.match(refused.body.error.message, /expired/);
    const list = await server.api.call<any[]>("GET", "/api/v1/api-tokens");
    assert.equal(list.find((t) => t.id === short.id)?.expired, true);
    assert.equal(list.find((t) => t.name === "month")?.expired, false);
    const table = await cli.run(["api-tokens", "list"]);
    assert.match(table.stdout, /brief .*expired 20\d\d-/);
  });

  test("10: a project admin learns nothing about other projects' users and projects, and cannot steer them", async () => {
    await server.api.call("POST", "/api/v1/projects", { name: "alpha" });
    const alpha = asToken(server.token, "alpha");
    await alpha.call("POST", "/api/v1/users", {
      username: "mallory",
      role: "admin",
      password: "mallory-pass-1",
    });
    await server.api.call("POST", "/api/v1/users", {
      username: "victor",
      role: "viewer",
      password: "victor-pass-1",
    });
    const m = (await sessionCookie(server.info.url, server.ca, "mallory", "mallory-pass-1")).cookie;
    const mallory = asCookie(m);

    // Adding an existing user of another project: refused (that the name is taken may be said).
    const add = await mallory.request("POST", "/api/v1/users", { username: "victor", role: "admin" });
    assertError(add, 409, "TETHER_ERR_USER_EXISTS", "add another project's user");
    assert.match(add.body.error.message, /taken/);
    assert.equal(
      (await sessionCookie(server.info.url, server.ca, "victor", "victor-pass-1")).me.projects.length,
      1,
    );
    // A new username is still fine.
    const fresh = await mallory.request("POST", "/api/v1/users", { username: "newbie", role: "viewer" });
    assert.equal(fresh.status, 200, JSON.stringify(fresh.body));

    // Role changes and removals: an existing user elsewhere answers like a user that does not exist.
    for (const [method, path, body] of [
      ["PUT", "/role", { role: "viewer" }],
      ["DELETE", "", undefined],
      ["POST", "/revoke-access", {}],
    ] as const) {
      const real = await mallory.request(method, `/api/v1/users/victor${path}`, body);
      const ghost = await mallory.request(method, `/api/v1/users/ghost-user${path}`, body);
      assertError(real, 404, "TETHER_ERR_USER_NOT_FOUND", `${method} existing user elsewhere`);
      assertError(ghost, 404, "TETHER_ERR_USER_NOT_FOUND", `${method} no such user`);
      assert.equal(
        real.body.error.message.replace("victor", "X"),
        ghost.body.error.message.replace("ghost-user", "X"),
      );
    }
    // Projects: creating and deleting answer alike whether the name exists or not.
    const mk1 = await mallory.request("POST", "/api/v1/projects", { name: "default" });
    const mk2 = await mallory.request("POST", "/api/v1/projects", { name: "no-such-project" });
    assert.deepEqual([mk1.status, mk1.body.error.code], [mk2.status, mk2.body.error.code]);
    assert.equal(mk1.body.error.message, mk2.body.error.message);
    assertError(mk1, 403, "TETHER_ERR_FORBIDDEN", "project admin creates a project");
    const rm1 = await mallory.request("DELETE", "/api/v1/projects/default");
    const rm2 = await mallory.request("DELETE", "/api/v1/projects/no-such-project");
    assertError(rm1, 404, "TETHER_ERR_PROJECT_NOT_FOUND", "delete another project");
    assertError(rm2, 404, "TETHER_ERR_PROJECT_NOT_FOUND", "delete a missing project");
    assert.equal(
      rm1.body.error.message.replace("default", "X"),
      rm2.body.error.message.replace("no-such-project", "X"),
    );

    // The server admin may add victor to alpha; victor's sign-in still lands where he lives
    // ("alpha" sorts before "default": it used to land there), until victor chooses otherwise.
    await alpha.call("POST", "/api/v1/users", { username: "victor", role: "viewer" });
    const v = await sessionCookie(server.info.url, server.ca, "victor", "victor-pass-1");
    assert.equal(v.me.project, "default");
    assert.deepEqual(v.me.projects.map((p: any) => p.name).sort(), ["alpha", "default"]);
    const set = await asCookie(v.cookie).request("PUT", "/api/v1/me/default-project", { project: "alpha" });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    assert.equal(
      (await sessionCookie(server.info.url, server.ca, "victor", "victor-pass-1")).me.project,
      "alpha",
    );
    // Only projects where the user has a role.
    const other = await mallory.request("PUT", "/api/v1/me/default-project", { project: "default" });
    assertError(other, 404, "TETHER_ERR_PROJECT_NOT_FOUND", "default project without a role");
    // The CLI form.
    const shown = await cli.run(["projects", "default"], { token: server.token });
    expectExit(shown, 0, "projects default");
    assert.match(shown.stdout, /sign-ins land in project default/);
  });

  test("4: tether server reset-admin ends the admin's old sign-ins and API tokens but the new one", async () => {
    const oldPassword = readFileSync(join(server.dataDir, "admin.password"), "utf8").trim();
    const { cookie } = await sessionCookie(server.info.url, server.ca, "admin", oldPassword);
    const extra = (await server.api.call<{ token: string }>("POST", "/api/v1/api-tokens", { name: "script" }))
      .token;
    const alphaToken = (
      await asToken(server.token, "alpha").call<{ token: string }>("POST", "/api/v1/api-tokens", {
        name: "a",
      })
    ).token;

    const r = await cli.run(["server", "reset-admin", "--data", server.dataDir]);
    expectExit(r, 0, "server reset-admin");
    assert.match(r.stdout, /previous sign-ins and API tokens no longer work/);

    for (const [api, what] of [
      [asCookie(cookie), "old session"],
      [asToken(server.token), "first-start token"],
      [asToken(extra), "another token of the admin"],
      [asToken(alphaToken), "the admin's token in another project"],
    ] as const)
      assertError(await api.request("GET", "/api/v1/devices"), 401, "TETHER_ERR_UNAUTHENTICATED", what);
    const oldLogin = await anon.request(
      "POST",
      "/api/v1/auth/login",
      { username: "admin", password: oldPassword },
      { origin },
    );
    assertError(oldLogin, 401, "TETHER_ERR_LOGIN_FAILED", "old password");
    const newToken = readFileSync(join(server.dataDir, "admin.token"), "utf8").trim();
    assert.equal((await asToken(newToken).request("GET", "/api/v1/devices")).status, 200);
    const newPassword = readFileSync(join(server.dataDir, "admin.password"), "utf8").trim();
    await sessionCookie(server.info.url, server.ca, "admin", newPassword);
  });
});

describe("sign-in and enrollment under attack (findings 9, 12)", () => {
  let srv: TetherServer;
  let url: string;
  let ca: string;
  let anon: Api;
  let origin: string;
  const logs: string[] = [];
  const login = (username: string, password: string) =>
    anon.request("POST", "/api/v1/auth/login", { username, password }, { origin });

  before(async () => {
    const dataDir = join(tempDir(), "server");
    srv = await createServer({
      dataDir,
      listen: { host: "127.0.0.1", port: 0 },
      mqttListen: { host: "127.0.0.1", port: 0 },
      log: pino({ level: "info" }, { write: (s: string) => void logs.push(s) }),
      rateLimits: { loginPerUsername: 3, loginPerAddress: 12, enrollPerAddress: 4, enrollPollPerAddress: 4 },
    });
    const info = await srv.listen();
    url = info.url;
    ca = readFileSync(info.caCert, "utf8");
    origin = new URL(url).origin;
    anon = makeApi(url, ca);
    const admin = makeApi(url, ca, readFileSync(join(dataDir, "admin.token"), "utf8").trim());
    await admin.call("POST", "/api/v1/users", {
      username: "alice",
      role: "viewer",
      password: "alice-password-1",
    });
    await admin.call("POST", "/api/v1/users", {
      username: "bob",
      role: "viewer",
      password: "bob-password-1",
    });
  });
  after(async () => {
    stopClis();
    await srv?.close();
    await cleanupTempDirs();
  });

  test("9: an unknown username costs the same password-hash work as a wrong password", async () => {
    const accounts = srv.services.accounts;
    const real = accounts.verifier;
    let checks = 0;
    accounts.verifier = (pw, hash) => {
      checks++;
      return real(pw, hash);
    };
    try {
      const unknown = await login("no-such-user", "guess-1");
      const unknownChecks = checks;
      checks = 0;
      const wrong = await login("bob", "guess-1");
      const wrongChecks = checks;
      assertError(unknown, 401, "TETHER_ERR_LOGIN_FAILED", "unknown user");
      assertError(wrong, 401, "TETHER_ERR_LOGIN_FAILED", "wrong password");
      assert.deepEqual(unknown.body, wrong.body, "the same answer");
      assert.equal(wrongChecks, 1, "a wrong password is checked against its scrypt hash");
      assert.equal(unknownChecks, 1, "an unknown user is checked against a dummy scrypt hash too");
    } finally {
      accounts.verifier = real;
    }
  });

  test("12: failed sign-ins are limited per username, then even the right password waits", async () => {
    for (let i = 0; i < 3; i++)
      assertError(await login("alice", `guess-${i}`), 401, "TETHER_ERR_LOGIN_FAILED", `guess ${i}`);
    const r = await login("alice", "alice-password-1");
    assertError(r, 429, "TETHER_ERR_RATE_LIMITED", "4th attempt on alice");
    const after = Number(r.headers["retry-after"]);
    assert.ok(after >= 1 && after <= 60, `Retry-After ${r.headers["retry-after"]}`);
    assert.match(r.body.error.message, /too many attempts; retry in \d+ s/);
    assert.ok(
      logs.some((l) => l.includes("rate limit hit: failed logins per username") && l.includes("alice")),
    );
    // Another account from the same address is not locked by alice's failures.
    assert.equal((await login("bob", "bob-password-1")).status, 200);

    // The CLI says how long to wait.
    const dir = tempDir();
    const pwFile = join(dir, "pw");
    writeFileSync(pwFile, "alice-password-1\n");
    const caFile = join(dir, "ca.pem");
    writeFileSync(caFile, ca);
    const cli = new Cli({ info: { url }, ca, token: "" } as unknown as ServerHandle);
    const c = await cli.run([
      "login",
      "--url",
      url,
      "--ca-cert",
      caFile,
      "--username",
      "alice",
      "--password-file",
      pwFile,
    ]);
    assert.notEqual(c.code, 0);
    assert.match(c.stderr, /too many attempts; retry in \d+ s/);
  });

  test("12: sign-ins are limited per source address, whatever the username", async () => {
    let r: ApiResponse | undefined;
    for (let i = 0; i < 20; i++) {
      r = await login(`spray-${i}`, "password-1");
      if (r.status === 429) break;
      assertError(r, 401, "TETHER_ERR_LOGIN_FAILED", `spray ${i}`);
    }
    assertError(r!, 429, "TETHER_ERR_RATE_LIMITED", "address over its sign-in budget");
    assert.ok(Number(r!.headers["retry-after"]) >= 1);
    assert.ok(logs.some((l) => l.includes("rate limit hit: login per address")));
  });

  test("12: /enroll/info, /enroll and /enroll/poll are limited per source address", async () => {
    for (const [method, path, body] of [
      ["GET", "/api/v1/enroll/info", undefined],
      ["POST", "/api/v1/enroll", { junk: true }],
      ["POST", "/api/v1/enroll/poll", { junk: true }],
    ] as const) {
      const seen: number[] = [];
      let last: ApiResponse | undefined;
      for (let i = 0; i < 5; i++) {
        last = await anon.request(method, path, body);
        seen.push(last.status);
      }
      // Malformed requests count too: the limit is checked before the body is.
      assert.deepEqual(seen.slice(0, 4).includes(429), false, `${path}: ${seen}`);
      assertError(last!, 429, "TETHER_ERR_RATE_LIMITED", `${path} 5th request`);
      assert.ok(Number(last!.headers["retry-after"]) >= 1, `${path} Retry-After`);
    }
    assert.ok(logs.some((l) => l.includes("rate limit hit: enroll/poll per address")));
  });
});
