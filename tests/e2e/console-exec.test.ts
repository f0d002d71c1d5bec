// @matrix: browser
/**
 * Remote command execution in the web console, in a real browser (Debian chromium driven by
 * playwright-core) against a real server process and two real agents: the device page's Run
 * panel with live stdout/stderr and Cancel, hostile and non-UTF-8 output shown as text, a
 * fleet run by selector with live per-device rows and a summary, the history, and a viewer
 * who gets no Run controls. Every wait is on page state, never a sleep.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Browser, Locator, Page } from "playwright-core";
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
import {
  type AgentHandle,
  cleanupTempDirs,
  type Device,
  enrollOnline,
  type ServerHandle,
  startServer,
} from "./harness.js";

// The page does not depend on the store or the broker: run once, in the first pass.
const SKIP = browserSkipReason("console exec browser tests");

const HOSTILE = "<img src=x onerror=alert(1)>";
const VIEWER = { username: "watcher", password: "watcher-password-1" };

let server: ServerHandle;
let url: string;
const agents: AgentHandle[] = [];
let devA: Device;
let devB: Device;
let browser: Browser;
let page: Page;
const dialogs: string[] = [];
let deviceCommandId: string;
let fleetCommandId: string;

const shot = screenshots("exec-");

/** Dialogs (alert() from device output, say) are kept in `dialogs` and dismissed. */
function watchDialogs(p: Page): void {
  p.on("dialog", (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
}

before(async () => {
  if (SKIP) return;
  ensureConsoleBuilt();
  server = await startServer();
  url = server.info.url;
  const a = await enrollOnline(server, { name: "exec-a", labels: { site: "tokyo", fleet: "exec" } });
  const b = await enrollOnline(server, { name: "exec-b", labels: { site: "osaka", fleet: "exec" } });
  agents.push(a.agent, b.agent);
  devA = a.device;
  devB = b.device;
  await server.api.call("POST", "/api/v1/users", { ...VIEWER, role: "viewer" });

  ({ browser, page } = await openConsole(url));
  watchDialogs(page);
  await signIn(page, url, "admin", adminPassword(server.dataDir));
});

after(async () => {
  await browser?.close();
  await Promise.all(agents.map((a) => a.stop()));
  await server?.stop();
  await cleanupTempDirs();
});

/** The Run panel of a device page, after a fresh navigation. */
async function runPanel(d: Device): Promise<Locator> {
  await page.goto(`${url}/#/devices/${encodeURIComponent(d.id)}`);
  await page.getByRole("heading", { name: d.name }).waitFor();
  const panel = page.locator(".run-panel");
  await panel.getByRole("heading", { name: "Run command" }).waitFor();
  return panel;
}

async function runOnDevice(panel: Locator, command: string, timeoutSeconds?: string): Promise<Locator> {
  const previous =
    (await panel.locator(".run-result").count()) > 0
      ? await panel.locator(".run-result").getAttribute("data-command-id")
      : null;
  await panel.getByLabel("Command").fill(command);
  if (timeoutSeconds) await panel.getByLabel("Timeout (s)").fill(timeoutSeconds);
  await panel.getByRole("button", { name: "Run" }).click();
  // A new command's result replaces the previous one.
  const fresh = panel.locator(
    previous ? `.run-result:not([data-command-id="${previous}"])` : ".run-result[data-command-id]",
  );
  await fresh.waitFor();
  const id = await fresh.getAttribute("data-command-id");
  return panel.locator(`.run-result[data-command-id="${id}"]`);
}

test("device page: run a shell command, live stdout and stderr, exit code 3 is failed", {
  skip: SKIP,
}, async () => {
  const panel = await runPanel(devA);
  assert.equal(await panel.getByLabel("Timeout (s)").inputValue(), "60", "default timeout");
  const result = await runOnDevice(panel, "echo hello-$((6*7)); echo oops >&2; exit 3");
  await result.locator(".run-facts[data-status='failed']").waitFor();
  await result.locator("pre.stdout", { hasText: "hello-42" }).waitFor();
  await result.locator("pre.stderr", { hasText: "oops" }).waitFor();
  assert.equal(await textOf(result.locator("pre.stdout")), "hello-42\n");
  assert.equal(await textOf(result.locator("pre.stderr")), "oops\n");
  assert.equal((await textOf(result.locator(".exit-code"))).trim(), "3");
  assert.match(await textOf(result.locator(".run-facts .badge")), /^failed$/);
  assert.notEqual((await textOf(result.locator(".duration"))).trim(), "—", "a finished run has a duration");
  await result.locator("[data-state='done']").waitFor();
  assert.equal(await result.getByRole("button", { name: "Cancel" }).count(), 0, "no Cancel once finished");
  deviceCommandId = (await result.getAttribute("data-command-id")) ?? "";
  assert.ok(deviceCommandId);

  // What the server stored agrees with what the page streamed.
  const stored = await server.api.call<any>("GET", `/api/v1/commands/${deviceCommandId}?output=true`);
  assert.deepEqual(stored.argv, ["echo hello-$((6*7)); echo oops >&2; exit 3"]);
  assert.equal(stored.shell, true);
  assert.equal(stored.timeoutMs, 60_000);
  assert.deepEqual(stored.target.devices, [devA.id]);
  assert.equal(stored.runs[0].exitCode, 3);
  assert.equal(stored.runs[0].status, "failed");
  await shot(page, "device-run");
});

test("device page: output arrives while the command runs; Cancel stops it", { skip: SKIP }, async () => {
  const panel = await runPanel(devA);
  // The command outlives every wait below, so its first line can only come from the live stream.
  const result = await runOnDevice(panel, "echo started-live; sleep 120; echo never", "300");
  await result.locator("pre.stdout", { hasText: "started-live" }).waitFor();
  await result.locator(".run-facts[data-status='running']").waitFor();
  await result.locator("[data-state='running']").waitFor();
  await result.getByRole("button", { name: "Cancel" }).click();
  await result.locator(".run-facts[data-status='cancelled']").waitFor();
  await result.locator("[data-state='cancelled']").waitFor();
  assert.equal(await textOf(result.locator("pre.stdout")), "started-live\n");
  assert.equal(await result.getByRole("button", { name: "Cancel" }).count(), 0);
});

test("device page: hostile and non-UTF-8 output is shown as text", { skip: SKIP }, async () => {
  const panel = await runPanel(devB);
  let result = await runOnDevice(panel, `printf '${HOSTILE}'; printf '<b>bold</b>' >&2`);
  await result.locator(".run-facts[data-status='succeeded']").waitFor();
  await result.locator("pre.stdout", { hasText: HOSTILE }).waitFor();
  assert.equal(await textOf(result.locator("pre.stdout")), HOSTILE);
  assert.equal(await textOf(result.locator("pre.stderr")), "<b>bold</b>");
  assert.equal(await page.locator('img[src="x"]').count(), 0);
  assert.equal(await page.locator("pre b").count(), 0);
  assert.deepEqual(dialogs, [], "no script from device output ran");

  // Invalid UTF-8 (a lone 0xff) becomes U+FFFD; valid multi-byte characters survive.
  result = await runOnDevice(panel, "printf 'caf\\303\\251 \\377 end'");
  await result.locator(".run-facts[data-status='succeeded']").waitFor();
  await result.locator("pre.stdout", { hasText: "end" }).waitFor();
  assert.equal(await textOf(result.locator("pre.stdout")), "café \uFFFD end");
  await shot(page, "device-hostile");
});

test("fleet: run by selector, rows update to succeeded, summary, per-device output", {
  skip: SKIP,
}, async () => {
  await page.goto(`${url}/#/commands`);
  await page.getByRole("heading", { name: "Run on fleet" }).waitFor();
  const form = page.locator(".fleet-form");
  await form.getByLabel("Selector").fill("fleet=exec");
  await form.locator(".match-count", { hasText: "2 devices match" }).waitFor();
  await form.getByLabel("Selector").fill("site=tokyo");
  await form.locator(".match-count", { hasText: "1 device matches" }).waitFor();
  await form.getByLabel("Selector").fill("fleet=exec");
  await form.locator(".match-count", { hasText: "2 devices match" }).waitFor();
  await form.getByLabel("Command").fill("echo fleet-ok; echo fleet-err >&2");
  await form.getByLabel("Timeout (s)").fill("45");
  await form.getByLabel("Concurrency").fill("1");
  await form.getByLabel("Max failures").fill("2");
  await form.getByRole("button", { name: "Run" }).click();

  await page.waitForURL(/#\/commands\/[^/]+$/);
  fleetCommandId = decodeURIComponent(new URL(page.url()).hash.replace(/^#\/commands\//, ""));
  const rowA = page.locator(`table.runs tr[data-device-id="${devA.id}"]`);
  const rowB = page.locator(`table.runs tr[data-device-id="${devB.id}"]`);
  await rowA.locator("td.status", { hasText: "succeeded" }).waitFor();
  await rowB.locator("td.status", { hasText: "succeeded" }).waitFor();
  const summary = page.locator(".command-summary[data-state='done']");
  await summary.waitFor();
  assert.equal((await textOf(summary)).trim(), "2 succeeded");
  assert.equal(await page.getByRole("button", { name: "Cancel" }).count(), 0);

  await rowB.click();
  const detail = page.locator(`.run-detail[data-device-id="${devB.id}"]`);
  await detail.locator("pre.stdout", { hasText: "fleet-ok" }).waitFor();
  assert.equal(await textOf(detail.locator("pre.stderr")), "fleet-err\n");
  await rowA.click();
  await page
    .locator(`.run-detail[data-device-id="${devA.id}"] pre.stdout`, { hasText: "fleet-ok" })
    .waitFor();
  await shot(page, "fleet-command");

  const stored = await server.api.call<any>("GET", `/api/v1/commands/${fleetCommandId}`);
  assert.equal(stored.target.selector, "fleet=exec");
  assert.equal(stored.concurrency, 1);
  assert.equal(stored.maxFailures, 2);
  assert.equal(stored.timeoutMs, 45_000);
  assert.equal(stored.summary.succeeded, 2);
});

test("history lists both commands and links to their pages", { skip: SKIP }, async () => {
  assert.ok(deviceCommandId && fleetCommandId, "earlier tests ran");
  await page.goto(`${url}/#/commands`);
  const fleetRow = page.locator(`table.commands tr[data-command-id="${fleetCommandId}"]`);
  const deviceRow = page.locator(`table.commands tr[data-command-id="${deviceCommandId}"]`);
  await fleetRow.waitFor();
  await deviceRow.waitFor();
  const fleetText = await textOf(fleetRow);
  assert.ok(fleetText.includes("admin"), fleetText);
  assert.ok(fleetText.includes("echo fleet-ok; echo fleet-err >&2"), fleetText);
  assert.ok(fleetText.includes("fleet=exec"), fleetText);
  assert.ok(fleetText.includes("2 succeeded"), fleetText);
  const deviceText = await textOf(deviceRow);
  assert.ok(deviceText.includes("echo hello-$((6*7))"), deviceText);
  assert.ok(deviceText.includes("1 failed"), deviceText);
  await shot(page, "history");

  await deviceRow.getByRole("link", { name: deviceCommandId }).click();
  await page.waitForURL(new RegExp(`#/commands/${deviceCommandId}$`));
  await page.locator(".command-summary[data-state='done']", { hasText: "1 failed" }).waitFor();
  // One device: its output shows without picking a row.
  const detail = page.locator(`.run-detail[data-device-id="${devA.id}"]`);
  await detail.locator("pre.stdout", { hasText: "hello-42" }).waitFor();
  await detail.locator("pre.stderr", { hasText: "oops" }).waitFor();

  // The device page lists the commands that ran there.
  await page.goto(`${url}/#/devices/${encodeURIComponent(devA.id)}`);
  await page.locator(`table.commands tr[data-command-id="${deviceCommandId}"]`).waitFor();
  await page.locator(`table.commands tr[data-command-id="${fleetCommandId}"]`).waitFor();
});

test("a viewer sees results but no Run or Cancel controls", { skip: SKIP }, async () => {
  const ctx = await newConsoleContext(browser);
  try {
    const p = await newConsolePage(ctx);
    watchDialogs(p);
    await signIn(p, url, VIEWER.username, VIEWER.password);
    await p.goto(`${url}/#/devices/${encodeURIComponent(devA.id)}`);
    await p.getByRole("heading", { name: devA.name }).waitFor();
    await p.getByRole("heading", { name: "Facts" }).waitFor();
    await p.locator(`table.commands tr[data-command-id="${deviceCommandId}"]`).waitFor();
    assert.equal(await p.getByRole("heading", { name: "Run command" }).count(), 0);
    assert.equal(await p.locator(".run-panel").count(), 0);

    await p.goto(`${url}/#/commands`);
    await p.locator(`table.commands tr[data-command-id="${fleetCommandId}"]`).waitFor();
    assert.equal(await p.getByRole("heading", { name: "Run on fleet" }).count(), 0);

    await p.goto(`${url}/#/commands/${encodeURIComponent(fleetCommandId)}`);
    await p
      .locator(`table.runs tr[data-device-id="${devA.id}"] td.status`, { hasText: "succeeded" })
      .waitFor();
    assert.equal(await p.getByRole("button", { name: "Cancel" }).count(), 0);

    // And the server refuses a viewer's command anyway.
    const refused = await p.evaluate(async (id) => {
      const r = await fetch("/api/v1/commands", {
        method: "POST",
        credentials: "same-origin",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ argv: ["true"], devices: [id] }),
      });
      return r.status;
    }, devA.id);
    assert.equal(refused, 403);
    await shot(p, "viewer");
  } finally {
    await ctx.close();
  }
});
