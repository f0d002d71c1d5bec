/**
 * Browser tests: Debian's Chromium driven by playwright-core (no browser download), and the
 * console build the server serves. Outside CI a missing Chromium skips with a one-line reason;
 * in CI it fails loudly.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { type Browser, chromium } from "playwright-core";

const ROOT = new URL("../..", import.meta.url).pathname;
export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/** false when Chromium is installed; else a reason to skip (printed once) — or a throw in CI. */
export function chromiumSkipReason(what: string): string | false {
  if (existsSync(CHROMIUM)) return false;
  const reason = `no Chromium at ${CHROMIUM} (apt-get install -y chromium)`;
  if (process.env.CI) throw new Error(`browser tests need Chromium: ${reason}`);
  process.stderr.write(`SKIPPING ${what}: ${reason}\n`);
  return reason;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/** Newest modification time under a directory. */
function newest(dir: string): number {
  let t = 0;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = statSync(p);
    t = Math.max(t, st.isDirectory() ? newest(p) : st.mtimeMs);
  }
  return t;
}

/** The server serves packages/console/dist: build it when missing or older than its sources. */
export function ensureConsoleBuilt(): void {
  const index = join(ROOT, "packages/console/dist/index.html");
  // Vite bundles the SDK and protocol from their sources too (the "source" condition).
  const sources = ["console", "sdk", "protocol"].map((p) => newest(join(ROOT, `packages/${p}/src`)));
  if (existsSync(index) && statSync(index).mtimeMs >= Math.max(...sources)) return;
  const b = spawnSync("npm", ["run", "build", "-w", "@tether/console"], { cwd: ROOT, stdio: "inherit" });
  assert.equal(b.status, 0, "console build failed");
}
