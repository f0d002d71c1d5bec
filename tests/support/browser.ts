/**
 * Browser tests: Debian's Chromium driven by playwright-core (no browser download), and the
 * console build the server serves. Outside CI a missing Chromium skips with a one-line reason;
 * in CI it fails loudly. Also what the console's browser tests share: opening a page on the
 * console, signing in, screenshots.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { type Browser, type BrowserContext, chromium, type Locator, type Page } from "playwright-core";
import { TEST_BROKER, TEST_DB } from "../e2e/harness.js";

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

/**
 * For a browser test file that runs once, in the first pass (SQLite, embedded broker): false when
 * it runs; else why it is skipped (`why` in the other passes, or no Chromium).
 */
export function browserSkipReason(
  what: string,
  why = "runs once, in the first pass (SQLite, embedded broker)",
): string | false {
  const noChromium = chromiumSkipReason(what);
  return TEST_DB !== "sqlite" || TEST_BROKER !== "embedded" ? why : noChromium;
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

export const textOf = async (l: Locator): Promise<string> => (await l.textContent()) ?? "";

/**
 * `shot(page, name)`: with CONSOLE_SCREENSHOTS=<dir> set, keeps a full-page screenshot as
 * <dir>/<prefix><name>.png for a visual check; else does nothing. One prefix per test file
 * ("fleet-", "admin-", ...), so that files do not overwrite each other's screenshots.
 */
export function screenshots(prefix: string): (p: Page, name: string) => Promise<void> {
  return async (p, name) => {
    const dir = process.env.CONSOLE_SCREENSHOTS;
    if (dir) await p.screenshot({ path: join(dir, `${prefix}${name}.png`), fullPage: true });
  };
}

/** A browser context for the console: its self-signed certificate accepted, a desktop viewport. */
export function newConsoleContext(browser: Browser): Promise<BrowserContext> {
  return browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1400, height: 900 } });
}

const printPageError = (err: Error) => console.error("page error:", err);

/** A new page whose script errors go to `onPageError` (default: printed). */
export async function newConsolePage(
  context: BrowserContext,
  onPageError: (err: Error) => void = printPageError,
): Promise<Page> {
  const page = await context.newPage();
  page.on("pageerror", onPageError);
  return page;
}

/**
 * Chromium with one console context and page (newConsoleContext, newConsolePage). `clipboard`
 * lets pages of `url` read and write the clipboard (the Copy buttons).
 */
export async function openConsole(
  url: string,
  o: { clipboard?: boolean; onPageError?: (err: Error) => void } = {},
): Promise<{ browser: Browser; context: BrowserContext; page: Page }> {
  const browser = await launchChromium();
  try {
    const context = await newConsoleContext(browser);
    if (o.clipboard) await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: url });
    return { browser, context, page: await newConsolePage(context, o.onPageError) };
  } catch (err) {
    await browser.close();
    throw err;
  }
}

/** The admin's password, which a new server writes into its data directory. */
export function adminPassword(dataDir: string): string {
  return readFileSync(join(dataDir, "admin.password"), "utf8").trim();
}

/** Signs in on the console's login form at `url` and waits until the page is signed in. */
export async function signIn(p: Page, url: string, username: string, password: string): Promise<void> {
  await p.goto(`${url}/`);
  await p.getByLabel("Username").fill(username);
  await p.getByLabel("Password").fill(password);
  await p.getByRole("button", { name: "Sign in" }).click();
  await p.getByRole("button", { name: "Sign out" }).waitFor();
}

/**
 * openConsole, signed in as the server's admin (its password from `dataDir`); script errors on
 * the page are collected in `pageErrors` (a test asserts it empty at the end).
 */
export async function openAdminConsole(
  url: string,
  dataDir: string,
  pageErrors: string[],
): Promise<{ browser: Browser; context: BrowserContext; page: Page }> {
  const opened = await openConsole(url, { onPageError: (err) => pageErrors.push(String(err)) });
  try {
    await signIn(opened.page, url, "admin", adminPassword(dataDir));
  } catch (err) {
    await opened.browser.close();
    throw err;
  }
  return opened;
}
