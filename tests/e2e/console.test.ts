// @matrix: browser
/**
 * The web console in a real browser (Debian chromium driven by playwright-core) against a
 * real in-process server: sign-in, enrollment tokens, a pending device with hostile
 * strings, accept, the audit log, and the cookie/Origin rules.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Browser, BrowserContext, Page } from "playwright-core";
import {
  adminPassword,
  browserSkipReason,
  ensureConsoleBuilt,
  openConsole,
  screenshots,
  textOf,
} from "../support/browser.js";
import { enrollDevice } from "../support/enroll-device.js";
import { type InProcessServer, startInProcessServer } from "../support/in-process-server.js";
import { cleanupTempDirs, makeApi, tempDir } from "./harness.js";

// Runs once, in the first pass: it uses its own in-process server on SQLite and the embedded broker.
const SKIP = browserSkipReason(
  "console browser tests",
  "runs once, in the first pass (SQLite, embedded broker); its in-process server ignores the store/broker settings",
);
const EVIL_NAME = "<b>evil</b>";
const EVIL_HOST = `<img src=x onerror="window.__xss=1">`;

let server: InProcessServer;
let url: string;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let evilId: string;

const shot = screenshots("console-");

before(async () => {
  if (SKIP) return;
  ensureConsoleBuilt();
  server = await startInProcessServer({ dataDir: tempDir("tether-console-") });
  url = server.url;
  ({ browser, context, page } = await openConsole(url, { clipboard: true }));
});

after(async () => {
  await browser?.close();
  await server?.srv.close();
  await cleanupTempDirs();
});

test("sign in as admin", { skip: SKIP }, async () => {
  await page.goto(`${url}/`);
  const password = adminPassword(server.dataDir);

  // A wrong password shows the server's error.
  await page.getByLabel("Username").fill("admin");
  await page.getByLabel("Password").fill("not-the-password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("alert").waitFor();
  // The sentence is the message; the raw code only in the detail line under it.
  assert.match(await page.locator(".error-message").innerText(), /^The username or password is wrong\.$/);
  assert.match(await page.locator(".error-detail").innerText(), /TETHER_ERR_LOGIN_FAILED$/);
  await shot(page, "login");
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
  await shot(page, "enroll");
});

test("pending device: verification details, hostile strings shown as text, accept", {
  skip: SKIP,
}, async () => {
  const id = await enrollDevice({ url, token: uiToken, name: "evil-to-be", hostname: EVIL_HOST });
  assert.equal(id.state, "pending");
  evilId = id.deviceId;
  // Enrollment now refuses such names (one name rule); a device named before the rule keeps
  // its name, and the console must still show it as text.
  await server.srv.store.db
    .updateTable("devices")
    .set({ name: EVIL_NAME })
    .where("id", "=", evilId)
    .execute();
  server.srv.control.invalidate(evilId);
  const dev = await server.api.call("GET", `/api/v1/devices/${evilId}`);

  // A second, well-behaved device (auto-accepted) so the list has both kinds.
  const tok = await server.api.call("POST", "/api/v1/enrollment-tokens", {
    labels: { site: "depot", model: "x2" },
    autoAccept: true,
  });
  await enrollDevice({ url, token: tok.token, name: "robot-01" });

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
  await shot(page, "devices");

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
  await shot(page, "device");
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
  await shot(page, "audit");
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

  // Plain HTTPS requests from Node (no browser): no automatic Origin, cookies or CORS.
  const raw = makeApi(url, server.ca);
  const evil = await raw.request(
    "POST",
    "/api/v1/enrollment-tokens",
    {},
    {
      cookie,
      origin: "https://evil.example",
    },
  );
  assert.equal(evil.status, 403, JSON.stringify(evil.body));
  assert.equal(evil.body.error.code, "TETHER_ERR_BAD_ORIGIN");

  // A cookie-authenticated change without any Origin is refused too.
  const none = await raw.request("POST", "/api/v1/enrollment-tokens", {}, { cookie });
  assert.equal(none.status, 403, JSON.stringify(none.body));
  assert.equal(none.body.error.code, "TETHER_ERR_BAD_ORIGIN");

  // The same cookie with the right Origin is fine (the refusals were about the Origin).
  const own = await raw.request("POST", "/api/v1/enrollment-tokens", {}, { cookie, origin: url });
  assert.equal(own.status, 200, JSON.stringify(own.body));
});

test("sign out ends the session", { skip: SKIP }, async () => {
  await page.goto(`${url}/#/devices`);
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByRole("button", { name: "Sign in" }).waitFor();
  const me = await page.evaluate(async () => (await fetch("/api/v1/auth/me")).status);
  assert.equal(me, 401);
});
