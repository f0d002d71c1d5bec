#!/usr/bin/env node
// Runs every test file with node:test (Node 20 does not expand globs, so we list them).
// Usage: node tools/run-tests.mjs [substring filter...]
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const roots = ["packages", "tests"];
const files = [];
function walk(dir) {
  for (const name of readdirSync(dir)) {
    if (name === "node_modules" || name === "dist" || name.startsWith(".")) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith(".test.ts")) files.push(relative(root, p));
  }
}
for (const r of roots) walk(join(root, r));
const filters = process.argv.slice(2);
const chosen = files.filter((f) => filters.length === 0 || filters.some((x) => f.includes(x))).sort();
if (chosen.length === 0) {
  console.error("no test files matched");
  process.exit(1);
}
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
    ...chosen,
  ],
  {
    cwd: root,
    stdio: "inherit",
    env: { ...process.env, TETHER_LOG_LEVEL: process.env.TETHER_LOG_LEVEL ?? "warn" },
  },
);
process.exit(r.status ?? 1);
