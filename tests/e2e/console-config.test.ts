// @matrix: browser
/**
 * Remote configuration in the console, in a real browser (Debian chromium driven by
 * playwright-core) against a real server process and a real agent: a group created from the
 * fleet view (with its selector preview), the defaults layer edited in the JSON editor with the
 * difference shown before saving, the history with a revision's changes and Rollback, a
 * conflict when the layer was saved underneath the editor (Reload), secrets listed masked, and
 * the device page's Configuration panel: in sync at the revision the agent reported, each key
 * with the layer that set it and what it overrides. Every wait is on page state or the API,
 * never a sleep.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Browser, Page } from "playwright-core";
import {
  adminPassword,
  browserSkipReason,
  ensureConsoleBuilt,
  openConsole,
  screenshots,
  signIn,
  textOf,
} from "../support/browser.js";
import { enrollDevice } from "../support/enroll-device.js";
import {
  type AgentHandle,
  cleanupTempDirs,
  createToken,
  type Device,
  enrollOnline,
  type ServerHandle,
  startServer,
  waitFor,
} from "./harness.js";

// The pages do not depend on the store or the broker: run once, in the first pass.
const SKIP = browserSkipReason("console configuration browser tests");
const shot = screenshots("config-");
const SECRET = "s3cr3t-token-value";

let server: ServerHandle;
let url: string;
let agent: AgentHandle;
let robot: Device;
let browser: Browser;
let page: Page;
const pageErrors: string[] = [];

before(async () => {
  if (SKIP) return;
  ensureConsoleBuilt();
  server = await startServer();
  url = server.info.url;
  const a = await enrollOnline(server, { name: "cfg-robot-1", labels: { site: "tokyo" } });
  agent = a.agent;
  robot = a.device;
  ({ browser, page } = await openConsole(url, { onPageError: (err) => pageErrors.push(String(err)) }));
  await signIn(page, url, "admin", adminPassword(server.dataDir));
});

after(async () => {
  await browser?.close();
  await agent?.stop();
  await server?.stop();
  await cleanupTempDirs();
  assert.deepEqual(pageErrors, [], "no script errors on the pages");
});

const layerRevision = async (ref: string): Promise<number | null> =>
  (
    await server.api.call<{ revision: number | null }>(
      "GET",
      `/api/v1/config/layers/${encodeURIComponent(ref)}`,
    )
  ).revision;

test("fleet view: create a group with a selector preview; it is listed with its priority and devices", {
  skip: SKIP,
}, async () => {
  await page.goto(`${url}/#/config`);
  await page.getByRole("heading", { name: "Configuration", exact: true }).waitFor();
  await page.getByRole("heading", { name: "Devices by sync status" }).waitFor();
  assert.equal(await page.locator("nav a.active").textContent(), "Configuration");

  await page.getByLabel("Group name").fill("site-tokyo");
  await page.getByLabel("Group selector").fill("site=tokyo");
  await page.locator(".match-preview .match-count", { hasText: "1 device matches now" }).waitFor();
  assert.match(await textOf(page.locator(".match-preview")), /cfg-robot-1/);
  await page.getByLabel("Group priority").fill("10");
  await page.getByRole("button", { name: "Create group" }).click();
  await page
    .getByRole("status")
    .filter({ hasText: "Group site-tokyo created; it matches 1 device." })
    .waitFor();

  const row = page.locator('table.config-layers tr[data-layer="group:site-tokyo"]');
  await row.waitFor();
  const cells = await row.locator("td").allTextContents();
  assert.equal(cells[0], "group site-tokyo");
  assert.equal(cells[1], "site=tokyo");
  assert.equal(cells[2], "10");
  assert.equal(cells[3], "1");
  const groups = await server.api.call<any[]>("GET", "/api/v1/config/groups");
  assert.deepEqual(
    groups.map((g) => [g.name, g.selector, g.priority]),
    [["site-tokyo", "site=tokyo", 10]],
  );

  // A bad selector is explained under the form before anything is sent.
  await page.getByLabel("Group selector").fill("site=");
  const createCard = page.locator(".card", { has: page.getByRole("heading", { name: "Create a group" }) });
  await createCard.locator(".error-notice", { hasText: '"site=" has no value' }).waitFor();
  await page.getByLabel("Group selector").fill("");
  await shot(page, "fleet");
});

test("defaults layer: edit in the editor, see the diff before saving, save, history, changes, roll back", {
  skip: SKIP,
}, async () => {
  await page.goto(`${url}/#/config/layers/defaults`);
  await page.getByRole("heading", { name: "Project defaults" }).waitFor();
  const editor = page.getByLabel("Layer values");
  await editor.waitFor();
  assert.equal((await editor.inputValue()).trim(), "{}");

  // Not JSON: said in words, Save disabled.
  await editor.fill('{"nav": {"hz": 20,}');
  await page.locator(".editor-error", { hasText: "Not valid JSON" }).waitFor();
  assert.equal(await page.getByRole("button", { name: "Save", exact: true }).isDisabled(), true);

  await editor.fill(JSON.stringify({ nav: { hz: 20, max_speed: 1.5 }, greeting: "hello" }, null, 2));
  const diff = page.locator(".editor-card .diff-box");
  await diff.locator('.diff-line[data-key="nav.hz"][data-op="added"]').waitFor();
  assert.deepEqual(
    await diff.locator(".diff-line").evaluateAll((ls) => ls.map((l) => (l as HTMLElement).dataset.key)),
    ["greeting", "nav.hz", "nav.max_speed"],
  );
  assert.match(await textOf(diff.locator("h3")), /not saved yet/);
  await page.getByLabel("Change message").fill("first defaults");
  await shot(page, "defaults-diff");
  await page.getByRole("button", { name: "Save", exact: true }).click();
  await page.locator(".save-row .ok", { hasText: /Saved as revision \d+; sent to 1 device\./ }).waitFor();
  const rev1 = await layerRevision("defaults");
  assert.ok(rev1);
  await page.locator(".layer-revision", { hasText: String(rev1) }).waitFor();

  // A second change: the diff says what changes from the loaded revision.
  await editor.fill(JSON.stringify({ nav: { hz: 20, max_speed: 2 }, greeting: "hello" }, null, 2));
  const changed = diff.locator('.diff-line[data-key="nav.max_speed"][data-op="changed"]');
  await changed.waitFor();
  assert.equal((await textOf(changed)).replace(/\s+/g, " ").trim(), "~ nav.max_speed: 1.5 → 2");
  assert.equal(await diff.locator(".diff-line").count(), 1);
  await page.getByLabel("Change message").fill("faster");
  await page.getByRole("button", { name: "Save", exact: true }).click();
  await page.locator(".save-row .ok", { hasText: "Saved as revision" }).waitFor();
  const rev2 = await layerRevision("defaults");
  assert.ok(rev2 && rev2 > rev1);

  // History: newest first, with messages; a revision's changes from the previous one.
  const history = page.locator("table.config-history");
  await history.locator(`tr[data-revision="${rev2}"]`).waitFor();
  const newest = history.locator(`tr[data-revision="${rev2}"]`);
  assert.match(await textOf(newest), /faster/);
  assert.match(await textOf(newest), /current/);
  assert.match(await textOf(history.locator(`tr[data-revision="${rev1}"]`)), /first defaults/);
  await newest.getByRole("button", { name: "Changes" }).click();
  const revDiff = history.locator(".history-detail");
  await revDiff.locator('.diff-line[data-key="nav.max_speed"]').waitFor();
  assert.match(await textOf(revDiff), new RegExp(`From revision ${rev1} to ${rev2}`));
  assert.match(
    (await textOf(revDiff.locator(".diff-line"))).replace(/\s+/g, " "),
    /nav\.max_speed: 1\.5 → 2/,
  );
  await shot(page, "defaults-history");

  // Roll back to the first revision (asks first): a new revision with its content.
  const first = history.locator(`tr[data-revision="${rev1}"]`);
  await first.getByRole("button", { name: "Roll back" }).click();
  await first.getByText(`as it was at revision ${rev1}?`).waitFor();
  await first.getByRole("button", { name: `Roll back to ${rev1}` }).click();
  await waitFor(async () => ((await layerRevision("defaults")) ?? 0) > rev2, "the rollback revision");
  const rev3 = (await layerRevision("defaults")) as number;
  const restored = history.locator(`tr[data-revision="${rev3}"]`);
  await restored.waitFor();
  assert.match(await textOf(restored), new RegExp(`rollback.*restored revision ${rev1}`));
  // Nothing typed: the editor follows the saved layer.
  await page.waitForFunction(() =>
    (document.querySelector('textarea[aria-label="Layer values"]') as HTMLTextAreaElement)?.value.includes(
      "1.5",
    ),
  );
  const stored = await server.api.call<any>("GET", "/api/v1/config/layers/defaults");
  assert.deepEqual(stored.values, { nav: { hz: 20, max_speed: 1.5 }, greeting: "hello" });
});

test("conflict: the layer saved underneath the editor is refused with a sentence and Reload", {
  skip: SKIP,
}, async () => {
  await page.goto(`${url}/#/config/layers/defaults`);
  const editor = page.getByLabel("Layer values");
  await page.waitForFunction(() =>
    (document.querySelector('textarea[aria-label="Layer values"]') as HTMLTextAreaElement)?.value.includes(
      "hello",
    ),
  );
  const base = await layerRevision("defaults");
  await editor.fill(JSON.stringify({ nav: { hz: 25, max_speed: 1.5 }, greeting: "hello" }, null, 2));
  await page.locator('.diff-line[data-key="nav.hz"]').waitFor();
  // Someone else saves the same layer now.
  await server.api.call("PATCH", "/api/v1/config/layers/defaults", {
    set: [{ key: "greeting", value: "hi from bob" }],
    baseRevision: base,
    message: "bob's greeting",
  });
  await page.getByRole("button", { name: "Save", exact: true }).click();
  const conflict = page.locator(".conflict-notice");
  await conflict.waitFor();
  assert.equal(await conflict.getAttribute("data-code"), "TETHER_ERR_CONFIG_CONFLICT");
  assert.match(
    await textOf(conflict.locator(".error-message")),
    /^Someone saved this layer since you opened it/,
  );
  assert.doesNotMatch(await textOf(conflict.locator(".error-message")), /TETHER_ERR/);
  assert.match(await textOf(conflict.locator(".error-detail")), /TETHER_ERR_CONFIG_CONFLICT/);
  await shot(page, "defaults-conflict");
  // Nothing was overwritten.
  const now = await server.api.call<any>("GET", "/api/v1/config/layers/defaults");
  assert.equal(now.values.greeting, "hi from bob");
  assert.equal(now.values.nav.hz, 20);

  await conflict.getByRole("button", { name: "Reload" }).click();
  await page.waitForFunction(() =>
    (document.querySelector('textarea[aria-label="Layer values"]') as HTMLTextAreaElement)?.value.includes(
      "hi from bob",
    ),
  );
  assert.equal(await page.locator(".conflict-notice").count(), 0);
  assert.match(await textOf(page.locator(".editor-card .diff-box h3")), /No changes yet/);
});

test("secrets are listed masked with Replace and Remove; their value never reaches the page", {
  skip: SKIP,
}, async () => {
  await server.api.call("PATCH", "/api/v1/config/layers/defaults", {
    set: [{ key: "cloud.token", value: SECRET, secret: true }],
    message: "cloud token",
  });
  await page.goto(`${url}/#/config/layers/defaults`);
  const row = page.locator('table.config-keys tr[data-key="cloud.token"]');
  await row.waitFor();
  assert.match(await textOf(row), /secret/);
  assert.match(await textOf(row), /••••••/);
  await row.getByRole("button", { name: "Replace" }).waitFor();
  await row.getByRole("button", { name: "Remove" }).waitFor();
  // The secret is kept out of the editor (it cannot be read back) and out of the page.
  assert.doesNotMatch(await page.getByLabel("Layer values").inputValue(), /cloud|token/);
  assert.ok(!(await page.content()).includes(SECRET));

  // A file uploaded from the page: listed with its size and how it merges.
  await page.getByLabel("File to upload").setInputFiles({
    name: "params.yaml",
    mimeType: "application/x-yaml",
    buffer: Buffer.from("nav:\n  planner: dwa\n"),
  });
  assert.equal(await page.getByLabel("Path on the device").inputValue(), "params.yaml");
  await page.getByLabel("Path on the device").fill("nav/params.yaml");
  await page.getByRole("button", { name: "Upload", exact: true }).click();
  const file = page.locator('table.config-files tr[data-file="nav/params.yaml"]');
  await file.waitFor();
  assert.deepEqual(await file.locator("td").allTextContents(), [
    "nav/params.yaml",
    "20 B",
    "yaml, merged",
    "Remove",
  ]);
  const stored = await server.api.call<any>("GET", "/api/v1/config/layers/defaults");
  assert.deepEqual(
    stored.files.map((f: any) => [f.path, f.size, f.secret]),
    [["nav/params.yaml", 20, false]],
  );
  await shot(page, "defaults-keys-files");
});

test("device page: the Configuration panel says in sync and where each key comes from", {
  skip: SKIP,
}, async () => {
  await server.api.call("PATCH", "/api/v1/config/layers/group%3Asite-tokyo", {
    set: [{ key: "nav.hz", value: 30 }],
    message: "tokyo runs faster",
  });
  const groupRev = (await layerRevision("group:site-tokyo")) as number;
  const status = await waitFor(async () => {
    const d = await server.api.call<any>("GET", `/api/v1/config/devices/${robot.id}`);
    return d.status === "in-sync" && d.desired === d.reported ? d : undefined;
  }, "cfg-robot-1 in sync");

  await page.goto(`${url}/#/devices/${encodeURIComponent(robot.id)}`);
  const panel = page.locator(".device-config");
  await panel.getByRole("heading", { name: "Configuration" }).waitFor();
  await panel.locator(".config-status-text", { hasText: `In sync at revision ${status.reported}` }).waitFor();

  const hz = panel.locator('table.config-explain tr[data-key="nav.hz"]');
  await hz.waitFor();
  const hzText = (await textOf(hz)).replace(/\s+/g, " ");
  assert.match(hzText, /30/);
  assert.match(hzText, new RegExp(`set by group site-tokyo \\(revision ${groupRev}\\)`));
  assert.match(hzText, /overrides project defaults 20/);
  assert.equal(
    await hz.locator("a.layer-link").first().getAttribute("href"),
    "#/config/layers/group%3Asite-tokyo",
  );
  const greeting = (await textOf(panel.locator('table.config-explain tr[data-key="greeting"]'))).replace(
    /\s+/g,
    " ",
  );
  assert.match(greeting, /"hi from bob".*set by project defaults/);
  const token = panel.locator('table.config-explain tr[data-key="cloud.token"]');
  assert.match(await textOf(token), /••••••/);
  assert.ok(!(await page.content()).includes(SECRET), "the secret never reaches the device page");
  // The device's id is not what the panel shows.
  assert.ok(!(await textOf(panel)).includes(robot.id));
  await panel.scrollIntoViewIfNeeded();
  await shot(page, "device");

  // The fleet view counts it in sync.
  await page.goto(`${url}/#/config`);
  await page.locator('.sync-tile[data-status="in-sync"] .tile-count', { hasText: "1" }).waitFor();
  await shot(page, "fleet-in-sync");
});

test("rollouts: the canary applies and waits; Resume releases the rest; an offline device is pending; Abort", {
  skip: SKIP,
}, async () => {
  // A second device in the group that never comes online: enrolled (accepted), no agent.
  const token = await createToken(server.api, { autoAccept: true, labels: { site: "tokyo" } });
  await enrollDevice({ url, token, name: "cfg-robot-2" });
  const change = await server.api.call<any>("PATCH", "/api/v1/config/layers/group%3Asite-tokyo", {
    set: [{ key: "nav.hz", value: 35 }],
    message: "staged",
    rollout: { canary: "1" },
  });
  const id = change.rollout.id as string;
  await page.goto(`${url}/#/config`);
  const row = page.locator(`table.rollouts tr[data-rollout="${id}"]`);
  // The canary (cfg-robot-1, first by name) applies; with no wait the rest waits for Resume.
  await page.locator(`table.rollouts tr[data-rollout="${id}"][data-state="waiting"]`).waitFor();
  assert.match(await textOf(row), /group site-tokyo/);
  assert.match(await textOf(row), /waiting for Resume/);
  await shot(page, "fleet-rollout");

  await row.getByRole("link", { name: `revision ${change.revision}` }).click();
  await page.getByRole("heading", { name: /Rollout of group site-tokyo revision/ }).waitFor();
  const one = page.locator('table.rollout-devices tr[data-device="cfg-robot-1"]');
  const two = page.locator('table.rollout-devices tr[data-device="cfg-robot-2"]');
  await two.waitFor();
  assert.deepEqual((await one.locator("td").allTextContents()).slice(0, 3), ["cfg-robot-1", "canary", "yes"]);
  assert.deepEqual((await two.locator("td").allTextContents()).slice(0, 3), [
    "cfg-robot-2",
    "rest",
    "not yet",
  ]);
  await page.getByRole("button", { name: "Resume" }).click();
  await page.locator(".badge.rollout-rolling").waitFor();
  await two.locator("td", { hasText: "yes" }).waitFor();
  await shot(page, "rollout");

  // The fleet view: the offline device is pending, said in words.
  await page.goto(`${url}/#/config`);
  const pending = page.locator('table.config-devices tr[data-device="cfg-robot-2"]');
  await pending.waitFor();
  assert.match(await textOf(pending), /Pending: device offline \(revision \d+ is sent when it returns\)/);
  await page.locator('.sync-tile[data-status="pending"] .tile-count', { hasText: "1" }).waitFor();

  // Abort (asks first): the layer goes back to its base revision as a new revision.
  await row.getByRole("button", { name: "Abort" }).click();
  await row.getByRole("button", { name: "Abort rollout" }).click();
  await row.waitFor({ state: "detached" });
  const group = await server.api.call<any>("GET", "/api/v1/config/layers/group%3Asite-tokyo");
  assert.equal(group.values.nav.hz, 30);
  assert.equal(group.rollout, null);
});
