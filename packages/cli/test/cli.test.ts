// @matrix: once
/** The CLI against a real server (in-process), plus one spawn of the real entry point. */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { type InProcessCli, startInProcessCli } from "./in-process-cli.js";

const repoRoot = new URL("../../../", import.meta.url).pathname;
let cli: InProcessCli;
/** The admin's TETHER_URL, TETHER_TOKEN and TETHER_CA_CERT. */
let env: Record<string, string>;

before(async () => {
  cli = await startInProcessCli("tether-cli-");
  env = cli.env;
});

after(async () => {
  await cli?.close();
});

const tether = (args: string[], e?: Record<string, string>) => cli.tether(args, e);

test("token create --json has token, command and expiry", async () => {
  const r = await tether([
    "token",
    "create",
    "--label",
    "site=lab",
    "--expires",
    "1h",
    "--uses",
    "2",
    "--json",
  ]);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.deepEqual(Object.keys(j).sort(), ["command", "expiresAt", "token"]);
  assert.match(j.command, /^tether agent --url https:\/\/127\.0\.0\.1:\d+ --token \S+$/);
  assert.ok(j.command.includes(j.token));
  const exp = Date.parse(j.expiresAt) - Date.now();
  assert.ok(exp > 3500_000 && exp <= 3600_000, `expires in ${exp} ms`);

  const list = await tether(["token", "list", "--json"]);
  assert.equal(list.code, 0, list.stderr);
  const tokens = JSON.parse(list.stdout);
  assert.ok(Array.isArray(tokens));
  assert.deepEqual(tokens.at(-1)?.labels ?? tokens[0].labels, { site: "lab" });

  const plain = await tether(["token", "create"]);
  assert.equal(plain.code, 0, plain.stderr);
  assert.match(plain.stdout, /^ {4}tether agent --url /m);
});

test("devices list --json is [] on a new server; unknown device exits 4", async () => {
  const r = await tether(["devices", "list", "--json"]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), []);
  const show = await tether(["devices", "show", "nope"]);
  assert.equal(show.code, 4);
  assert.match(show.stderr, /^tether: .*nope/);
  const ping = await tether(["ping", "nope", "--count", "1"]);
  assert.equal(ping.code, 4);
});

test("a viewer cannot create enrollment tokens (exit 3)", async () => {
  const u = await tether(["users", "create", "bob", "--role", "viewer", "--json"]);
  assert.equal(u.code, 0, u.stderr);
  const created = JSON.parse(u.stdout);
  assert.equal(created.role, "viewer");
  assert.equal(typeof created.password, "string");

  // Bob signs in with his password to get a token of his own (what `tether login --username` does).
  const { TetherClient } = await import("@tether/sdk");
  const { nodeTransport } = await import("@tether/sdk/node");
  const bob = new TetherClient({
    url: env.TETHER_URL,
    transport: nodeTransport(readFileSync(env.TETHER_CA_CERT, "utf8")),
  });
  const me = await bob.login("bob", created.password);
  assert.equal(me.role, "viewer");
  const { token } = await bob.createApiToken("bob-cli");

  const viewerEnv = { ...env, TETHER_TOKEN: token };
  const list = await tether(["devices", "list", "--json"], viewerEnv);
  assert.equal(list.code, 0, list.stderr);
  const r = await tether(["token", "create"], viewerEnv);
  assert.equal(r.code, 3);
  assert.equal(r.stdout, "");
  assert.match(r.stderr, /^tether: .*(operator|role|allow)/i);
  assert.equal(r.stderr.trim().split("\n").length, 1);

  const users = await tether(["users", "list", "--json"]);
  assert.deepEqual(
    JSON.parse(users.stdout).map((x: { username: string }) => x.username),
    ["admin", "bob"],
  );
});

test("audit list --json holds enrollment-token.create", async () => {
  await tether(["token", "create", "--json"]);
  const r = await tether(["audit", "list", "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const entries = JSON.parse(r.stdout);
  assert.ok(entries.some((e: { action: string }) => e.action === "enrollment-token.create"));
});

test("projects and api-tokens", async () => {
  assert.equal((await tether(["projects", "create", "lab"])).code, 0);
  const p = await tether(["projects", "list", "--json"]);
  assert.deepEqual(
    JSON.parse(p.stdout).map((x: { name: string }) => x.name),
    ["default", "lab"],
  );
  const inLab = await tether(["--project", "lab", "devices", "list", "--json"]);
  assert.equal(inLab.code, 0, inLab.stderr);
  const missing = await tether(["devices", "list", "--project", "nope"]);
  assert.equal(missing.code, 4, missing.stderr);
  assert.equal((await tether(["projects", "delete", "lab"])).code, 0);

  const t = await tether(["api-tokens", "create", "ci", "--json"]);
  const { id, token } = JSON.parse(t.stdout);
  assert.equal(typeof token, "string");
  const l = await tether(["api-tokens", "list"]);
  assert.match(l.stdout, /^ID\s+NAME/);
  assert.match(l.stdout, /\bci\b/);
  assert.equal((await tether(["api-tokens", "revoke", String(id)])).code, 0);
  const dead = await tether(["devices", "list"], { ...env, TETHER_TOKEN: token });
  assert.equal(dead.code, 3);
});

test("usage errors exit 2; no credentials exit 3; unreachable server exit 255", async () => {
  assert.equal((await tether(["devices", "label", "x", "bad label"])).code, 2);
  assert.equal((await tether(["token", "create", "--expires", "soon"])).code, 2);
  assert.equal((await tether(["nosuchcommand"])).code, 2);
  const none = await tether(["devices", "list"], {});
  assert.equal(none.code, 3);
  assert.match(none.stderr, /not logged in/);
  const down = await tether(["devices", "list"], { ...env, TETHER_URL: "https://127.0.0.1:1" });
  assert.equal(down.code, 255);
  assert.equal(
    down.stderr,
    "tether: cannot reach the Tether server at https://127.0.0.1:1: connection refused\n",
  );
  const badSelector = await tether(["devices", "list", "--selector", "site="]);
  assert.equal(badSelector.code, 2);
  assert.match(badSelector.stderr, /^tether: bad --selector: "site=" has no value: a selector is key=value/);
  const help = await tether(["devices", "list", "--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--selector/);
});

test("login saves a token; logout removes it", async () => {
  const home = join(cli.dir, "home");
  const login = await tether(
    ["login", "--url", env.TETHER_URL, "--ca-cert", env.TETHER_CA_CERT, "--token", env.TETHER_TOKEN],
    {},
  );
  assert.equal(login.code, 0, login.stderr);
  const saved = JSON.parse(readFileSync(join(home, ".config", "tether", "config.json"), "utf8"));
  assert.equal(saved.token, env.TETHER_TOKEN);
  assert.match(saved.caCert, /BEGIN CERTIFICATE/);
  const list = await tether(["devices", "list", "--json"], {});
  assert.equal(list.code, 0, list.stderr);
  assert.equal((await tether(["logout"], {})).code, 0);
  assert.equal((await tether(["devices", "list"], {})).code, 3);
});

test("the real entry point runs (spawned)", async () => {
  // Asynchronous: the server answers from this very process.
  const spawn = (args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        ["--import", "tsx", "--conditions=source", "packages/cli/src/main.ts", ...args],
        { cwd: repoRoot, env: { ...process.env, ...env }, encoding: "utf8", timeout: 60_000 },
        (err, stdout, stderr) => resolve({ code: err ? ((err as any).code ?? 1) : 0, stdout, stderr }),
      );
    });
  const r = await spawn(["devices", "list", "--json"]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), []);
  const bad = await spawn(["devices", "show", "nope"]);
  assert.equal(bad.code, 4);
  assert.match(bad.stderr, /^tether: /m);
});
