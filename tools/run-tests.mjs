#!/usr/bin/env node
// `npm test`: a declared test matrix. Each test file says what it exercises in a header line
// (within its first 10 lines):
//
//   // @matrix: store broker smoke
//
//   store   its behaviour depends on the database engine  -> also runs on PostgreSQL
//   broker  it depends on the MQTT broker (ACLs, dynsec, reconnection, presence)
//                                                         -> also runs on Mosquitto
//   smoke   the capability's smoke file                   -> also runs on PostgreSQL + Mosquitto
//   browser it drives Chromium (informational: runs in the first pass only)
//   once    nothing above: engine-independent, runs once (a file without the line runs once too,
//           with a warning)
//
// The passes, in order (each one node:test run; every pass's exit status counts):
//   1. sqlite              every file,            SQLite + the embedded broker
//   2. postgres            files tagged store,    PostgreSQL + the embedded broker
//   3. mosquitto           files tagged broker,   SQLite + a private Mosquitto (dynsec) per server
//   4. postgres+mosquitto  files tagged smoke,    PostgreSQL + Mosquitto
// A missing PostgreSQL or Mosquitto skips its passes with a loud one-line reason outside CI and
// fails in CI. At the end: a table of the passes (files, time, result) and the slowest files.
//
// Usage:
//   node tools/run-tests.mjs                        the whole matrix (npm test)
//   node tools/run-tests.mjs FILTER...              files whose path contains a FILTER, one pass on
//                                                   the engines TETHER_TEST_DB / TETHER_TEST_BROKER select
//   node tools/run-tests.mjs --pass NAME [FILTER..] one pass of the matrix (its files and engines)
//   node tools/run-tests.mjs --matrix FILTER...     the matching files in every pass their tags select
//   node tools/run-tests.mjs --list                 which files run in which pass; runs nothing
// Env: TETHER_TEST_CONCURRENCY (files at once per pass, default 2); TETHER_TEST_PG_URL;
// TETHER_TEST_MOSQUITTO, TETHER_TEST_MOSQUITTO_CTRL, TETHER_TEST_DYNSEC_PLUGIN.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import net from "node:net";
import { join, relative } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const REPORTER = join(root, "tests/support/durations-reporter.mjs");
const CACHE = join(root, "node_modules/.cache/tether-tests");
const CONCURRENCY = Number(process.env.TETHER_TEST_CONCURRENCY ?? 2);
const TAGS = new Set(["store", "broker", "smoke", "browser", "once"]);

const PASSES = [
  { name: "sqlite", engines: "SQLite + embedded broker", select: () => true, env: {}, needs: [] },
  {
    name: "postgres",
    engines: "PostgreSQL + embedded broker",
    select: (tags) => tags.has("store"),
    env: { TETHER_TEST_DB: "postgres" },
    needs: ["postgres"],
  },
  {
    name: "mosquitto",
    engines: "SQLite + Mosquitto",
    select: (tags) => tags.has("broker"),
    env: { TETHER_TEST_BROKER: "mosquitto" },
    needs: ["mosquitto"],
  },
  {
    name: "postgres+mosquitto",
    engines: "PostgreSQL + Mosquitto",
    select: (tags) => tags.has("smoke"),
    env: { TETHER_TEST_DB: "postgres", TETHER_TEST_BROKER: "mosquitto" },
    needs: ["postgres", "mosquitto"],
  },
];

// ---- the files and their tags ----

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

const tagsOf = new Map();
const untagged = [];
const badTags = [];
for (const f of files) {
  const head = readFileSync(join(root, f), "utf8").split("\n", 10);
  const line = head.find((l) => /^\/\/\s*@matrix\b/.test(l));
  if (!line) {
    untagged.push(f);
    tagsOf.set(f, new Set());
    continue;
  }
  const tags = new Set(
    line
      .replace(/^\/\/\s*@matrix:?/, "")
      .split(/[\s,]+/)
      .filter(Boolean),
  );
  for (const t of tags) if (!TAGS.has(t)) badTags.push(`${f}: unknown tag "${t}"`);
  if (tags.has("once") && ["store", "broker", "smoke"].some((t) => tags.has(t)))
    badTags.push(`${f}: "once" with tags that add passes`);
  tagsOf.set(f, tags);
}

// ---- arguments ----

const args = process.argv.slice(2);
let passName;
let list = false;
let matrix = false;
const filters = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--pass") passName = args[++i];
  else if (args[i].startsWith("--pass=")) passName = args[i].slice(7);
  else if (args[i] === "--list") list = true;
  else if (args[i] === "--matrix") matrix = true;
  else if (args[i].startsWith("--")) {
    console.error(`unknown option ${args[i]} (see the top of tools/run-tests.mjs)`);
    process.exit(2);
  } else filters.push(args[i]);
}
if (badTags.length) {
  console.error(`bad @matrix header (known tags: ${[...TAGS].join(", ")}):\n  ${badTags.join("\n  ")}`);
  process.exit(2);
}
if (passName && !PASSES.some((p) => p.name === passName)) {
  console.error(`no pass "${passName}"; the passes: ${PASSES.map((p) => p.name).join(", ")}`);
  process.exit(2);
}
const matches = (f) => filters.length === 0 || filters.some((x) => f.includes(x));
if (untagged.length && !list) {
  console.error(
    `note: no "// @matrix:" header (runs once, SQLite + embedded broker): ${untagged.join(", ")}`,
  );
}

if (list) {
  const w = Math.max(...files.map((f) => f.length));
  console.log(`${"file".padEnd(w)}  ${PASSES.map((p) => p.name).join("  ")}  tags`);
  for (const f of files.filter(matches)) {
    const t = tagsOf.get(f);
    const cols = PASSES.map((p) => (p.select(t) ? "x" : "").padEnd(p.name.length));
    console.log(`${f.padEnd(w)}  ${cols.join("  ")}  ${[...t].join(" ")}`);
  }
  const counts = PASSES.map(
    (p) => `${p.name} ${files.filter(matches).filter((f) => p.select(tagsOf.get(f))).length}`,
  );
  console.log(`files per pass: ${counts.join(", ")}`);
  process.exit(0);
}

// ---- running one pass ----

function loadTimes() {
  try {
    return JSON.parse(readFileSync(join(CACHE, "durations.json"), "utf8"));
  } catch {
    return {};
  }
}
const previous = loadTimes();

/** Longest first (the last run's times; else end-to-end before unit tests, larger files first). */
function order(pass, list) {
  const weight = (f) => previous[`${pass}:${f}`] ?? previous[`sqlite:${f}`] ?? guess(f);
  return [...list].sort((a, b) => weight(b) - weight(a) || a.localeCompare(b));
}
function guess(f) {
  const size = statSync(join(root, f)).size;
  return (f.startsWith("tests/e2e/") ? 1e6 : 0) + size;
}

function run(pass, list, env, label) {
  return new Promise((resolve) => {
    console.log(`\n=== pass ${pass}: ${label}: ${list.length} test files ===`);
    mkdirSync(CACHE, { recursive: true });
    // Per run and pass: several runs may share the tree.
    const out = join(CACHE, `files-${process.pid}-${pass.replace(/\W/g, "_")}.jsonl`);
    rmSync(out, { force: true });
    const started = Date.now();
    const child = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        "--conditions=source",
        "--test",
        `--test-concurrency=${CONCURRENCY}`,
        "--test-force-exit",
        "--test-timeout=300000",
        "--test-reporter=spec",
        "--test-reporter-destination=stdout",
        `--test-reporter=${REPORTER}`,
        `--test-reporter-destination=${out}`,
        ...order(pass, list),
      ],
      {
        cwd: root,
        stdio: "inherit",
        env: { ...process.env, TETHER_LOG_LEVEL: process.env.TETHER_LOG_LEVEL ?? "warn", ...env },
      },
    );
    child.on("error", (err) => {
      console.error(`could not run node --test: ${err.message}`);
    });
    child.on("close", (code, signal) => {
      const ms = Date.now() - started;
      let lines = [];
      try {
        lines = readFileSync(out, "utf8")
          .split("\n")
          .filter(Boolean)
          .map((l) => JSON.parse(l));
      } catch {
        /* the run died before its reporter wrote anything */
      }
      rmSync(out, { force: true });
      // Per file: its time and outcome, and how many of its tests passed, failed, were skipped.
      const byFile = new Map();
      for (const l of lines) {
        const file = relative(root, l.file);
        let f = byFile.get(file);
        if (!f) {
          f = { file, ms: undefined, top: 0, ok: true, passed: 0, failed: 0, skipped: 0 };
          byFile.set(file, f);
        }
        if (l.test === undefined) {
          f.ms = l.ms;
          f.ok &&= l.ok;
        } else {
          f.top += l.top;
          if (l.test === "pass") f.passed++;
          else if (l.test === "skip") f.skipped++;
          else {
            f.failed++;
            f.ok = false;
          }
        }
      }
      // Newer Node versions report no file-level test: the top-level tests' sum stands in.
      const perFile = [...byFile.values()].map(({ top, ...f }) => ({ ...f, ms: f.ms ?? top }));
      resolve({ pass, label, files: list.length, ms, status: code ?? (signal ? 1 : 1), perFile });
    });
  });
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

// ---- filtered runs: one pass, the engines as the environment selects ----

if (filters.length && !passName && !matrix) {
  const selected = files.filter(matches);
  if (selected.length === 0) {
    console.error(`no test files match ${filters.join(" ")}`);
    process.exit(1);
  }
  const db = process.env.TETHER_TEST_DB === "postgres" ? "PostgreSQL" : "SQLite";
  const broker = process.env.TETHER_TEST_BROKER === "mosquitto" ? "Mosquitto" : "embedded broker";
  // Named as the matrix pass with these engines, so the times feed the next run's ordering.
  const engines = PASSES.find(
    (p) =>
      (p.env.TETHER_TEST_DB ?? "") === (db === "PostgreSQL" ? "postgres" : "") &&
      (p.env.TETHER_TEST_BROKER ?? "") === (broker === "Mosquitto" ? "mosquitto" : ""),
  );
  const r = await run(engines.name, selected, {}, `selected tests (${db}, ${broker})`);
  saveTimes([r]);
  printSummary([r]);
  process.exit(r.status);
}

// ---- the matrix ----

const pgUrl = new URL(process.env.TETHER_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/");
const mosquittoParts = [
  process.env.TETHER_TEST_MOSQUITTO ?? "/usr/sbin/mosquitto",
  process.env.TETHER_TEST_MOSQUITTO_CTRL ?? "/usr/bin/mosquitto_ctrl",
  process.env.TETHER_TEST_DYNSEC_PLUGIN ??
    `/usr/lib/${process.arch === "arm64" ? "aarch64" : "x86_64"}-linux-gnu/mosquitto_dynamic_security.so`,
];
const missing = {
  postgres: (await reachable(pgUrl.hostname, Number(pgUrl.port || 5432)))
    ? undefined
    : `PostgreSQL is not reachable at ${pgUrl.host} (start it, or set TETHER_TEST_PG_URL)`,
  mosquitto: ((m) =>
    m.length === 0
      ? undefined
      : `Mosquitto with the dynamic-security plugin is missing (${m.join(", ")}; apt-get install mosquitto mosquitto-clients)`)(
    mosquittoParts.filter((p) => !existsSync(p)),
  ),
};

const results = [];
let status = 0;
for (const pass of PASSES) {
  if (passName && pass.name !== passName) continue;
  const selected = files.filter((f) => pass.select(tagsOf.get(f)) && matches(f));
  if (selected.length === 0) {
    console.log(`\n=== pass ${pass.name}: no test files ===`);
    continue;
  }
  const reasons = pass.needs.map((n) => missing[n]).filter(Boolean);
  if (reasons.length) {
    // Asked for by name, or in CI: a pass that cannot run is a failure, not a skip.
    if (process.env.CI || passName) {
      console.error(`\nFAIL: the ${pass.name} pass cannot run: ${reasons.join("; ")}`);
      status ||= 1;
      results.push({
        pass: pass.name,
        label: pass.engines,
        files: selected.length,
        status: 1,
        failed: "FAIL",
      });
    } else {
      console.error(`\nSKIPPED the ${pass.name} pass (${selected.length} files): ${reasons.join("; ")}`);
      results.push({
        pass: pass.name,
        label: pass.engines,
        files: selected.length,
        skipped: reasons.join("; "),
      });
    }
    continue;
  }
  const r = await run(pass.name, selected, pass.env, pass.engines);
  results.push(r);
  status ||= r.status;
}

saveTimes(results);
printSummary(results);
process.exit(status);

/** Remember each file's time for the next run's ordering (merged: a filtered run keeps the rest). */
function saveTimes(rs) {
  const times = loadTimes();
  for (const r of rs) for (const f of r.perFile ?? []) times[`${r.pass}:${f.file}`] = f.ms;
  try {
    mkdirSync(CACHE, { recursive: true });
    writeFileSync(join(CACHE, "durations.json"), `${JSON.stringify(times, null, 1)}\n`);
    writeFileSync(join(CACHE, "last-run.json"), `${JSON.stringify(rs, null, 1)}\n`);
  } catch {
    /* a read-only tree: ordering falls back to the guess */
  }
}

// ---- the summary ----

function fmt(ms) {
  if (ms === undefined) return "-";
  if (ms < 9950) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s` : `${s}s`;
}

function printSummary(rs) {
  const rows = [["pass", "engines", "files", "time", "result"]];
  let total = 0;
  for (const r of rs) {
    total += r.ms ?? 0;
    const failedFiles = (r.perFile ?? []).filter((f) => !f.ok).length;
    const result = r.skipped
      ? "SKIPPED"
      : r.failed
        ? "FAIL (engine missing)"
        : r.status === 0
          ? "ok"
          : `FAIL (exit ${r.status}${failedFiles ? `, ${failedFiles} file(s) failed` : ""})`;
    rows.push([r.pass, r.label, String(r.files), fmt(r.ms), result]);
  }
  rows.push([
    "total",
    "",
    String(rs.reduce((n, r) => n + (r.ms === undefined ? 0 : r.files), 0)),
    fmt(total),
    "",
  ]);
  const w = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  console.log("\n=== test matrix summary ===");
  for (const [i, row] of rows.entries()) {
    console.log(row.map((c, j) => (j === 2 || j === 3 ? c.padStart(w[j]) : c.padEnd(w[j]))).join("  "));
    if (i === 0 || i === rows.length - 2) console.log(w.map((n) => "-".repeat(n)).join("  "));
  }
  const all = rs.flatMap((r) => (r.perFile ?? []).map((f) => ({ ...f, pass: r.pass })));
  if (all.length) {
    console.log("\nslowest files:");
    for (const f of [...all].sort((a, b) => b.ms - a.ms).slice(0, 10)) {
      console.log(`  ${fmt(f.ms).padStart(6)}  ${f.pass.padEnd(18)}  ${f.file}${f.ok ? "" : "  FAILED"}`);
    }
  }
  // A file that only skips in a pass costs a process start and says its tags are wrong.
  const noisy = all.filter((f) => f.passed === 0 && f.failed === 0 && f.skipped > 0 && f.pass !== "sqlite");
  if (noisy.length) {
    console.log(
      `\nran nothing (every test skipped) outside the first pass; check their @matrix tags: ${noisy.map((f) => `${f.file} (${f.pass})`).join(", ")}`,
    );
  }
  const lost = rs.filter((r) => r.ms !== undefined && r.perFile && r.perFile.length < r.files);
  for (const r of lost)
    console.log(`note: pass ${r.pass}: timings for ${r.perFile.length} of ${r.files} files`);
  if (all.length) console.log(`\nper-file times: ${relative(root, join(CACHE, "last-run.json"))}`);
}
