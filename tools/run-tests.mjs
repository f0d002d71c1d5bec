#!/usr/bin/env node
// `npm test`: four passes with node:test (Node 20 does not expand globs, so we list them):
//   1. every test file, SQLite + embedded broker;
//   2. the store-dependent suites (end-to-end and server), PostgreSQL + embedded broker;
//   3. the end-to-end suite, SQLite + a private Mosquitto (dynamic security) per server;
//   4. the end-to-end suite, PostgreSQL + Mosquitto.
// Every pass's exit status counts. A missing PostgreSQL or Mosquitto skips its passes with a
// one-line reason outside CI and fails in CI.
// Usage: node tools/run-tests.mjs [substring filter...]   (a filter runs one pass, on SQLite and
// the embedded broker, or as TETHER_TEST_DB=postgres / TETHER_TEST_BROKER=mosquitto select)
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import net from "node:net";
import { join, relative } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const files = [];
function walk(dir) {
  for (const name of readdirSync(dir)) {
    if (name === "node_modules" || name === "dist" || name.startsWith(".")) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith(".test.ts")) files.push(relative(root, p));
  }
}
for (const r of ["packages", "tests"]) walk(join(root, r));
files.sort();

function run(list, env, label) {
  if (list.length === 0) {
    console.error("no test files matched");
    return 1;
  }
  console.log(`\n=== ${label}: ${list.length} test files ===`);
  const r = spawnSync(
    process.execPath,
    [
      "--import",
      "tsx",
      "--conditions=source",
      "--test",
      "--test-concurrency=2",
      "--test-force-exit",
      "--test-timeout=300000",
      ...list,
    ],
    {
      cwd: root,
      stdio: "inherit",
      env: { ...process.env, TETHER_LOG_LEVEL: process.env.TETHER_LOG_LEVEL ?? "warn", ...env },
    },
  );
  return r.status ?? 1;
}

function reachable(host, port) {
  return new Promise((resolve) => {
    const s = net.connect({ host, port, timeout: 3000 });
    s.on("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.on("error", () => resolve(false));
    s.on("timeout", () => {
      s.destroy();
      resolve(false);
    });
  });
}

const filters = process.argv.slice(2);
if (filters.length) {
  process.exit(
    run(
      files.filter((f) => filters.some((x) => f.includes(x))),
      {},
      "selected tests",
    ),
  );
}

let status = run(files, {}, "all tests (SQLite, embedded broker)");
const e2e = files.filter((f) => f.startsWith("tests/e2e/"));
const pgUrl = new URL(process.env.TETHER_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/");
const pgUp = await reachable(pgUrl.hostname, Number(pgUrl.port || 5432));
if (pgUp) {
  const storeSuites = files.filter(
    (f) => f.startsWith("tests/e2e/") || f.startsWith("packages/server/test/"),
  );
  const pgStatus = run(
    storeSuites,
    { TETHER_TEST_DB: "postgres" },
    `store-dependent tests on PostgreSQL (${pgUrl.host}), embedded broker`,
  );
  status ||= pgStatus;
} else if (process.env.CI) {
  console.error(`FAIL: PostgreSQL is not reachable at ${pgUrl.host}; CI must run the PostgreSQL pass`);
  status ||= 1;
} else {
  console.error(`SKIPPED the PostgreSQL pass: nothing listens at ${pgUrl.host} (set TETHER_TEST_PG_URL)`);
}

// The end-to-end suite again against an external broker: a private Mosquitto per server.
const mosquittoParts = [
  process.env.TETHER_TEST_MOSQUITTO ?? "/usr/sbin/mosquitto",
  process.env.TETHER_TEST_MOSQUITTO_CTRL ?? "/usr/bin/mosquitto_ctrl",
  process.env.TETHER_TEST_DYNSEC_PLUGIN ?? "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so",
];
const mosquittoMissing = mosquittoParts.filter((p) => !existsSync(p));
if (mosquittoMissing.length === 0) {
  const mqStatus = run(
    e2e,
    { TETHER_TEST_BROKER: "mosquitto" },
    "end-to-end tests on SQLite, Mosquitto broker",
  );
  status ||= mqStatus;
  if (pgUp) {
    const pgMqStatus = run(
      e2e,
      { TETHER_TEST_BROKER: "mosquitto", TETHER_TEST_DB: "postgres" },
      `end-to-end tests on PostgreSQL (${pgUrl.host}), Mosquitto broker`,
    );
    status ||= pgMqStatus;
  } else {
    console.error("SKIPPED the PostgreSQL + Mosquitto pass: PostgreSQL is not reachable (see above)");
  }
} else if (process.env.CI) {
  console.error(
    `FAIL: Mosquitto with the dynamic-security plugin is missing (${mosquittoMissing.join(", ")}); CI must run the Mosquitto passes (apt-get install mosquitto mosquitto-clients)`,
  );
  status ||= 1;
} else {
  console.error(
    `SKIPPED the Mosquitto passes: Mosquitto with the dynamic-security plugin is not installed (missing ${mosquittoMissing.join(", ")})`,
  );
}
process.exit(status);
