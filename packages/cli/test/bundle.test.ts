// @matrix: once
// The installed command is one bundle (tools/build-cli.mjs → dist/tether.cjs, loaded by
// bin/tether.js): built from the sources here, it runs, and it leaves the server, the agent,
// pino and the native SQLite module outside, imported only by `tether server` / `tether agent`.
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { after, before, test } from "node:test";

const root = new URL("../../../", import.meta.url).pathname;
// Inside the repository, so that the bundle finds @tether/agent etc. in node_modules, laid out
// like packages/cli: bin/tether.js (a copy) beside dist/tether.cjs.
const cache = join(root, "node_modules/.cache");
mkdirSync(cache, { recursive: true });
const dir = mkdtempSync(join(cache, "tether-cli-bundle-"));
const bundle = join(dir, "dist/tether.cjs");
const bin = join(dir, "bin/tether.js");

before(() => {
  execFileSync(process.execPath, [join(root, "tools/build-cli.mjs"), bundle], { stdio: "inherit" });
  mkdirSync(join(dir, "bin"));
  for (const f of ["tether.js", "package.json"])
    copyFileSync(join(root, "packages/cli/bin", f), join(dir, "bin", f));
});
after(() => rmSync(dir, { recursive: true, force: true }));

function run(file: string, args: string[], env: Record<string, string> = {}) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    const clean = { ...process.env };
    for (const k of Object.keys(clean)) if (k.startsWith("TETHER_")) delete clean[k];
    execFile(
      process.execPath,
      [file, ...args],
      { cwd: dir, env: { ...clean, HOME: dir, XDG_CONFIG_HOME: dir, ...env }, encoding: "utf8" },
      (err, stdout, stderr) => resolve({ code: err ? ((err as any).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

test("the bundle keeps the server, the agent, pino and native modules outside", () => {
  const text = readFileSync(bundle, "utf8");
  for (const m of ["@tether/server", "@tether/agent", "pino"]) {
    // import(), routed through bin/tether.js (tools/build-cli.mjs).
    assert.ok(text.includes(`__tImp("${m}")`), `${m} is imported when its command runs`);
    assert.ok(!text.includes(`require("${m}")`), `${m} is not required at start`);
  }
  assert.ok(!/better-sqlite3|\.node["']/.test(text), "no native module");
  assert.ok(!text.includes("createTable") && !text.includes("aedes"), "no server code (migrations, broker)");
});

test("the bundle runs: help, a usage error, and an unreachable server (exit 255)", async () => {
  const help = await run(bundle, ["--help"]);
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /255 device or server unreachable/);
  const usage = await run(bundle, ["devices", "list", "--selector", "=x"]);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /^tether: bad --selector: "=x" has no key/);
  // A port nothing listens on.
  const s = createServer().listen(0, "127.0.0.1");
  await new Promise((r) => s.once("listening", r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  const url = `https://127.0.0.1:${port}`;
  const down = await run(bundle, ["devices", "list"], { TETHER_URL: url, TETHER_TOKEN: "t" });
  assert.equal(down.code, 255);
  assert.equal(down.stderr, `tether: cannot reach the Tether server at ${url}: connection refused\n`);
});

test("bin/tether.js: runs the bundle, keeps V8's code cache, imports the agent with and without it", async () => {
  const caches = () => readdirSync(join(dir, "dist")).filter((f) => f.endsWith(".cache"));
  assert.deepEqual(caches(), []);
  for (const round of ["first run: compiles, writes the cache", "second run: from the cache"]) {
    // `tether agent` imports @tether/agent, which refuses an empty data dir.
    const r = await run(bin, ["agent", "--data", join(dir, `agent-${caches().length}`)]);
    assert.equal(r.code, 2, `${round}: ${r.stderr}`);
    assert.match(r.stderr, /^tether: .* holds no enrolled identity yet/, round);
    assert.doesNotMatch(r.stderr, /Warning/, round);
    assert.equal(caches().length, 1, round);
  }
  const help = await run(bin, ["exec", "--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Ctrl-C cancels/);
});

test("bin/tether.js (what `npm run build` installs) prints the package version", async () => {
  const version = JSON.parse(readFileSync(join(root, "packages/cli/package.json"), "utf8")).version;
  const r = await run(join(root, "packages/cli/bin/tether.js"), ["--version"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `${version}\n`);
});
