#!/usr/bin/env node
// `npm test`: every test file with node:test (Node 20 does not expand globs, so we list them),
// then the store-dependent suites (end-to-end and server) again on PostgreSQL.
// Usage: node tools/run-tests.mjs [substring filter...]   (a filter runs one pass, on SQLite,
// or on PostgreSQL with TETHER_TEST_DB=postgres)
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
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
const pgUrl = new URL(process.env.TETHER_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/");
if (await reachable(pgUrl.hostname, Number(pgUrl.port || 5432))) {
  const storeSuites = files.filter(
    (f) => f.startsWith("tests/e2e/") || f.startsWith("packages/server/test/"),
  );
  const pgStatus = run(
    storeSuites,
    { TETHER_TEST_DB: "postgres" },
    `store-dependent tests on PostgreSQL (${pgUrl.host})`,
  );
  status = status || pgStatus;
} else if (process.env.CI) {
  console.error(`FAIL: PostgreSQL is not reachable at ${pgUrl.host}; CI must run the PostgreSQL pass`);
  status ||= 1;
} else {
  console.error(`SKIPPED the PostgreSQL pass: nothing listens at ${pgUrl.host} (set TETHER_TEST_PG_URL)`);
}
process.exit(status);
