// @matrix: browser
/**
 * Logs and alerts in the console, in a real browser (Debian chromium driven by playwright-core)
 * against a real in-process server; the device's lines and metrics arrive as telemetry
 * batches posted with its own telemetry token (docs/protocol.md §14–16), as an agent sends
 * them. The device page's Logs section: a line posted after the tail opened appears live,
 * level colours, Pause holds new lines and counts them, Resume shows them, a gap record shows
 * as a gap banner, the source filter; the fleet search page finds a line by a word, newest
 * first, with the device's name linking to its page; the Alerts page lists a rule created
 * through the API and shows its alert firing once a metric batch crosses it, and the device
 * list marks the device. Every wait is on page state, never a sleep.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { LogLineWire, TelemetryBatch, TelemetryGap } from "@tether/protocol";
import type { Browser, Page } from "playwright-core";
import {
  browserSkipReason,
  openAdminConsole,
  ensureConsoleBuilt,
  screenshots,
  textOf,
} from "../support/browser.js";
import { enrollDevice } from "../support/enroll-device.js";
import { type InProcessServer, startInProcessServer } from "../support/in-process-server.js";
import { type Api, cleanupTempDirs, makeApi, tempDir, waitFor } from "./harness.js";

const SKIP = browserSkipReason("console logs and alerts browser tests");
const shot = screenshots("logs-");

let server: InProcessServer;
let url: string;
let browser: Browser;
let page: Page;
const pageErrors: string[] = [];

/** A device that uploads as an agent would: its id, its telemetry token, its batch sequences. */
interface Robot {
  name: string;
  id: string;
  api: Api;
  seq: { logs: number; metrics: number };
}
const robots: Record<string, Robot> = {};

before(async () => {
  if (SKIP) return;
  ensureConsoleBuilt();
  server = await startInProcessServer({ dataDir: tempDir("tether-console-logs-") });
  url = server.url;
  const enroll = await server.api.call<{ token: string }>("POST", "/api/v1/enrollment-tokens", {
    uses: 2,
    labels: { site: "lab" },
  });
  for (const name of ["robot-1", "robot-2"]) {
    const { deviceId } = await enrollDevice({ url, token: enroll.token, name });
    // Accepting the device issues its first telemetry token (queued for the agent).
    await server.api.call("POST", `/api/v1/devices/${deviceId}/accept`);
    const row = await server.srv.store.db
      .selectFrom("outbox")
      .select("body")
      .where("device_id", "=", deviceId)
      .where("type", "=", "telemetry.token")
      .executeTakeFirstOrThrow();
    const token = JSON.parse(row.body).token as string;
    robots[name] = { name, id: deviceId, api: makeApi(url, server.ca, token), seq: { logs: 0, metrics: 0 } };
  }
  ({ browser, page } = await openAdminConsole(url, server.dataDir, pageErrors));
});

after(async () => {
  await browser?.close();
  await server?.srv.close();
  await cleanupTempDirs();
  assert.deepEqual(pageErrors, [], "no script errors on the pages");
});

/** Upload log lines (and gap records) as the device's next "logs" batch. */
async function postLogs(r: Robot, logs: LogLineWire[], gaps?: TelemetryGap[]): Promise<void> {
  const batch: TelemetryBatch = {
    v: 1,
    device: r.id,
    stream: "logs",
    seq: ++r.seq.logs,
    sentAt: Date.now(),
    logs,
    ...(gaps ? { gaps } : {}),
  };
  const res = await r.api.call<{ accepted: number; duplicate: boolean }>(
    "POST",
    "/api/v1/telemetry/batches",
    batch,
  );
  assert.equal(res.duplicate, false);
}

async function postMetric(r: Robot, name: string, value: number): Promise<void> {
  const batch: TelemetryBatch = {
    v: 1,
    device: r.id,
    stream: "metrics",
    seq: ++r.seq.metrics,
    sentAt: Date.now(),
    metrics: [{ name, points: [[Date.now(), value]] }],
  };
  await r.api.call("POST", "/api/v1/telemetry/batches", batch);
}

const line = (msg: string, o: Partial<LogLineWire> = {}): LogLineWire => ({
  t: Date.now(),
  src: "/var/log/robot/app.log",
  msg,
  ...o,
});

/** The texts of the device tail's rows, in page order. */
const tailTexts = () => page.locator(".device-logs .log-view .log-row").allTextContents();

async function waitForRow(scope: string, text: string): Promise<void> {
  await page.waitForFunction(
    ({ scope, text }) =>
      [...document.querySelectorAll(`${scope} .log-row`)].some((r) => r.textContent?.includes(text)),
    { scope, text },
  );
}

test("device Logs: history, a line posted after opening appears live, level colours, pause and resume, a gap as a gap", {
  skip: SKIP,
}, async () => {
  const r1 = robots["robot-1"];
  await postLogs(r1, [
    line("robot booted, firmware 4.2", { t: Date.now() - 60_000 }),
    line("wheel odometry drift 3%", { lvl: "warn", t: Date.now() - 50_000 }),
    line("controller started", { src: "journal", unit: "robot-ctl.service", pri: 6, t: Date.now() - 40_000 }),
  ]);

  await page.goto(`${url}/#/devices/${r1.id}`);
  await page.getByRole("heading", { name: "Logs", exact: true }).waitFor();
  // History first (oldest at the top), then the stream is live.
  await waitForRow(".device-logs", "robot booted");
  await page.waitForSelector('.device-logs[data-tail="live"]');
  const before = await tailTexts();
  assert.ok(before[0].includes("robot booted") && before[2].includes("controller started"), before.join("|"));

  // Live: a line posted now shows without a reload, at the bottom; an error line in red.
  await postLogs(r1, [line("ERROR motor 2 stalled at 3.1 A", { lvl: "error" })]);
  await waitForRow(".device-logs", "motor 2 stalled");
  const rows = await tailTexts();
  assert.ok(rows.at(-1)?.includes("motor 2 stalled"), "the newest line is at the bottom");
  const err = page.locator(".device-logs .log-row", { hasText: "motor 2 stalled" });
  assert.equal(await err.getAttribute("data-level"), "error");
  const color = await err.locator(".log-msg").evaluate((e) => getComputedStyle(e).color);
  assert.equal(color, "rgb(180, 35, 35)", "error lines are red");
  const warnColor = await page
    .locator(".device-logs .log-row", { hasText: "odometry drift" })
    .locator(".log-msg")
    .evaluate((e) => getComputedStyle(e).color);
  assert.equal(warnColor, "rgb(148, 96, 0)", "warnings are amber");
  // The device's name, never its id, in the section; the source by file name.
  assert.ok(!(await textOf(page.locator(".device-logs"))).includes(r1.id));
  assert.ok((await textOf(err)).includes("app.log"));

  // Pause: new lines are held and counted; Resume shows them.
  await page.getByRole("button", { name: "Pause" }).click();
  await postLogs(r1, [line("held line one"), line("held line two"), line("held line three")]);
  await page.waitForFunction(() => document.querySelector(".held-count")?.textContent === "3");
  assert.match(await textOf(page.locator(".tail-state")), /Paused — 3 new lines/);
  assert.ok(!(await tailTexts()).some((t) => t.includes("held line")), "paused lines are not shown yet");
  await shot(page, "device-paused");
  await page.getByRole("button", { name: "Resume" }).click();
  await waitForRow(".device-logs", "held line three");

  // A gap record: shown as a banner row of its own, in words.
  const now = Date.now();
  await postLogs(
    r1,
    [line("after the flood")],
    [
      {
        from: now - 30_000,
        to: now - 5000,
        count: 1204,
        reason: "rate-limit",
        source: "/var/log/robot/app.log",
      },
    ],
  );
  await page.waitForSelector('.device-logs .log-row[data-kind="gap"]');
  const gap = await textOf(page.locator('.device-logs .log-row[data-kind="gap"]'));
  assert.match(gap, /1,204 lines dropped from app\.log between \d\d:\d\d:\d\d and \d\d:\d\d:\d\d/);
  await waitForRow(".device-logs", "after the flood");
  await page.locator(".device-logs").scrollIntoViewIfNeeded();
  await shot(page, "device");

  // The source filter lists what was seen; choosing one narrows history and stream.
  const options = await page.getByLabel("Source").locator("option").allTextContents();
  assert.ok(options.includes("journal") && options.includes("app.log"), options.join("|"));
  await page.getByLabel("Source").selectOption("journal");
  await page.waitForFunction(() => window.location.hash.includes("lsource=journal"));
  await page.waitForFunction(() => {
    const rows = [...document.querySelectorAll(".device-logs .log-row")];
    return rows.length === 1 && rows[0].textContent?.includes("controller started");
  });
  await page.getByLabel("Source").selectOption("");
  await page.waitForFunction(() => !window.location.hash.includes("lsource="));
});

test("fleet Logs search: finds a line by a word, newest first, the device named and linked", {
  skip: SKIP,
}, async () => {
  const r2 = robots["robot-2"];
  await postLogs(r2, [
    line("lidar zebracorn calibration started", { t: Date.now() - 20_000 }),
    line("lidar zebracorn calibration done", { t: Date.now() - 10_000 }),
    line("unrelated chatter"),
  ]);
  await page.goto(`${url}/#/`);
  await page.locator(".topbar nav a", { hasText: "Logs" }).click();
  await page.getByRole("heading", { name: "Logs", exact: true }).waitFor();
  await page.getByLabel("Words").fill("zebracorn");
  await page.getByRole("button", { name: "Search", exact: true }).click();
  await page.waitForFunction(() => window.location.hash.includes("q=zebracorn"));
  await page.waitForFunction(() => document.querySelectorAll(".log-results .log-row").length === 2);
  const rows = await page.locator(".log-results .log-row").allTextContents();
  assert.ok(rows[0].includes("calibration done") && rows[1].includes("calibration started"), rows.join("|"));
  const link = page.locator(".log-results .log-row").first().locator(".log-device a");
  assert.equal(await textOf(link), "robot-2");
  await shot(page, "search");
  await link.click();
  await page.waitForFunction((id) => window.location.hash === `#/devices/${id}`, r2.id);
  await page.getByRole("heading", { name: "robot-2" }).waitFor();

  // Nothing found: a sentence that says what to try.
  await page.goto(`${url}/#/logs?q=nosuchwordanywhere`);
  await page.getByText("No lines match this search.").waitFor();
});

test("Alerts: a rule created through the API is listed; a metric crossing it fires; the device list marks the device", {
  skip: SKIP,
}, async () => {
  const r1 = robots["robot-1"];
  await page.goto(`${url}/#/alerts`);
  await page.getByText("No alert rules yet. Create one to be told when a battery runs low.").waitFor();

  // A rule may name only a metric the project has seen: the robot reports a full battery first.
  await postMetric(r1, "battery_percent", 80);
  await server.api.call("POST", "/api/v1/alerts/rules", {
    name: "battery-low",
    metric: "battery_percent",
    op: "<",
    value: 15,
    forMs: 0,
    selector: "site=lab",
    severity: "critical",
    description: "Send the robot to its dock.",
  });
  await page.goto(`${url}/#/alerts?tab=rules`);
  await page.waitForSelector('tr[data-rule="battery-low"]');
  assert.match(await textOf(page.locator('tr[data-rule="battery-low"]')), /battery_percent/);

  await postMetric(r1, "battery_percent", 12);
  await page.getByRole("button", { name: /^Firing and pending/ }).click();
  await page.waitForSelector('tr.alert-row[data-rule="battery-low"][data-state="firing"]');
  const row = page.locator('tr.alert-row[data-rule="battery-low"]');
  assert.equal(await textOf(row.locator("td.name a")), "robot-1");
  assert.ok(!(await textOf(row)).includes(r1.id), "the device by name, not id");
  assert.match(await textOf(page.locator(".page-head .summary")), /1 alert firing/);
  await shot(page, "alerts");

  // History: the change to firing.
  await page.getByRole("button", { name: "History" }).click();
  await page.waitForSelector('.alert-history tr[data-rule="battery-low"][data-state="firing"]');

  // The device list: a red "1 alert firing" beside robot-1, none beside robot-2.
  await page.goto(`${url}/#/devices`);
  await page.waitForSelector(`tr[data-device="robot-1"] .alert-firing-badge`);
  assert.equal(await textOf(page.locator('tr[data-device="robot-1"] .alert-firing-badge')), "1 alert firing");
  assert.equal(await page.locator('tr[data-device="robot-2"] .alert-firing-badge').count(), 0);
  await shot(page, "devices");

  // Silence the rule for an hour from the Rules tab, then end the silence.
  await page.goto(`${url}/#/alerts?tab=rules`);
  const rule = page.locator('tr[data-rule="battery-low"]');
  await rule.getByRole("button", { name: "Silence", exact: true }).click();
  await rule.getByRole("button", { name: "End silence" }).waitFor();
  assert.match(await textOf(rule), /silenced until/);
  await shot(page, "rules");
  await rule.getByRole("button", { name: "End silence" }).click();
  await rule.getByRole("button", { name: "Silence", exact: true }).waitFor();

  // A bad rule from the form: the server's reason as a sentence, its code beneath.
  await page.locator('input[name="rule-name"]').fill("bad-selector");
  await page.locator('input[name="metric"]').fill("battery_percent");
  await page.locator('input[name="value"]').fill("10");
  await page.locator('input[name="selector"]').fill("site==");
  await page.getByRole("button", { name: "Create rule" }).click();
  const notice = page.locator(".card .error-notice").first();
  await notice.waitFor();
  assert.match((await notice.getAttribute("data-code")) ?? "", /^TETHER_ERR_/);
  assert.doesNotMatch(await textOf(notice.locator(".error-message")), /[{}]/, "a sentence, not JSON");

  // A rule created from the form is listed with its condition.
  await page.locator('input[name="rule-name"]').fill("robot-gone");
  await page.getByRole("button", { name: "A device is offline" }).click();
  await page.locator('input[name="offline"]').fill("5m");
  await page.locator('input[name="selector"]').fill("");
  await page.getByRole("button", { name: "Create rule" }).click();
  await page.waitForSelector('tr[data-rule="robot-gone"]');
  await waitFor(
    async () =>
      (await server.api.call<{ name: string }[]>("GET", "/api/v1/alerts/rules")).some(
        (r) => r.name === "robot-gone",
      ),
    "the rule stored",
  );
});
