// @matrix: browser
/**
 * The console as a fleet tool, in a real browser (Debian chromium driven by playwright-core)
 * against a real server process and real agents: the overview's counts and recent failures,
 * the device list's sort, pages and filter in the URL, bulk labels, rename / edit labels /
 * delete on a device page, a device's own result of a fleet command, the fleet form's
 * selector preview (valid and invalid), "Wait if offline" queueing for an offline device,
 * stale marking while the server is away, and a polling pending device shown as pending.
 * Every wait is on page state, never a sleep.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, test } from "node:test";
import type { Browser, Page } from "playwright-core";
import {
  browserSkipReason,
  openAdminConsole,
  ensureConsoleBuilt,
  screenshots,
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
  startAgent,
  startServer,
  tempDir,
  waitFor,
} from "./harness.js";

// The pages do not depend on the store or the broker: run once, in the first pass.
const SKIP = browserSkipReason("console fleet browser tests");

const AGENT_ENV = { AGENT_BACKOFF_MAX_MS: "500" };
let server: ServerHandle;
let url: string;
let alpha: Device;
let bravo: Device;
let alphaAgent: AgentHandle;
let bravoAgent: AgentHandle;
let newbieAgent: AgentHandle;
const spares: string[] = [];
let browser: Browser;
let page: Page;
const pageErrors: string[] = [];

const shot = screenshots("fleet-");

async function waitRowNames(expected: string[]): Promise<void> {
  await page.waitForFunction(
    (want) =>
      JSON.stringify(
        [...document.querySelectorAll("table.devices tbody tr")].map((r) => r.getAttribute("data-device")),
      ) === JSON.stringify(want),
    expected,
  );
}

const hashOf = (p: Page) => decodeURIComponent(new URL(p.url()).hash);

before(async () => {
  if (SKIP) return;
  ensureConsoleBuilt();
  server = await startServer();
  url = server.info.url;
  const pendingToken = await createToken(server.api, { labels: { fleet: "new" }, uses: 3 });
  // A real agent whose device waits for approval: it polls the server all along.
  newbieAgent = startAgent({
    dataDir: join(tempDir(), "agent"),
    url,
    token: pendingToken,
    name: "newbie",
    env: AGENT_ENV,
  });
  const [a, b] = await Promise.all([
    enrollOnline(server, { name: "alpha", labels: { site: "lab", fleet: "f" }, env: AGENT_ENV }),
    enrollOnline(server, { name: "bravo", labels: { site: "depot", fleet: "f" }, env: AGENT_ENV }),
  ]);
  alpha = a.device;
  alphaAgent = a.agent;
  bravo = b.device;
  bravoAgent = b.agent;
  // Two more pending devices (enrolled once, no agent running) for sorting and pages.
  for (const name of ["spare-1", "spare-2"]) {
    spares.push((await enrollDevice({ url, token: pendingToken, name })).deviceId);
  }
  await waitFor(async () => {
    const r = await server.api.request<Device>("GET", "/api/v1/devices/newbie");
    return r.status === 200 && r.body.state === "pending";
  }, "newbie enrolled (pending)");

  ({ browser, page } = await openAdminConsole(url, server.dataDir, pageErrors));
});

after(async () => {
  await browser?.close();
  await Promise.all([alphaAgent, bravoAgent, newbieAgent].filter(Boolean).map((a) => a.stop()));
  await server?.stop();
  await cleanupTempDirs();
  assert.deepEqual(pageErrors, [], "no script errors on the pages");
});

test("overview is the landing page: counts link to the filtered list; a polling pending device is pending", {
  skip: SKIP,
}, async () => {
  await page.goto(`${url}/#/`);
  await page.getByRole("heading", { name: "Fleet overview" }).waitFor();
  const nav = page.locator(".topbar nav a");
  assert.equal((await textOf(nav.first())).trim(), "Overview", "Overview is first in the nav");
  const count = (k: string) => page.locator(`a.tile[data-count="${k}"] .tile-count`);
  await page.waitForFunction(
    () => document.querySelector('a.tile[data-count="online"] .tile-count')?.textContent === "2",
  );
  assert.equal(await textOf(count("offline")), "0");
  assert.equal(await textOf(count("pending")), "3");
  assert.equal(await textOf(count("total")), "5");
  // The place telemetry will fill is marked, and holds no figures.
  const health = page.locator('[data-placeholder="telemetry"]');
  assert.match(await textOf(health), /once devices report telemetry/);
  assert.doesNotMatch(await textOf(health), /\d+ ?%/);
  await shot(page, "overview");

  await page.locator('a.tile[data-count="pending"]').click();
  await page.waitForURL(/#\/devices\?status=pending$/);
  await waitRowNames(["newbie", "spare-1", "spare-2"]);
  // newbie's agent is polling right now; it is pending, not "offline".
  const newbie = page.locator('table.devices tr[data-device="newbie"]');
  assert.equal((await textOf(newbie.locator(".state"))).trim(), "◐ pending");
  assert.match(await textOf(newbie.locator(".seen")), /^waiting for approval \((?:\d+m )?\d+s\)$/);
  assert.equal(await page.locator("table.devices .presence-offline").count(), 0);
});

test("device list: sort, pages and filter live in the URL", { skip: SKIP }, async () => {
  await page.goto(`${url}/#/devices?sort=-name&per=2`);
  await waitRowNames(["spare-2", "spare-1"]);
  await page.getByText("Page 1 of 3").waitFor();
  await page.getByRole("button", { name: "Next →" }).click();
  await waitRowNames(["newbie", "bravo"]);
  assert.match(hashOf(page), /page=2/);
  // A shared link opens the same view.
  const shared = page.url();
  const other = await page.context().newPage();
  await other.goto(shared);
  await other.waitForFunction(
    () =>
      [...document.querySelectorAll("table.devices tbody tr")]
        .map((r) => r.getAttribute("data-device"))
        .join() === "newbie,bravo",
  );
  await other.close();

  // Sorting by name again (ascending) starts at page 1.
  await page.locator("th button.sort[data-sort='name']").click();
  await waitRowNames(["alpha", "bravo"]);
  assert.doesNotMatch(hashOf(page), /page=/);
  // Status: what needs an operator first (pending), online last.
  await page.goto(`${url}/#/devices?sort=status&per=10`);
  await waitRowNames(["newbie", "spare-1", "spare-2", "alpha", "bravo"]);
  // Last seen: online devices first.
  await page.locator("th button.sort[data-sort='seen']").click();
  await page.waitForFunction(() =>
    [...document.querySelectorAll("table.devices tbody tr")]
      .slice(0, 2)
      .every((r) => r.querySelector(".presence")?.getAttribute("data-status") === "online"),
  );
  assert.match(hashOf(page), /sort=seen/);

  // The selector filter goes into the URL, and the field shows what the URL says.
  await page.getByLabel("Selector").fill("fleet=f");
  await page.getByRole("button", { name: "Filter" }).click();
  await waitRowNames(["alpha", "bravo"]);
  assert.match(hashOf(page), /selector=fleet=f/);
  await page.goto(`${url}/#/devices?selector=${encodeURIComponent("site=lab")}`);
  await waitRowNames(["alpha"]);
  assert.equal(await page.getByLabel("Selector").inputValue(), "site=lab");
  // An invalid selector says what is wrong; the code is only in the detail line.
  await page.goto(`${url}/#/devices?selector=${encodeURIComponent("site=")}`);
  const err = page.locator(".error-notice");
  await err.waitFor();
  assert.match(await textOf(err.locator(".error-message")), /has no value/);
  assert.doesNotMatch(await textOf(err.locator(".error-message")), /TETHER_ERR/);
  assert.match(await textOf(err.locator(".error-detail")), /TETHER_ERR_BAD_SELECTOR/);
  await shot(page, "devices-bad-selector");
});

test("bulk: select all on the page, add a label, accept a pending device", { skip: SKIP }, async () => {
  await page.goto(`${url}/#/devices?selector=${encodeURIComponent("fleet=f")}`);
  await waitRowNames(["alpha", "bravo"]);
  await page.getByLabel("Select all on this page").check();
  const bar = page.locator(".bulk-bar");
  await bar.locator(".bulk-count", { hasText: "2 selected" }).waitFor();
  await bar.getByLabel("Label to add").fill("tier=gold");
  await bar.getByRole("button", { name: "Add label" }).click();
  await bar.getByRole("status").filter({ hasText: "Added tier=gold to 2 devices." }).waitFor();
  for (const name of ["alpha", "bravo"]) {
    await page.locator(`table.devices tr[data-device="${name}"] .chip`, { hasText: "tier=gold" }).waitFor();
    const d = await server.api.call<Device>("GET", `/api/v1/devices/${name}`);
    assert.equal(d.labels.tier, "gold", name);
  }
  await shot(page, "devices-bulk");
  await bar.getByLabel("Label to remove").fill("tier");
  await bar.getByRole("button", { name: "Remove label" }).click();
  await bar.getByRole("status").filter({ hasText: "Removed tier from 2 devices." }).waitFor();
  assert.equal((await server.api.call<Device>("GET", "/api/v1/devices/alpha")).labels.tier, undefined);
  // Run a command on the selection: the fleet form opens with those devices picked.
  await bar.getByRole("link", { name: "Run command on 2…" }).click();
  await page.waitForURL(/#\/commands\?devices=/);
  const form = page.locator(".fleet-form");
  await form.locator(".picked-text", { hasText: "the 2 devices picked" }).waitFor();
  await form.locator(".match-count", { hasText: "2 devices match" }).waitFor();
  await shot(page, "fleet-picked");
  assert.deepEqual((await form.locator(".match-names .match-name").allTextContents()).sort(), [
    "alpha",
    "bravo",
  ]);

  await page.goto(`${url}/#/devices?status=pending`);
  await waitRowNames(["newbie", "spare-1", "spare-2"]);
  await page.getByLabel("Select spare-1").check();
  await page.locator(".bulk-bar").getByRole("button", { name: "Accept 1 pending" }).click();
  await waitRowNames(["newbie", "spare-2"]);
  assert.equal((await server.api.call<Device>("GET", `/api/v1/devices/${spares[0]}`)).state, "accepted");
});

test("device page: rename, edit labels, delete with a confirmation naming the device", {
  skip: SKIP,
}, async () => {
  const id = spares[1];
  await page.goto(`${url}/#/devices/${id}`);
  await page.getByRole("heading", { name: "spare-2" }).waitFor();
  // No shard number in plain sight.
  assert.doesNotMatch(await textOf(page.locator(".grid .card").first().locator("dl.kv").first()), /Shard/);

  await page.getByRole("button", { name: "Rename" }).click();
  await page.getByLabel("Device name").fill("spare-renamed");
  await page.getByRole("button", { name: "Save name" }).click();
  await page.getByRole("heading", { name: "spare-renamed" }).waitFor();
  // A name the rule refuses is explained in words.
  await page.getByRole("button", { name: "Rename" }).click();
  await page.getByLabel("Device name").fill("bad name!");
  await page.getByRole("button", { name: "Save name" }).click();
  const refusal = page.locator(".rename-form .error-notice");
  await refusal.waitFor();
  assert.doesNotMatch(await textOf(refusal.locator(".error-message")), /TETHER_ERR/);
  assert.match(await textOf(refusal.locator(".error-detail")), /TETHER_ERR_BAD/);
  await page.getByRole("button", { name: "Cancel" }).click();

  await page.getByRole("button", { name: "Edit labels" }).click();
  assert.equal(await page.getByLabel("Labels").inputValue(), "fleet=new");
  await page.getByLabel("Labels").fill("zone=b, room=12");
  await page.getByRole("button", { name: "Save labels" }).click();
  await page.locator("dd .chip", { hasText: "room=12" }).waitFor();
  const d = await server.api.call<Device>("GET", `/api/v1/devices/${id}`);
  assert.equal(d.name, "spare-renamed");
  assert.deepEqual(d.labels, { room: "12", zone: "b" }, "fleet=new was removed");
  await shot(page, "device-edited");

  await page.getByRole("button", { name: "Delete…" }).click();
  await page.getByText("Delete spare-renamed? This cannot be undone.").waitFor();
  await page.getByRole("button", { name: "Delete spare-renamed" }).click();
  await page.waitForURL(/#\/devices$/);
  await page.locator("table.devices tr[data-device='alpha']").waitFor();
  assert.equal(await page.locator(`table.devices tr[data-device-id="${id}"]`).count(), 0);
  const gone = await server.api.request("GET", `/api/v1/devices/${id}`);
  assert.equal(gone.status, 404);
});

test("fleet form: the selector preview names the devices; an invalid selector is explained", {
  skip: SKIP,
}, async () => {
  await page.goto(`${url}/#/commands`);
  const form = page.locator(".fleet-form");
  await form.getByLabel("Selector").fill("fleet=f");
  await form.locator(".match-count", { hasText: "2 devices match" }).waitFor();
  assert.match(await textOf(form.locator(".match-count")), /2 online · 0 offline/);
  const names = await form.locator(".match-names .match-name").allTextContents();
  assert.deepEqual(names.sort(), ["alpha", "bravo"]);
  await form.getByLabel("Selector").fill("site=");
  const err = form.locator(".match .error-notice");
  await err.waitFor();
  assert.match(await textOf(err.locator(".error-message")), /has no value/);
  assert.match(await textOf(err.locator(".error-detail")), /TETHER_ERR_BAD_SELECTOR/);
  assert.equal(await form.locator(".match-count").count(), 0);
  await shot(page, "fleet-bad-selector");
});

test("a fleet run with one device offline: inline output, and each device page shows its own result", {
  skip: SKIP,
}, async () => {
  await bravoAgent.stop();
  await waitFor(
    async () => !(await server.api.call<Device>("GET", "/api/v1/devices/bravo")).online,
    "bravo offline",
  );

  await page.goto(`${url}/#/commands`);
  const form = page.locator(".fleet-form");
  await form.getByLabel("Selector").fill("fleet=f");
  await form.locator(".match-count", { hasText: "1 online · 1 offline" }).waitFor();
  await form.getByLabel("Command").fill("echo fleet-$((1+1)); echo second; echo third; echo fourth");
  await form.getByRole("button", { name: "Run" }).click();
  await page.waitForURL(/#\/commands\/cmd_/);
  const rowA = page.locator(`table.runs tr[data-device-id="${alpha.id}"]`);
  const rowB = page.locator(`table.runs tr[data-device-id="${bravo.id}"]`);
  await rowA.locator("td.status", { hasText: "succeeded" }).waitFor();
  await rowB.locator("td.status", { hasText: "offline" }).waitFor();
  // Each device's first lines show without a click; the rest on demand.
  const preview = page.locator(`tbody.run-group:has(tr[data-device-id="${alpha.id}"]) pre.preview`);
  await preview.filter({ hasText: "fleet-2" }).waitFor();
  assert.equal(await textOf(preview), "fleet-2\nsecond\nthird");
  assert.match(
    await textOf(rowB.locator(".run-error-cell")),
    /offline, so the command did not run.*Wait if offline/,
  );
  assert.doesNotMatch(await textOf(page.locator("main")), /--queue-ttl/);
  await shot(page, "fleet-results");
  await page
    .locator(`tbody.run-group:has(tr[data-device-id="${alpha.id}"])`)
    .getByRole("button", { name: /Show all output/ })
    .click();
  await page.locator(`.run-detail[data-device-id="${alpha.id}"] pre.stdout`, { hasText: "fourth" }).waitFor();
  const commandId = decodeURIComponent(hashOf(page).replace(/^#\/commands\//, ""));

  // bravo's page shows bravo's result (offline), not the fleet summary; alpha's its own.
  await page.goto(`${url}/#/devices/${bravo.id}`);
  const own = page.locator(`table.commands tr[data-command-id="${commandId}"] .own-result`);
  await own.waitFor();
  assert.equal(await own.getAttribute("data-status"), "offline");
  assert.doesNotMatch(await textOf(own), /succeeded/);
  assert.match(
    await textOf(page.locator(`table.commands tr[data-command-id="${commandId}"] .ran-on`)),
    /this and 1 other device/,
  );
  await page.goto(`${url}/#/devices/${alpha.id}`);
  const ownA = page.locator(`table.commands tr[data-command-id="${commandId}"] .own-result`);
  await ownA.locator(".badge", { hasText: "succeeded" }).waitFor();
  assert.equal((await textOf(ownA.locator(".exit-code"))).trim(), "0");
  await shot(page, "device-own-results");
});

test("Wait if offline: a command for an offline device is queued and runs when it returns", {
  skip: SKIP,
}, async () => {
  await page.goto(`${url}/#/devices/${bravo.id}`);
  await page.getByRole("heading", { name: "bravo" }).waitFor();
  await page.locator(".device-head .presence[data-status='offline']").waitFor();
  const panel = page.locator(".run-panel");
  await panel.getByLabel("Command").fill("echo queued-ok");
  await panel.getByLabel("Wait if offline").fill("10m");
  await panel.getByText("the command waits for it to come back").waitFor();
  await panel.getByRole("button", { name: "Run" }).click();
  const result = panel.locator(".run-result");
  await result.locator(".run-facts[data-status='queued']").waitFor();
  const id = await result.getAttribute("data-command-id");
  const stored = await server.api.call<any>("GET", `/api/v1/commands/${id}`);
  assert.equal(stored.queueTtlMs, 600_000);
  assert.deepEqual(stored.target.deviceNames, ["bravo"]);
  // The target is shown by name, not by id.
  await page.goto(`${url}/#/commands`);
  const histRow = page.locator(`table.commands tr[data-command-id="${id}"]`);
  assert.equal((await textOf(histRow.locator(".target"))).trim(), "bravo");
  await page.goto(`${url}/#/devices/${bravo.id}`);

  bravoAgent = startAgent({ dataDir: bravoAgent.dataDir, env: AGENT_ENV });
  const ownRow = page.locator(`table.commands tr[data-command-id="${id}"] .own-result`);
  await page
    .locator(`table.commands tr[data-command-id="${id}"] .own-result[data-status="succeeded"]`)
    .waitFor();
  assert.match(await textOf(ownRow), /exit code 0/);
  await page.goto(`${url}/#/commands/${id}`);
  await page
    .locator(`.run-detail[data-device-id="${bravo.id}"] pre.stdout`, { hasText: "queued-ok" })
    .waitFor();
});

test("overview lists recent failures by device name", { skip: SKIP }, async () => {
  const c = await server.api.call("POST", "/api/v1/commands", {
    argv: ["echo bad; exit 4"],
    shell: true,
    devices: ["alpha"],
  });
  await waitFor(
    async () => (await server.api.call("GET", `/api/v1/commands/${c.id}`)).state === "done",
    "the failing command finished",
  );
  await page.goto(`${url}/#/`);
  const failure = page.locator(`ul.failures li[data-device-id="${alpha.id}"]`);
  await failure.waitFor();
  assert.match(await textOf(failure), /^alpha/);
  assert.match(await textOf(failure), /failed.*exit code 4/);
  assert.match(await textOf(failure), /echo bad; exit 4/);
  await shot(page, "overview-failures");
});

test("while the server is away live state is marked stale, and clears when it answers again", {
  skip: SKIP,
}, async () => {
  await page.goto(`${url}/#/devices`);
  await page.locator("table.devices tr[data-device='alpha'] .presence[data-status='online']").waitFor();
  const { dataDir, httpPort, mqttPort } = server;
  await server.stop();
  const notice = page.locator(".stale-notice");
  await notice.waitFor();
  assert.match(await textOf(notice), /As of \d\d:\d\d — server unreachable, retrying/);
  await page.locator("table.devices tr[data-device='alpha'] .presence[data-stale]").waitFor();
  // The green dot is gone: greyed and marked, not shown as currently online.
  assert.equal(await page.locator(".stale-scope.is-stale table.devices").count(), 1);
  await shot(page, "devices-stale");

  server = await startServer({ dataDir, httpPort, mqttPort });
  await notice.waitFor({ state: "detached" });
  await page.locator("table.devices tr[data-device='alpha'] .presence:not([data-stale])").waitFor();
  assert.equal(await page.locator("[data-stale]").count(), 0);
});
