#!/usr/bin/env node
// The `tether` command (CommonJS: bin/package.json). It runs the one-file bundle
// dist/tether.cjs (tools/build-cli.mjs, part of `npm run build`), which starts in a fraction of
// the time of the module tree; the server and the agent load only for `tether server` /
// `tether agent`. V8's compiled code for the bundle is kept beside it (dist/tether.cjs.<size>-
// <mtime>.cache, written after the first run where the directory is writable), which saves
// compiling it again on every call; V8 refuses a cache from another Node version, and then it
// is written anew. Without a bundle (only `tsc -b` was run) this runs dist/main.js.
"use strict";
const fs = require("node:fs");
const path = require("node:path");

const dist = path.join(__dirname, "..", "dist");
const bundle = path.join(dist, "tether.cjs");
let stat;
try {
  stat = fs.statSync(bundle);
} catch {
  stat = undefined;
}
if (!stat) {
  import("../dist/main.js");
} else {
  const vm = require("node:vm");
  const Module = require("node:module");
  // Named after the bundle's size and time: a rebuilt bundle never meets an old cache.
  const cacheFile = `${bundle}.${stat.size}-${Math.round(stat.mtimeMs)}.cache`;
  let cachedData;
  try {
    cachedData = fs.readFileSync(cacheFile);
  } catch {
    cachedData = undefined;
  }
  const script = new vm.Script(Module.wrap(fs.readFileSync(bundle, "utf8")), {
    filename: bundle,
    cachedData,
  });
  // The bundle's import() of the server, the agent and pino (tools/build-cli.mjs): code run by
  // vm.Script has no module loader of its own, this file has Node's.
  globalThis.__tImp = (specifier) => import(specifier);
  if (cachedData === undefined || script.cachedDataRejected) {
    // After the run, so that the functions it compiled are in the cache too.
    process.once("exit", () => {
      try {
        const tmp = `${cacheFile}.${process.pid}`;
        fs.writeFileSync(tmp, script.createCachedData());
        fs.renameSync(tmp, cacheFile);
      } catch {
        // A read-only install: every run compiles the bundle, as without a cache.
      }
    });
  }
  const mod = { exports: {}, filename: bundle, id: bundle };
  script.runInThisContext()(mod.exports, Module.createRequire(bundle), mod, bundle, dist);
}
