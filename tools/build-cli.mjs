// Bundles the `tether` command into one CommonJS file, packages/cli/dist/tether.cjs, which bin/tether.js
// loads. A start then reads and compiles one file instead of resolving and linking hundreds of
// ES modules (about 0.5 s of a run before): the CLI, the SDK, the browser-safe parts of the
// protocol and commander. The server, the agent and pino stay outside: `tether server` and
// `tether agent` import them when they run, so the native SQLite module and the server's code
// are never loaded by the other commands (checked below on every build).
//
// `node tools/build-cli.mjs [OUTFILE]` (default packages/cli/dist/tether.cjs); run by
// `npm run build -w @tether/cli`, which the root build chains after `tsc -b`. It lives here, not
// in packages/cli, because esbuild is a root devDependency.
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const here = fileURLToPath(new URL("../packages/cli/", import.meta.url));
const outfile = resolve(process.argv[2] ?? resolve(here, "dist/tether.cjs"));

// commander requires node:child_process at load (≈7 ms) for executable subcommands, which
// tether has none of: give it a stand-in that loads the real module on first use.
const lazyChildProcess = {
  name: "lazy-child-process",
  setup(b) {
    b.onResolve({ filter: /^(node:)?child_process$/ }, (a) =>
      /[\\/]commander[\\/]/.test(a.importer) ? { path: "child_process", namespace: "lazy" } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: "lazy" }, () => ({
      contents:
        'let m; module.exports = new Proxy({}, { get: (_, k) => (m ??= require("node:child_process"))[k] });',
      loader: "js",
    }));
  },
};

const result = await build({
  absWorkingDir: here,
  entryPoints: ["src/main.ts"],
  outfile,
  bundle: true,
  platform: "node",
  format: "cjs",
  target: "node20",
  // The workspace packages from their TypeScript sources, as tsx and Vite read them.
  conditions: ["source"],
  external: ["@tether/server", "@tether/agent", "pino", "better-sqlite3"],
  // cli.ts finds package.json (the version) next to dist/ through import.meta.url.
  define: { "import.meta.url": "__tetherFileUrl" },
  // __tImp: see below.
  banner: {
    js: 'var __tetherFileUrl = require("node:url").pathToFileURL(__filename).href; var __tImp = globalThis.__tImp || ((s) => import(s));',
  },
  minify: true,
  legalComments: "none",
  sourcemap: "linked",
  metafile: true,
  plugins: [lazyChildProcess],
  logLevel: "warning",
});

// The guarantee above, checked on every build.
const leaked = Object.keys(result.metafile.inputs).filter((f) =>
  /(^|\/)packages\/(server|agent)\/|better-sqlite3|\.node$|node_modules\/pino\//.test(f),
);
if (leaked.length) {
  rmSync(outfile, { force: true });
  console.error(`cli bundle: server, agent or native code got into ${outfile}:\n  ${leaked.join("\n  ")}`);
  process.exit(1);
}
// The externals are ES modules, loaded with import(). bin/tether.js runs the bundle through
// vm.Script with a V8 code cache, where import() has no loader (and code from a cache loses the
// one vm.Script could be given): every import(…) in the bundle calls __tImp(…) instead, which
// bin/tether.js defines as its own import(); run directly (node tether.cjs), the banner's
// fallback imports. Same length, so the source map still lines up.
const FALLBACK = "((s) => import(s))";
let code = readFileSync(outfile, "utf8");
const at = code.indexOf(FALLBACK);
if (at < 0) throw new Error("cli bundle: the banner's import() fallback is missing");
code =
  code.slice(0, at + FALLBACK.length) + code.slice(at + FALLBACK.length).replace(/\bimport\(/g, "__tImp(");
const externals = new Set([...code.matchAll(/__tImp\("([^"]+)"\)/g)].map((m) => m[1]));
for (const name of ["@tether/server", "@tether/agent", "pino"])
  if (!externals.has(name)) {
    rmSync(outfile, { force: true });
    console.error(`cli bundle: no import of ${name} found to route through __tImp`);
    process.exit(1);
  }
writeFileSync(outfile, code);

// V8 code caches bin/tether.js kept for earlier bundles (named after their size and time).
for (const f of readdirSync(dirname(outfile)))
  if (f.startsWith(`${basename(outfile)}.`) && f.endsWith(".cache"))
    rmSync(join(dirname(outfile), f), { force: true });
