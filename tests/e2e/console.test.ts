// @matrix: browser
/**
 * The web console in a real browser (Debian chromium driven by playwright-core) against a
 * real in-process server: sign-in, enrollment tokens, a pending device with hostile
 * strings, accept, the audit log, and the cookie/Origin rules.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { enroll } from "@tether/agent";
import { generateEd25519, generateX25519 } from "@tether/protocol";
import { createServer, type TetherServer } from "@tether/server";
import type { Browser, BrowserContext, Locator, Page } from "playwright-core";
import pino from "pino";
import { chromiumSkipReason, ensureConsoleBuilt, launchChromium } from "../support/browser.js";
import { TEST_BROKER, TEST_DB } from "./harness.js";

const NO_CHROMIUM = chromiumSkipReason("console browser tests");
// Runs once, in the first pass: it uses its own in-process server on SQLite and the embedded broker.
const SKIP =
  TEST_DB !== "sqlite" || TEST_BROKER !== "embedded"
    ? "runs once, in the first pass (SQLite, embedded broker); its in-process server ignores the store/broker settings"
    : NO_CHROMIUM;
const EVIL_NAME = "<b>evil</b>";
const EVIL_HOST = `<img src=x onerror="window.__xss=1">`;

let tmp: string;
let srv: TetherServer;
let url: string;
let adminToken: string;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let evilId: string;

const log = pino({ level: "silent" });

const textOf = async (l: Locator): Promise<string> => (await l.textContent()) ?? "";

/** Set CONSOLE_SCREENSHOTS=<dir> to keep a screenshot of each page for a visual check. */
async function shot(name: string): Promise<void> {
  const dir = process.env.CONSOLE_SCREENSHOTS;
  if (dir) await page.screenshot({ path: join(dir, `${name}.png`), fullPage: true });
}

function facts(hostname: string) {
  return {
    os: "linux",
    osRelease: "Debian 12",
    kernel: "6.1.0",
    arch: "arm64",
    hostname,
    addresses: ["10.0.0.7"],
    agentVersion: "0.1.0",
  };
}

async function apiJson(method: string, path: string, body?: unknown): Promise<any> {
  const r = await rawRequest(method, path, {
    headers: { authorization: `Bearer ${adminToken}` },
    body,
  });
  assert.ok(r.status < 300, `${method} ${path}: ${r.status} ${r.text}`);
  return JSON.parse(r.text);
}

/** A plain HTTPS request from Node (no browser): no automatic Origin, cookies or CORS. */
function rawRequest(
  method: string,
  path: string,
  o: { headers?: Record<string, string>; body?: unknown } = {},
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const data = o.body === undefined ? undefined : JSON.stringify(o.body);
    const req = request(
      `${url}${path}`,
      {
        method,
        rejectUnauthorized: false,
        headers: { ...(data ? { "content-type": "application/json" } : {}), ...o.headers },
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c) => {
          text += c;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on("error", reject);
    req.end(data);
  });
}

before(async () => {
  if (SKIP) return;
  ensureConsoleBuilt();
  tmp = mkdtempSync(join(tmpdir(), "tether-console-"));
  srv = await createServer({
    dataDir: tmp,
    listen: { host: "127.0.0.1", port: 0 },
    mqttListen: { host: "127.0.0.1", port: 0 },
  });
  const info = await srv.listen();
  url = info.url;
  adminToken = readFileSync(join(tmp, "admin.token"), "utf8").trim();
  browser = await launchChromium();
  context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1400, height: 800 } });
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: url });
  page = await context.newPage();
  page.on("pageerror", (err) => console.error("page error:", err));
});

after(async () => {
  await browser?.close();
  await srv?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

test("sign in as admin", { skip: SKIP }, async () => {
  await page.goto(`${url}/`);
  const password = readFileSync(join(tmp, "admin.password"), "utf8").trim();

  // A wrong password shows the server's error.
  await page.getByLabel("Username").fill("admin");
  await page.getByLabel("Password").fill("not-the-password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("alert").waitFor();
  await shot("login");
  assert.match(await textOf(page.getByRole("alert")), /TETHER_ERR_/);

  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("button", { name: "Sign out" }).waitFor();
  await page.getByRole("heading", { name: "Devices" }).waitFor();

  // The session survives a reload (GET /auth/me).
  await page.reload();
  await page.getByRole("button", { name: "Sign out" }).waitFor();
});

test("session cookie is HttpOnly, Secure and SameSite=Strict", { skip: SKIP }, async () => {
  const cookies = await context.cookies(url);
  const c = cookies.find((x) => x.name === "tether_session");
  assert.ok(c, `no session cookie in ${JSON.stringify(cookies.map((x) => x.name))}`);
  assert.equal(c.httpOnly, true);
  assert.equal(c.secure, true);
  assert.equal(c.sameSite, "Strict");
  // Not readable from page scripts.
  assert.equal(await page.evaluate(() => document.cookie.includes("tether_session")), false);
});

let uiToken: string;

test("enroll page creates a token and shows the agent command", { skip: SKIP }, async () => {
  await page.goto(`${url}/#/enroll`);
  await page.getByLabel("Labels").fill("site=lab role=arm");
  await page.getByLabel("Expires in").fill("1h");
  await page.getByRole("button", { name: "Create token" }).click();
  const code = page.locator("code.command");
  await code.waitFor();
  const command = (await textOf(code)).trim();
  assert.ok(command.startsWith("tether agent --url"), command);
  assert.ok(command.includes("tether1."), command);
  assert.ok(command.includes(url), command);
  const m = /tether1\.\S+/.exec(command);
  assert.ok(m);
  uiToken = m[0];

  await page.getByRole("button", { name: "Copy" }).click();
  await page.getByText("Copied", { exact: true }).waitFor();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), command);

  // The new token is listed with its labels.
  await page.locator("table .chip", { hasText: "site=lab" }).first().waitFor();
  await shot("enroll");
});

test("pending device: verification details, hostile strings shown as text, accept", {
  skip: SKIP,
}, async () => {
  const id = await enroll({
    url,
    token: uiToken,
    name: "evil-to-be",
    keys: { sign: generateEd25519(), noise: generateX25519() },
    facts: facts(EVIL_HOST),
    log,
  });
  assert.equal(id.state, "pending");
  evilId = id.deviceId;
  // Enrollment now refuses such names (one name rule); a device named before the rule keeps
  // its name, and the console must still show it as text.
  await srv.store.db.updateTable("devices").set({ name: EVIL_NAME }).where("id", "=", evilId).execute();
  srv.control.invalidate(evilId);
  const dev = await apiJson("GET", `/api/v1/devices/${evilId}`);

  // A second, well-behaved device (auto-accepted) so the list has both kinds.
  const tok = await apiJson("POST", "/api/v1/enrollment-tokens", {
    labels: { site: "depot", model: "x2" },
    autoAccept: true,
  });
  await enroll({
    url,
    token: tok.token,
    name: "robot-01",
    keys: { sign: generateEd25519(), noise: generateX25519() },
    facts: facts("robot-01"),
    log,
  });

  await page.goto(`${url}/#/devices`);
  const row = page.locator(`tr[data-device-id="${evilId}"]`);
  await row.waitFor();
  await row.locator(".state", { hasText: "pending" }).waitFor();
  const rowText = await textOf(row);
  assert.ok(rowText.includes(dev.fingerprint), `fingerprint missing in: ${rowText}`);
  assert.ok(rowText.includes(EVIL_HOST), `hostname missing in: ${rowText}`);
  assert.ok(rowText.includes(dev.sourceAddress), `source address missing in: ${rowText}`);

  // The fingerprint, hostname and source come before the Accept button.
  const accept = row.getByRole("button", { name: "Accept" });
  const before = await row
    .locator(".fingerprint")
    .evaluate(
      (fp, btn) => !!(fp.compareDocumentPosition(btn as Node) & Node.DOCUMENT_POSITION_FOLLOWING),
      await accept.elementHandle(),
    );
  assert.ok(before, "fingerprint must be shown before the Accept button");

  // Device-supplied strings are text, not markup.
  const bodyText = await textOf(page.locator("body"));
  assert.ok(bodyText.includes(EVIL_NAME), "the name should appear literally");
  assert.equal(await page.locator('img[src="x"]').count(), 0);
  assert.equal(await page.locator("td.name b").count(), 0);
  assert.equal(await page.evaluate(() => (window as any).__xss), undefined);

  await page.locator("tr.row-accepted", { hasText: "robot-01" }).waitFor();
  await page.screenshot({ path: "/tmp/console-devices.png", fullPage: true });

  await accept.click();
  // Accepted and not connected: offline. Destructive actions live on the device page only.
  await row.locator(".state", { hasText: "offline" }).waitFor();
  assert.equal(await row.getByRole("button", { name: /Revoke/ }).count(), 0);
  assert.equal(await page.evaluate(() => (window as any).__xss), undefined);

  // The device page shows the same strings as text.
  await row.getByRole("link", { name: EVIL_NAME }).click();
  await page.getByRole("heading", { name: EVIL_NAME }).waitFor();
  await page.getByText("Connection history").waitFor();
  assert.ok((await textOf(page.locator("main"))).includes(EVIL_HOST));
  await shot("device");
  assert.equal(await page.locator('img[src="x"]').count(), 0);
  assert.equal(await page.evaluate(() => (window as any).__xss), undefined);
});

test("audit page says who accepted the device, by its name, as text", { skip: SKIP }, async () => {
  await page.goto(`${url}/#/audit?action=device.accept`);
  const sentence = page.locator("li.audit-entry .audit-sentence").first();
  await sentence.waitFor();
  const text = (await textOf(sentence)).trim();
  assert.ok(text.startsWith(`admin accepted ${EVIL_NAME} (fingerprint `), text);
  assert.ok(!text.includes(evilId), text);
  assert.equal(await sentence.locator("b").count(), 0);
  await shot("audit");
});

test("Origin check: same-origin fetch works; another origin is refused", { skip: SKIP }, async () => {
  const same = await page.evaluate(async () => {
    const r = await fetch("/api/v1/enrollment-tokens", {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    return { status: r.status, body: await r.json() };
  });
  assert.equal(same.status, 200, JSON.stringify(same.body));
  assert.ok(same.body.command.startsWith("tether agent --url"));

  const c = (await context.cookies(url)).find((x) => x.name === "tether_session");
  assert.ok(c);
  const cookie = `tether_session=${c.value}`;

  const evil = await rawRequest("POST", "/api/v1/enrollment-tokens", {
    headers: { cookie, origin: "https://evil.example" },
    body: {},
  });
  assert.equal(evil.status, 403, evil.text);
  assert.equal(JSON.parse(evil.text).error.code, "TETHER_ERR_BAD_ORIGIN");

  // A cookie-authenticated change without any Origin is refused too.
  const none = await rawRequest("POST", "/api/v1/enrollment-tokens", { headers: { cookie }, body: {} });
  assert.equal(none.status, 403, none.text);
  assert.equal(JSON.parse(none.text).error.code, "TETHER_ERR_BAD_ORIGIN");

  // The same cookie with the right Origin is fine (the refusals were about the Origin).
  const own = await rawRequest("POST", "/api/v1/enrollment-tokens", {
    headers: { cookie, origin: url },
    body: {},
  });
  assert.equal(own.status, 200, own.text);
});

test("sign out ends the session", { skip: SKIP }, async () => {
  await page.goto(`${url}/#/devices`);
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByRole("button", { name: "Sign in" }).waitFor();
  const me = await page.evaluate(async () => (await fetch("/api/v1/auth/me")).status);
  assert.equal(me, 401);
});
