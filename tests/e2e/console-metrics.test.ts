// @matrix: browser
/**
 * Metrics in the console, in a real browser (Debian chromium driven by playwright-core) against
 * a real in-process server whose metric store holds an hour of three robots' series (seeded
 * through the store and the telemetry sequence claim): the device page's battery and
 * temperature charts drawn with data, the 5 minutes a robot lost drawn as a gap (no line in the
 * shaded band, read from the canvas pixels) and listed as a gap note, the clock-skew note, the
 * custom-metric picker, the range picker in the URL, the empty state of a device without
 * metrics; the fleet page sorted by battery (emptiest first) and temperature (hottest first),
 * names linking to device pages, a device without metrics and a skewed clock flagged.
 * Every wait is on page state, never a sleep.
 */
import assert from "node:assert/strict";
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
import { type InProcessServer, startInProcessServer } from "../support/in-process-server.js";
import { seedMetrics } from "../support/metrics-seed.js";
import { cleanupTempDirs, tempDir } from "./harness.js";

const SKIP = browserSkipReason("console metrics browser tests");
const MIN = 60_000;
const shot = screenshots("metrics-");

let server: InProcessServer;
let url: string;
let browser: Browser;
let page: Page;
const ids: Record<string, string> = {};
const pageErrors: string[] = [];
/** The lost span of robot-7 (server ms). */
let lost: { from: number; to: number };

before(async () => {
  if (SKIP) return;
  ensureConsoleBuilt();
  server = await startInProcessServer({ dataDir: tempDir("tether-console-metrics-") });
  url = server.url;
  const auto = await server.api.call<{ token: string }>("POST", "/api/v1/enrollment-tokens", {
    autoAccept: true,
    uses: 4,
    labels: { site: "lab" },
  });
  for (const name of ["robot-7", "robot-8", "robot-9", "quiet-1"])
    ids[name] = (await enrollDevice({ url, token: auto.token, name })).deviceId;
  const now = Date.now();
  lost = { from: now - 40 * MIN, to: now - 35 * MIN };
  await seedMetrics(server.srv, "robot-7", {
    from: now - 60 * MIN,
    to: now,
    lost: [lost],
    skewMs: 303_000,
    custom: true,
  });
  await seedMetrics(server.srv, "robot-8", {
    from: now - 60 * MIN,
    to: now,
    cpu: 70,
    temperature: 81,
    battery: { start: 14, drainPerHour: 4 },
  });
  await seedMetrics(server.srv, "robot-9", {
    from: now - 60 * MIN,
    to: now,
    cpu: 10,
    temperature: 41,
    battery: { start: 55, drainPerHour: 2 },
  });
  ({ browser, page } = await openAdminConsole(url, server.dataDir, pageErrors));
});

after(async () => {
  await browser?.close();
  await server?.srv.close();
  await cleanupTempDirs();
  assert.deepEqual(pageErrors, [], "no script errors on the pages");
});

/** Wait until the fleet table's rows are these devices, in this order (React renders after the URL changes). */
async function rowsInOrder(names: string[]): Promise<void> {
  await page.waitForFunction(
    (want) =>
      JSON.stringify(
        [...document.querySelectorAll("table.fleet-metrics tbody tr")].map((r) =>
          r.getAttribute("data-device"),
        ),
      ) === JSON.stringify(want),
    names,
  );
}

/** Wait until the chart `id` is drawn with at least one value. */
async function chartDrawn(id: string): Promise<void> {
  await page.waitForFunction((c) => {
    const el = document.querySelector(`.time-chart[data-chart="${c}"]`);
    return !!el?.querySelector("canvas") && Number(el.getAttribute("data-filled")) > 0;
  }, id);
}

/**
 * Pixels of the chart `id`'s plot at time `t` (a column of the canvas, top to bottom), as
 * [r, g, b] triples on white: what an operator sees at that moment.
 */
async function columnAt(id: string, t: number): Promise<number[][]> {
  return page.evaluate(
    ({ c, t, win }) => {
      const el = document.querySelector(`.time-chart[data-chart="${c}"]`) as HTMLElement;
      const canvas = el.querySelector("canvas") as HTMLCanvasElement;
      const over = el.querySelector(".u-over") as HTMLElement;
      const ratio = canvas.width / canvas.getBoundingClientRect().width;
      const cr = canvas.getBoundingClientRect();
      const or = over.getBoundingClientRect();
      const x = Math.round((or.left - cr.left + ((t - win.from) / (win.to - win.from)) * or.width) * ratio);
      const y0 = Math.round((or.top - cr.top) * ratio);
      const h = Math.round(or.height * ratio);
      const data = (canvas.getContext("2d") as CanvasRenderingContext2D).getImageData(x, y0, 1, h).data;
      const out: number[][] = [];
      // The canvas is transparent where nothing is drawn: composite over the page's white.
      // (No named function in here: the test's compiler would wrap it in a helper the page lacks.)
      for (let i = 0; i < data.length; i += 4) {
        const a = data[i + 3] / 255;
        out.push([0, 1, 2].map((k) => Math.round(data[i + k] * a + 255 * (1 - a))));
      }
      return out;
    },
    { c: id, t, win: await chartWindow(id) },
  );
}

/** The x range of a chart: the window the page asked for (its `from`, `to`). */
async function chartWindow(id: string): Promise<{ from: number; to: number }> {
  const w = await page.locator(`.time-chart[data-chart="${id}"]`).getAttribute("data-window");
  const [from, to] = (w ?? "").split(",").map(Number);
  assert.ok(from > 0 && to > from, `data-window of ${id}: ${w}`);
  return { from, to };
}

/**
 * A pixel of the first line (blue, PALETTE[0]) or the second (orange, PALETTE[1]), antialiased
 * edges included; the shaded band, the grid and the background are neither.
 */
const bluish = (p: number[], by = 60) => p[2] - p[0] > by;
const orangish = (p: number[], by = 60) => p[0] - p[2] > by;

test("device page: battery and temperature charts with data; the lost span is a gap; skew and gap notes", {
  skip: SKIP,
}, async () => {
  await page.goto(`${url}/#/devices/${ids["robot-7"]}`);
  await page.getByRole("heading", { name: "Metrics" }).waitFor();
  await chartDrawn("battery");
  await chartDrawn("temperature");
  for (const c of ["cpu", "memory", "disk", "network"]) await chartDrawn(c);
  await chartDrawn("custom:ros_topic_hz");
  await shot(page, "device");

  // Battery: charge and voltage, with their units.
  const battery = page.locator('[data-chart-card="battery"]');
  assert.match(await textOf(battery.locator(".chart-now")), /^8\d% · 1\d\.\d\d V$/);
  const legend = await battery.locator(".u-legend .u-series").allTextContents();
  assert.ok(
    legend.some((l) => l.includes("BAT0 charge")) && legend.some((l) => l.includes("BAT0 voltage")),
    legend.join("|"),
  );
  assert.ok((await textOf(battery)).includes("%"), "the left axis shows %");
  // Temperature: one line per sensor, in °C.
  assert.equal(await page.locator('.time-chart[data-chart="temperature"]').getAttribute("data-lines"), "2");
  // The header names the hottest sensor, and the fullest disk.
  assert.match(await textOf(page.locator('[data-chart-card="temperature"] .chart-now')), /^cpu \d+\.\d °C$/);
  assert.equal(await textOf(page.locator('[data-chart-card="disk"] .chart-now')), "/data 75%");
  assert.match(await textOf(page.locator('[data-chart-card="network"] .chart-now')), /KiB\/s/);

  // The lost span: null steps in the data, no line drawn there but the shaded band; a line either side.
  const empty = Number(await page.locator('.time-chart[data-chart="battery"]').getAttribute("data-empty"));
  assert.ok(empty >= 2 * 8, `empty steps ${empty}`);
  const mid = (lost.from + lost.to) / 2;
  const inGap = await columnAt("battery", mid);
  assert.ok(!inGap.some((p) => bluish(p) || orangish(p)), "a line is drawn inside the gap");
  assert.ok(
    inGap.some((p) => p[0] > 240 && p[1] < 246 && p[1] > 225 && p[2] < 246),
    "the gap is shaded",
  );
  const before = await columnAt("battery", lost.from - 10 * MIN);
  const afterGap = await columnAt("battery", lost.to + 10 * MIN);
  assert.ok(
    before.some((p) => bluish(p, 100)),
    "no charge line before the gap",
  );
  assert.ok(
    afterGap.some((p) => bluish(p, 100)),
    "no charge line after the gap",
  );
  assert.ok(
    afterGap.some((p) => orangish(p, 100)),
    "no voltage line after the gap",
  );

  const notes = await page.locator("ul.gap-notes li").allTextContents();
  assert.equal(notes.length, 1);
  assert.match(notes[0], /^Gap: 540 samples lost \(buffer full\) \d\d:\d\d–\d\d:\d\d$/);
  assert.match(await textOf(page.locator(".skew-note")), /device clock 5m 3s behind the server/);
});

test("device page: the range picker is in the URL; the custom-metric picker lists the device's own metrics", {
  skip: SKIP,
}, async () => {
  await page.goto(`${url}/#/devices/${ids["robot-7"]}`);
  await chartDrawn("battery");
  const picker = page.getByLabel("Custom metric");
  assert.deepEqual(await picker.locator("option").allTextContents(), ["ros_topic_hz"]);
  await page.getByRole("button", { name: "6h", exact: true }).click();
  await page.waitForFunction(() => window.location.hash.includes("range=6h"));
  await page.waitForFunction(() => {
    const el = document.querySelector('.time-chart[data-chart="battery"]');
    const [from, to] = (el?.getAttribute("data-window") ?? "0,0").split(",").map(Number);
    return to - from === 6 * 3_600_000 && Number(el?.getAttribute("data-filled")) > 0;
  });
  assert.equal(
    await page.getByRole("button", { name: "6h", exact: true }).getAttribute("aria-pressed"),
    "true",
  );
  await page.getByRole("button", { name: "1h", exact: true }).click();
  await page.waitForFunction(() => !window.location.hash.includes("range="));
});

test("device page: a device without metrics says so in a sentence", { skip: SKIP }, async () => {
  await page.goto(`${url}/#/devices/${ids["quiet-1"]}`);
  await page
    .getByText(
      "quiet-1 has sent no metrics yet. Metrics arrive over the telemetry channel once the agent has its token.",
    )
    .waitFor();
  assert.equal(await page.locator(".time-chart").count(), 0);
});

test("fleet page: key figures per device, sorted by battery (emptiest first) and temperature (hottest first)", {
  skip: SKIP,
}, async () => {
  await page.goto(`${url}/#/`);
  await page.locator(".topbar nav a", { hasText: "Metrics" }).click();
  await page.getByRole("heading", { name: "Metrics", exact: true }).waitFor();
  await page.waitForFunction(() => document.querySelectorAll("table.fleet-metrics tbody tr").length === 4);
  await rowsInOrder(["quiet-1", "robot-7", "robot-8", "robot-9"]);
  assert.match(await textOf(page.locator(".page-head .summary")), /3 of 4 devices reporting/);

  await page.locator('th button[data-sort="battery"]').click();
  await page.waitForFunction(() => window.location.hash.includes("sort=battery"));
  await rowsInOrder(["robot-8", "robot-9", "robot-7", "quiet-1"]);
  const low = page.locator('tr[data-device="robot-8"] td[data-figure="battery"]');
  assert.match(await textOf(low), /^1\d%$/);
  assert.match((await low.getAttribute("class")) ?? "", /\bwarn\b|\bbad\b/);
  await shot(page, "fleet-battery");

  await page.locator('th button[data-sort="temperature"]').click();
  await page.waitForFunction(() => window.location.hash.includes("sort=-temperature"));
  await rowsInOrder(["robot-8", "robot-7", "robot-9", "quiet-1"]);
  // Again: the other way round (a device without the figure stays last).
  await page.locator('th button[data-sort="temperature"]').click();
  await page.waitForFunction(() => /sort=temperature(&|$)/.test(window.location.hash));
  await rowsInOrder(["robot-9", "robot-7", "robot-8", "quiet-1"]);

  // Each row: figures with units, a CPU sparkline, the age; a skewed clock flagged; none for quiet-1.
  const r7 = page.locator('tr[data-device="robot-7"]');
  assert.match(await textOf(r7.locator('td[data-figure="temperature"]')), /^\d+\.\d °C$/);
  assert.equal(await r7.locator("svg.sparkline").count(), 1);
  assert.ok((await textOf(r7)).includes("⚠ clock"));
  assert.ok(!(await textOf(page.locator('tr[data-device="robot-8"]'))).includes("⚠ clock"));
  assert.match(await textOf(page.locator('tr[data-device="quiet-1"]')), /no metrics yet/);

  // Filter by selector; a bad one is explained.
  await page.getByLabel("Selector").fill("site=nowhere");
  await page.getByRole("button", { name: "Filter", exact: true }).click();
  await page.waitForFunction(() =>
    document.querySelector(".empty")?.textContent?.includes("No devices match"),
  );
  await page.getByRole("button", { name: "Clear" }).click();
  await page.waitForFunction(() => document.querySelectorAll("table.fleet-metrics tbody tr").length === 4);

  // The name links to the device's page (its name, never its id, in the table).
  assert.ok(!(await textOf(page.locator("table.fleet-metrics"))).includes(ids["robot-8"]));
  await page.locator('tr[data-device="robot-8"] td.name a').click();
  await page.waitForFunction((id) => window.location.hash === `#/devices/${id}`, ids["robot-8"]);
  await chartDrawn("temperature");
  await shot(page, "device-hot");
});
