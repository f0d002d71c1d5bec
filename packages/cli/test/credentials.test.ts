// @matrix: once
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { removeConfig, resolveCredentials, saveConfig } from "../src/credentials.js";
import { CliError } from "../src/io.js";

const PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
const root = mkdtempSync(join(tmpdir(), "tether-cred-"));
after(() => rmSync(root, { recursive: true, force: true }));

function setup(name: string) {
  const home = join(root, name);
  mkdirSync(home, { recursive: true });
  // A local server data dir in the default location ($TETHER_HOME/server).
  const tetherHome = join(home, "th");
  const srv = join(tetherHome, "server");
  mkdirSync(srv, { recursive: true });
  writeFileSync(join(srv, "ca.pem"), PEM);
  writeFileSync(
    join(srv, "server.json"),
    JSON.stringify({ url: "https://srv:8443", caCert: join(srv, "ca.pem") }),
  );
  writeFileSync(join(srv, "admin.token"), "admintoken\n", { mode: 0o600 });
  const caFile = join(home, "env-ca.pem");
  writeFileSync(caFile, PEM);
  return { home, srv, caFile, env: { TETHER_HOME: tetherHome } as Record<string, string | undefined> };
}

test("order: env, then the login file, then the local server data dir", () => {
  const s = setup("order");
  // 3. Only the server dir.
  let c = resolveCredentials({ env: s.env, home: s.home });
  assert.deepEqual(c, {
    url: "https://srv:8443",
    token: "admintoken",
    caCert: PEM,
    source: "server",
    path: s.srv,
  });

  // 2. The login file wins over the server dir.
  const file = saveConfig(
    { env: s.env, home: s.home },
    { url: "https://login:1", token: "logintoken", caCert: PEM },
  );
  assert.equal(file, join(s.home, ".config", "tether", "config.json"));
  assert.equal(statSync(file).mode & 0o777, 0o600);
  c = resolveCredentials({ env: s.env, home: s.home });
  assert.equal(c?.source, "login");
  assert.equal(c?.url, "https://login:1");
  assert.equal(c?.token, "logintoken");
  assert.equal(c?.caCert, PEM);

  // 1. Env wins over both; TETHER_CA_CERT is a path.
  c = resolveCredentials({
    env: { ...s.env, TETHER_URL: "https://env:2", TETHER_TOKEN: "envtoken", TETHER_CA_CERT: s.caFile },
    home: s.home,
  });
  assert.deepEqual(c, { url: "https://env:2", token: "envtoken", caCert: PEM, source: "env" });

  // Logout removes the file; the server dir is used again.
  assert.equal(removeConfig({ env: s.env, home: s.home }), file);
  assert.equal(removeConfig({ env: s.env, home: s.home }), null);
  assert.equal(resolveCredentials({ env: s.env, home: s.home })?.source, "server");
});

test("TETHER_DATA selects the server dir; nothing found gives null", () => {
  const s = setup("data");
  const other = join(root, "nothing");
  mkdirSync(other, { recursive: true });
  assert.equal(resolveCredentials({ env: { TETHER_HOME: other }, home: other }), null);
  const c = resolveCredentials({ env: { TETHER_HOME: other, TETHER_DATA: s.srv }, home: other });
  assert.equal(c?.token, "admintoken");
  // A server dir without admin.token is not usable.
  rmSync(join(s.srv, "admin.token"));
  assert.equal(resolveCredentials({ env: s.env, home: s.home }), null);
});

test("half-set env is an error, a missing CA file is an error", () => {
  const s = setup("half");
  assert.throws(
    () => resolveCredentials({ env: { ...s.env, TETHER_URL: "https://x" }, home: s.home }),
    (e: unknown) => e instanceof CliError && e.exitCode === 3,
  );
  assert.throws(
    () =>
      resolveCredentials({
        env: {
          ...s.env,
          TETHER_URL: "https://x",
          TETHER_TOKEN: "t",
          TETHER_CA_CERT: join(s.home, "missing.pem"),
        },
        home: s.home,
      }),
    /cannot read the CA certificate/,
  );
});
