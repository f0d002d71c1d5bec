// @matrix: browser
/**
 * The console's audit log and settings pages in a real browser (Debian chromium via
 * playwright-core) against a real in-process server: audit sentences with device names,
 * filters and paging; users and roles; API tokens (shown once, working, revoked); projects;
 * exec users; and what a viewer sees. Set CONSOLE_SCREENSHOTS=<dir> to keep screenshots (admin-*.png).
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Browser, Page } from "playwright-core";
import {
  adminPassword,
  browserSkipReason,
  ensureConsoleBuilt,
  newConsoleContext,
  newConsolePage,
  openConsole,
  screenshots,
  signIn,
  textOf,
} from "../support/browser.js";
import { enrollDevice } from "../support/enroll-device.js";
import { type InProcessServer, startInProcessServer, storeApiToken } from "../support/in-process-server.js";
import { type Api, cleanupTempDirs, makeApi, tempDir } from "./harness.js";

const SKIP = browserSkipReason(
  "console admin browser tests",
  "runs once, in the first pass (SQLite, embedded broker); its in-process server ignores the store/broker settings",
);

let server: InProcessServer;
let url: string;
/** The admin's API client. */
let api: Api;
let browser: Browser;
let page: Page;
const ids: Record<string, string> = {};

const shot = screenshots("admin-");

/** A plain HTTPS client from Node (no browser cookies), with `token` if given. */
const client = (token?: string): Api => makeApi(url, server.ca, token);

async function enrolled(token: string, name: string): Promise<string> {
  return (await enrollDevice({ url, token, name })).deviceId;
}

before(async () => {
  if (SKIP) return;
  ensureConsoleBuilt();
  server = await startInProcessServer({ dataDir: tempDir("tether-console-admin-") });
  url = server.url;
  api = server.api;

  // Devices and the events the audit page shows: enroll, accept, label, rename, a user's action.
  const auto = await api.call("POST", "/api/v1/enrollment-tokens", { autoAccept: true, uses: 2 });
  ids["robot-1"] = await enrolled(auto.token, "robot-1");
  ids["robot-2"] = await enrolled(auto.token, "robot-2");
  const manual = await api.call("POST", "/api/v1/enrollment-tokens", {});
  ids["robot-3"] = await enrolled(manual.token, "robot-3");
  await api.call("POST", `/api/v1/devices/${ids["robot-3"]}/accept`, {});
  await api.call("POST", "/api/v1/users", { username: "bob", role: "operator", password: "bob-password-1" });
  const bob = client(await storeApiToken(server, "bob"));
  await bob.call("PATCH", `/api/v1/devices/${ids["robot-1"]}`, { labels: { site: "lab" } });
  await bob.call("POST", `/api/v1/devices/${ids["robot-2"]}/revoke`, {});
  // Enough entries for a second and third page (the page shows 50).
  for (let i = 0; i < 100; i++) await api.call("POST", "/api/v1/enrollment-tokens", {});

  ({ browser, page } = await openConsole(url, { clipboard: true }));
  await signIn(page, url, "admin", adminPassword(server.dataDir));
});

after(async () => {
  await browser?.close();
  await server?.srv.close();
  await cleanupTempDirs();
});

const entries = () => page.locator("li.audit-entry");
const sentences = async () =>
  (await entries().locator(".audit-sentence").allTextContents()).map((s) => s.trim());

test("audit: sentences with device names, details on demand, filters, paging", { skip: SKIP }, async () => {
  await page.goto(`${url}/#/audit`);
  await entries().first().waitFor();
  assert.equal(await entries().count(), 50);
  await shot(page, "audit");

  // Sentences, not JSON; names, not device ids.
  const main = await textOf(page.locator("main"));
  assert.ok(!main.includes('{"'), "raw JSON on the audit page");
  for (const id of Object.values(ids)) assert.ok(!main.includes(id), `device id ${id} shown`);

  // Filter by device name: robot-3's story, in words.
  await page.getByLabel("Device").fill("robot-3");
  await page.getByRole("button", { name: "Filter", exact: true }).click();
  await page.waitForFunction(() => document.querySelectorAll("li.audit-entry").length === 2);
  const r3 = await sentences();
  assert.match(r3[0], /^admin accepted robot-3 \(fingerprint \S+\)$/);
  assert.match(r3[1], /^robot-3 enrolled from \S+ \(fingerprint \S+\); waiting for an operator/);
  assert.ok(page.url().includes("device=robot-3"), page.url());

  // The full details of one entry, as labelled values; the device id is there, not in the sentence.
  const accept = entries().filter({ hasText: "accepted robot-3" });
  await accept.getByRole("button", { name: /Show details/ }).click();
  const details = accept.locator("dl.audit-details");
  await details.waitFor();
  const dt = await details.locator("dt").allTextContents();
  assert.ok(dt.includes("Fingerprint") && dt.includes("Device") && dt.includes("Action"), dt.join(","));
  assert.ok((await textOf(details)).includes(ids["robot-3"]));
  assert.ok(!(await textOf(details)).includes('{"'));
  await shot(page, "audit-details");

  // Actor and action: what bob did; then only revocations.
  await page.getByRole("button", { name: "Clear" }).click();
  await page.getByLabel("Who").fill("bob");
  await page.getByRole("button", { name: "Filter", exact: true }).click();
  await page.waitForFunction(() => document.querySelectorAll("li.audit-entry").length === 2);
  assert.deepEqual(await sentences(), [
    "bob revoked robot-2",
    "bob changed the labels of robot-1: set site=lab",
  ]);
  await page.getByLabel("Who").fill("");
  await page.getByLabel("Action").selectOption("device.revoke");
  await page.getByRole("button", { name: "Filter", exact: true }).click();
  await page.waitForFunction(() => document.querySelectorAll("li.audit-entry").length === 1);
  assert.deepEqual(await sentences(), ["bob revoked robot-2"]);

  // A time range with nothing in it.
  await page.getByRole("button", { name: "Clear" }).click();
  await entries().nth(49).waitFor();
  const tomorrow = new Date(Date.now() + 86_400_000);
  const local = new Date(tomorrow.getTime() - tomorrow.getTimezoneOffset() * 60_000)
    .toISOString()
    .slice(0, 16);
  await page.getByLabel("From").fill(local);
  await page.getByRole("button", { name: "Filter", exact: true }).click();
  await page.getByText("No entries match these filters.").waitFor();
  await page.getByRole("button", { name: "Clear" }).click();

  // A device that never was: said in words, not as an error.
  await page.goto(`${url}/#/audit?device=robot-404`);
  await page
    .getByText("No device called “robot-404” has ever been in default, so nothing matches.")
    .waitFor();
  assert.equal(await page.getByRole("alert").count(), 0);
  await page.goto(`${url}/#/audit`);

  // Paging: older entries until the first one, each once.
  await entries().nth(49).waitFor();
  const total = (await api.call("GET", "/api/v1/audit?limit=1000")).length as number;
  assert.ok(total > 100 && total <= 150, `total ${total}`);
  await page.getByRole("button", { name: "Older entries" }).click();
  await entries().nth(99).waitFor();
  await page.getByRole("button", { name: "Older entries" }).click();
  await page.getByText(/that is all/).waitFor();
  assert.equal(await entries().count(), total);
  const shownIds = await entries().evaluateAll((els) =>
    els.map((e) => Number(e.getAttribute("data-audit-id"))),
  );
  assert.equal(new Set(shownIds).size, total);
  assert.deepEqual(
    shownIds,
    [...shownIds].sort((a, b) => b - a),
  );
  // The oldest entry is the first enrollment token, in words.
  assert.match(
    (await sentences()).at(-1) ?? "",
    /^admin created enrollment token #1 \(2 uses, .*devices accepted automatically\)$/,
  );
});

test("users: add one with a generated password, change the role", { skip: SKIP }, async () => {
  await page.goto(`${url}/#/settings/users`);
  await page.locator("tr[data-username=bob]").waitFor();
  await page.getByLabel("Username").fill("carol");
  await page.getByLabel("Role", { exact: true }).selectOption("viewer");
  await page.getByRole("button", { name: "Add user" }).click();
  const out = page.locator(".outcome");
  await out.getByText("carol was created as a viewer in default.").waitFor();
  const password = (await textOf(out.locator("code.secret"))).trim();
  assert.ok(password.length >= 16, password);
  await shot(page, "users-created");
  // The password works.
  const login = await client().request(
    "POST",
    "/api/v1/auth/login",
    { username: "carol", password },
    {
      origin: url,
    },
  );
  assert.equal(login.status, 200, JSON.stringify(login.body));
  assert.equal(login.body.role, "viewer");

  await page.getByLabel("Role of carol").selectOption("operator");
  await out.getByText("carol is now an operator in default.").waitFor();
  const users = await api.call("GET", "/api/v1/users");
  assert.equal(users.find((u: any) => u.username === "carol").roles.default, "operator");
  // Your own role is not a control; others can be removed.
  assert.equal(await page.getByLabel("Role of admin").count(), 0);
  const carol = page.locator("tr[data-username=carol]");
  await carol.getByRole("button", { name: "Remove…" }).click();
  await carol.getByRole("button", { name: "Yes, remove carol" }).click();
  await out.getByText("carol was removed from default.").waitFor();
  await carol.waitFor({ state: "detached" });
  await shot(page, "users");
});

test("API tokens: shown once with a warning, it works, revoked it stops", { skip: SKIP }, async () => {
  await page.goto(`${url}/#/settings/tokens`);
  await page.getByLabel("Name").fill("ci-deploy");
  await page.getByLabel("Expires after").selectOption("7 days");
  await page.getByRole("button", { name: "Create token" }).click();
  const once = page.locator(".token-once");
  await once.getByText(/shown only this once/).waitFor();
  const token = (await textOf(once.locator("code.secret"))).trim();
  await once.getByRole("button", { name: "Copy" }).click();
  await once.getByText("Copied", { exact: true }).waitFor();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), token);
  await shot(page, "token-created");

  const bearer = client(token);
  assert.equal((await bearer.request("GET", "/api/v1/devices")).status, 200);

  // Once dismissed (or after a reload) it is gone for good.
  await once.getByRole("button", { name: "I have copied it" }).click();
  await once.waitFor({ state: "detached" });
  await page.reload();
  const row = page.locator("tr[data-token-name=ci-deploy]");
  await row.waitFor();
  assert.ok(!(await textOf(page.locator("main"))).includes(token));

  await row.getByRole("button", { name: "Revoke…" }).click();
  await row.getByRole("button", { name: "Yes, revoke" }).click();
  await page.getByText("API token “ci-deploy” revoked.").waitFor();
  await row.waitFor({ state: "detached" });
  assert.equal((await bearer.request("GET", "/api/v1/devices")).status, 401);
});

test("projects: create, switch menu, delete with confirmation", { skip: SKIP }, async () => {
  await page.goto(`${url}/#/settings/projects`);
  await page.locator("tr[data-project=default]").waitFor();
  await page.getByLabel("Name").fill("warehouse-2");
  await page.getByRole("button", { name: "Create project" }).click();
  await page.getByText("Project warehouse-2 created; you are its admin.").waitFor();
  const row = page.locator("tr[data-project=warehouse-2]");
  await row.waitFor();
  // The top bar now offers it.
  await page
    .locator('.topbar select[aria-label="Project"] option[value="warehouse-2"]')
    .waitFor({ state: "attached" });
  await shot(page, "projects");

  await row.getByRole("button", { name: "Delete…" }).click();
  await row.getByText(/cannot be undone/).waitFor();
  await row.getByRole("button", { name: "Yes, delete warehouse-2" }).click();
  await page.getByText("Project warehouse-2 deleted.").waitFor();
  await row.waitFor({ state: "detached" });
  const left = await api.call("GET", "/api/v1/projects");
  assert.deepEqual(
    left.map((p: any) => p.name),
    ["default"],
  );
  // The default project cannot be deleted, so it offers no Delete.
  assert.equal(
    await page.locator("tr[data-project=default]").getByRole("button", { name: "Delete…" }).count(),
    0,
  );
});

test("exec users: an admin sets who commands may run as", { skip: SKIP }, async () => {
  await page.goto(`${url}/#/settings/exec-users`);
  await page.getByText("none: only the agent's own user").waitFor();
  await page.getByLabel("Add users").fill("deploy root");
  await page.getByRole("button", { name: "Add", exact: true }).click();
  await page.getByText("Not saved yet.").waitFor();
  // A name the agent would refuse is caught here.
  await page.getByLabel("Add users").fill("Bad;Name");
  await page.getByRole("button", { name: "Add", exact: true }).click();
  await page.getByText(/is not a user name/).waitFor();
  await page.getByRole("button", { name: "Save" }).click();
  await page.getByText("Saved: commands in default may run as deploy, root.").waitFor();
  assert.deepEqual((await api.call("GET", "/api/v1/project/exec-users")).execUsers, ["deploy", "root"]);
  await shot(page, "exec-users");
});

test("the audit log tells the settings changes in words", { skip: SKIP }, async () => {
  await page.goto(`${url}/#/audit?action=${encodeURIComponent("user.*")}`);
  await page.getByText("admin removed carol from the project").waitFor();
  const users = await sentences();
  assert.deepEqual(users.slice(0, 3), [
    "admin removed carol from the project",
    "admin changed the role of carol from viewer to operator",
    "admin created the user carol as viewer",
  ]);
  await page.goto(`${url}/#/audit?actor=admin`);
  await page.getByText("admin let commands run as deploy, root").waitFor();
  const all = await sentences();
  assert.ok(all.includes("admin revoked the API token “ci-deploy”"), all.join("\n"));
  assert.ok(all.includes("admin deleted the project warehouse-2"), all.join("\n"));
  assert.ok(
    all.some((x) => /^admin created the API token “ci-deploy” \(expires .+\)$/.test(x)),
    all.join("\n"),
  );
  await shot(page, "audit-settings");
});

test("a viewer sees no admin actions, and is told why", { skip: SKIP }, async () => {
  await api.call("POST", "/api/v1/users", { username: "vic", role: "viewer", password: "vic-password-1" });
  const ctx = await newConsoleContext(browser);
  try {
    const p = await newConsolePage(ctx);
    await signIn(p, url, "vic", "vic-password-1");
    const nav = (await p.locator(".topbar nav a").allTextContents()).map((s) => s.trim());
    assert.ok(!nav.includes("Audit"), nav.join(","));
    assert.ok(nav.includes("Settings"), nav.join(","));

    // Settings opens on their own API tokens; no users section.
    await p.locator(".topbar nav a", { hasText: "Settings" }).click();
    await p.getByRole("heading", { name: "API tokens" }).waitFor();
    const sections = (await p.locator(".settings-nav a").allTextContents()).map((s) => s.trim());
    assert.deepEqual(sections, ["API tokens", "Projects", "Exec users"]);
    await p.getByText(/Users, roles and the audit log are for admins of default; you are a viewer/).waitFor();
    await shot(p, "viewer-tokens");

    await p.goto(`${url}/#/settings/users`);
    await p.getByText(/Managing users needs the admin role in default; you are a viewer/).waitFor();
    assert.equal(await p.getByRole("button", { name: "Add user" }).count(), 0);

    await p.goto(`${url}/#/settings/exec-users`);
    await p.getByText("Only admins of default can change this list; you are a viewer.").waitFor();
    // The list loads on its own: wait for it, do not read it the moment the notice shows.
    await p.locator("ul.exec-users", { hasText: "deploy" }).waitFor();
    assert.equal(await p.getByRole("button", { name: "Save" }).count(), 0);
    assert.equal(await p.getByLabel("Remove deploy").count(), 0);

    await p.goto(`${url}/#/settings/projects`);
    await p.locator("tr[data-project=default]").waitFor();
    await p.getByText(/Creating projects is for the server admin/).waitFor();
    assert.equal(await p.getByRole("button", { name: "Create project" }).count(), 0);
    assert.equal(await p.getByRole("button", { name: "Delete…" }).count(), 0);
    await shot(p, "viewer-projects");

    await p.goto(`${url}/#/audit`);
    await p.getByText("The audit log is for admins.").waitFor();
    assert.equal(await p.locator("li.audit-entry").count(), 0);
  } finally {
    await ctx.close();
  }
});
