// @matrix: browser
/**
 * The web terminal in a real browser (Debian chromium driven by playwright-core) against a real
 * server process and a real agent with a real PTY (docs/protocol.md §17.3): open it from the
 * device page, type a command and read its output from the terminal's rows, the PTY follows the
 * window's size (`stty size`), paste types into the shell, OSC 52 from the device does not reach
 * the clipboard, a second operator watches read-only and types once granted, the link drops
 * (the agent is killed) and Reconnect starts a new session, the shell's exit status, a foreign
 * Origin is refused, the sessions list names the device, a recording plays, and a viewer gets
 * no terminal. Every wait is on page state, never a sleep.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Browser, BrowserContext, Page } from "playwright-core";
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
import { connectTerminal } from "../support/terminal-client.js";
import {
  type AgentHandle,
  cleanupTempDirs,
  type Device,
  enrollOnline,
  type ServerHandle,
  startAgent,
  startServer,
  waitFor,
} from "./harness.js";

const SKIP = browserSkipReason("console terminal browser tests");
const shot = screenshots("terminal-");

const OPERATOR = { username: "bob", password: "bob-password-123" };
const VIEWER = { username: "vera", password: "vera-password-123" };

let server: ServerHandle;
let url: string;
let agent: AgentHandle;
let robot: Device;
let browser: Browser;
let context: BrowserContext;
let page: Page;
const pageErrors: string[] = [];

before(async () => {
  if (SKIP) return;
  ensureConsoleBuilt();
  server = await startServer();
  url = server.info.url;
  ({ agent, device: robot } = await enrollOnline(server, { name: "robot-7" }));
  await server.api.call("PUT", "/api/v1/project/tunnels", { record: true });
  await server.api.call("POST", "/api/v1/users", { ...OPERATOR, role: "operator" });
  await server.api.call("POST", "/api/v1/users", { ...VIEWER, role: "viewer" });
  ({ browser, context, page } = await openConsole(url, {
    clipboard: true,
    onPageError: (err) => pageErrors.push(String(err)),
  }));
  await signIn(page, url, "admin", adminPassword(server.dataDir));
});

after(async () => {
  await browser?.close();
  await agent?.stop();
  await server?.stop();
  await cleanupTempDirs();
  assert.deepEqual(pageErrors, [], "no script errors on the pages");
});

/** The terminal's visible rows as text (xterm.js's DOM renderer), one line per row. */
function rowsText(p: Page, scope = ".terminal-host"): Promise<string> {
  return p.evaluate(
    (sel) =>
      [...document.querySelectorAll(`${sel} .xterm-rows > div`)]
        .map((r) => (r.textContent ?? "").replace(/\u00a0/g, " ").trimEnd())
        .join("\n"),
    scope,
  );
}

/** Until a row of the terminal matches `re` (tested line by line). */
async function waitForRow(p: Page, re: RegExp, scope = ".terminal-host"): Promise<void> {
  await p.waitForFunction(
    ({ sel, src, flags }) => {
      const re = new RegExp(src, flags);
      return [...document.querySelectorAll(`${sel} .xterm-rows > div`)].some((r) =>
        re.test((r.textContent ?? "").replace(/\u00a0/g, " ").trimEnd()),
      );
    },
    { sel: scope, src: re.source, flags: re.flags },
  );
}

/** Type a line into the focused terminal and press Enter. */
async function typeLine(p: Page, line: string): Promise<void> {
  await p.locator(".terminal-host").click();
  await p.keyboard.type(line);
  await p.keyboard.press("Enter");
}

/** The session is up and the shell has printed its prompt (the last line of this session ends in # or $). */
async function waitReady(p: Page): Promise<void> {
  await p.waitForSelector('.terminal-page[data-state="ready"]');
  await p.waitForFunction(() => {
    const rows = [...document.querySelectorAll(".terminal-host .xterm-rows > div")].map((r) =>
      (r.textContent ?? "").replace(/\u00a0/g, " ").trimEnd(),
    );
    const mark = rows.findLastIndex((r) => r.includes("new session"));
    const last = rows.slice(mark + 1).findLast((r) => r !== "");
    return last !== undefined && /[#$]$/.test(last);
  });
}

test("device page: Open terminal, type a command, read its output", { skip: SKIP }, async () => {
  await page.goto(`${url}/#/devices/${robot.id}`);
  const panel = page.locator(".terminal-panel");
  await panel.getByRole("heading", { name: "Terminal" }).waitFor();
  await panel.scrollIntoViewIfNeeded();
  await shot(page, "device-panel");
  await panel.getByText("Open terminal").click();
  await page.waitForFunction(() => window.location.hash.endsWith("/terminal"));
  await page.getByRole("heading", { name: /Terminal on robot-7/ }).waitFor();
  await waitReady(page);
  assert.equal(await page.locator(".recording-badge").count(), 1, "the project records sessions");
  assert.equal(await textOf(page.locator(".participants")), "Only you are connected.");

  await typeLine(page, "echo tether-$((6*7))");
  await waitForRow(page, /^tether-42$/);
  // Names, not ids, on the page.
  assert.ok(!(await textOf(page.locator(".terminal-head"))).includes(robot.id));
  await shot(page, "page");
});

test("the PTY follows the window: a smaller viewport gives a smaller `stty size`", {
  skip: SKIP,
}, async () => {
  const size = () => textOf(page.locator(".terminal-size"));
  const before = await size();
  await page.setViewportSize({ width: 900, height: 600 });
  await page.waitForFunction((b) => {
    const t = document.querySelector(".terminal-size")?.textContent ?? "";
    return t !== "" && t !== b;
  }, before);
  const m = /(\d+) × (\d+)/.exec(await size());
  assert.ok(m, await size());
  const [cols, rows] = [Number(m[1]), Number(m[2])];
  assert.ok(cols < 120 && rows < 40, `${cols}x${rows}`);
  await typeLine(page, "stty size");
  await waitForRow(page, new RegExp(`^${rows} ${cols}$`));
  await page.setViewportSize({ width: 1400, height: 900 });
  await page.waitForFunction(
    (c) => !(document.querySelector(".terminal-size")?.textContent ?? "").startsWith(`${c} `),
    cols,
  );
});

test("paste types into the shell; OSC 52 from the device does not touch the clipboard", {
  skip: SKIP,
}, async () => {
  await page.locator(".terminal-host").click();
  await page.evaluate(() => navigator.clipboard.writeText("echo pasted-$((2+3))"));
  await page.keyboard.press("Control+V");
  await page.keyboard.press("Enter");
  await waitForRow(page, /^pasted-5$/);

  await page.evaluate(() => navigator.clipboard.writeText("left alone"));
  // OSC 52 "set the clipboard to base64('hello')".
  await typeLine(page, "printf '\\033]52;c;aGVsbG8=\\a'; echo osc-sent");
  await waitForRow(page, /^osc-sent$/);
  await page.locator(".clipboard-refused").waitFor();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), "left alone");
});

test("a second operator watches read-only, sees who is there, and types once granted", {
  skip: SKIP,
}, async () => {
  const ctx = await newConsoleContext(browser);
  try {
    const bob = await newConsolePage(ctx, (err) => pageErrors.push(`bob: ${err}`));
    await signIn(bob, url, OPERATOR.username, OPERATOR.password);
    await bob.goto(`${url}/#/sessions`);
    const live = bob.locator("table.sessions tr[data-live]", { hasText: "robot-7" });
    await live.getByText("Watch").click();
    await bob.waitForSelector('.terminal-page[data-state="ready"]');
    await bob.getByText("You are watching; admin can let you type.").waitFor();
    // The recent output is replayed to a new watcher.
    await waitForRow(bob, /^tether-42$/);

    // The owner sees bob, and lets him type.
    const row = page.locator(".participant[data-user='bob']");
    await row.waitFor();
    assert.match(await textOf(row), /watching/);
    await row.getByRole("button", { name: "Let bob type" }).click();
    await bob.getByText("admin let you type in this session.").waitFor();
    await typeLine(bob, "echo from-bob-$((3*3))");
    await waitForRow(page, /^from-bob-9$/);
    await shot(bob, "watching");

    await bob.getByRole("button", { name: "Stop watching" }).click();
    await bob.getByText("You stopped watching.").waitFor();
    await page.locator(".participant[data-user='bob']").waitFor({ state: "detached" });
  } finally {
    await ctx.close();
  }
});

test("the link drops (the agent is killed): a sentence, the code, and Reconnect starts a new session", {
  skip: SKIP,
}, async () => {
  await agent.kill();
  const overlay = page.locator(".terminal-overlay.ended");
  await overlay.waitFor();
  const message = await textOf(overlay.locator(".terminal-end-message"));
  assert.match(message, /^The (session ended|connection to robot-7 was lost)/, message);
  assert.match(await textOf(overlay.locator(".error-detail")), /TETHER_ERR_|WebSocket closed/);
  await shot(page, "lost");

  // The same agent comes back.
  agent = startAgent({ dataDir: agent.dataDir });
  await waitFor(async () => {
    const r = await server.api.request<Device>("GET", `/api/v1/devices/${robot.id}`);
    return r.body.online;
  }, "robot-7 back online");
  await overlay.getByRole("button", { name: "Reconnect" }).click();
  await waitReady(page);
  await typeLine(page, "echo again-$((1+1))");
  await waitForRow(page, /^again-2$/);
  // The old output stays above the new session.
  assert.match(await rowsText(page), /new session/);
});

test("exit: the shell's status, and Start a new session", { skip: SKIP }, async () => {
  await typeLine(page, "exit 3");
  const overlay = page.locator(".terminal-overlay.ended");
  await overlay.getByText("The shell exited with status 3.").waitFor();
  assert.equal(await textOf(overlay.locator(".error-detail")), "exit status 3");
  await overlay.getByRole("button", { name: "Start a new session" }).waitFor();
  await shot(page, "exited");
});

test("a foreign Origin cannot open the terminal WebSocket with the user's cookie", {
  skip: SKIP,
}, async () => {
  const cookie = (await context.cookies(url)).find((c) => c.name === "tether_session");
  assert.ok(cookie, "signed in");
  const wss = `${url.replace(/^https/, "wss")}/api/v1/terminal?project=default`;
  const headers = { cookie: `tether_session=${cookie.value}` };
  const evil = await connectTerminal(wss, {
    ca: server.ca,
    headers: { ...headers, origin: "https://evil.example" },
  });
  assert.equal(evil.ok, false);
  if (!evil.ok) {
    assert.equal(evil.status, 403);
    assert.equal(evil.body.error.code, "TETHER_ERR_BAD_ORIGIN");
  }
  // The same cookie from the console's own origin is let in: the Origin made the difference.
  const own = await connectTerminal(wss, {
    ca: server.ca,
    headers: { ...headers, origin: new URL(url).origin },
  });
  assert.equal(own.ok, true);
  if (own.ok) {
    own.client.ws.close();
    await own.client.closed;
  }
});

test("the sessions page lists sessions by device name; a recording plays", { skip: SKIP }, async () => {
  await page.goto(`${url}/#/sessions`);
  const exited = page.locator("table.sessions tbody tr", { hasText: "Exited with status 3" });
  await exited.waitFor();
  const text = await textOf(page.locator("table.sessions"));
  assert.ok(text.includes("robot-7") && text.includes("login shell") && text.includes("console"), text);
  assert.ok(!text.includes(robot.id) && !/ses_[a-z0-9]{20}/.test(text), "names, not ids");
  await shot(page, "sessions");

  await exited.getByText("Play").click();
  await page.waitForFunction(() => window.location.hash.endsWith("/play"));
  await page.getByRole("heading", { name: /Recording on robot-7/ }).waitFor();
  await waitForRow(page, /^again-2$/, ".playback-frame");
  await page.waitForFunction(() =>
    /\d:\d\d \/ \d:\d\d/.test(document.querySelector(".player-time")?.textContent ?? ""),
  );
  await page.getByRole("button", { name: "2×" }).click();
  assert.equal(await page.getByRole("button", { name: "2×" }).getAttribute("aria-pressed"), "true");
  await shot(page, "playback");
});

test("Settings → Sessions: recording and the forward allow-list; a bad destination is explained", {
  skip: SKIP,
}, async () => {
  await page.goto(`${url}/#/settings/sessions`);
  const record = page.getByRole("checkbox");
  await record.waitFor();
  assert.equal(await record.isChecked(), true, "set through the API in before()");
  const allow = page.getByLabel("Port forwarding may reach");
  assert.equal(await allow.inputValue(), "localhost:*\n127.0.0.1:*\n[::1]:*");
  await allow.fill("localhost:8080\nnot a destination");
  await page.getByRole("button", { name: "Save" }).click();
  await page.getByText(/“not” is not a destination/).waitFor();
  await allow.fill("localhost:8080\n10.0.0.5:22");
  await page.getByRole("button", { name: "Save" }).click();
  await page
    .getByText(
      /Saved\. Sessions in default are recorded; port forwarding may reach localhost:8080, 10\.0\.0\.5:22\./,
    )
    .waitFor();
  const saved = await server.api.call<{ forwardAllow: string[] }>("GET", "/api/v1/project/tunnels");
  assert.deepEqual(saved.forwardAllow, ["localhost:8080", "10.0.0.5:22"]);
  await shot(page, "settings");
});

test("a viewer gets no terminal: a sentence on the device page, and the page itself says why", {
  skip: SKIP,
}, async () => {
  const ctx = await newConsoleContext(browser);
  try {
    const vera = await newConsolePage(ctx, (err) => pageErrors.push(`vera: ${err}`));
    await signIn(vera, url, VIEWER.username, VIEWER.password);
    await vera.goto(`${url}/#/devices/${robot.id}`);
    const panel = vera.locator(".terminal-panel");
    await panel.waitFor();
    assert.match(await textOf(panel), /needs the operator role/);
    assert.equal(await panel.getByText("Open terminal").count(), 0);
    await vera.goto(`${url}/#/devices/${robot.id}/terminal`);
    await vera.getByText(/A terminal needs the operator role/).waitFor();
  } finally {
    await ctx.close();
  }
});

test("Run as: the device panel offers the project's exec users; the shell runs as the one chosen", {
  skip: SKIP,
}, async () => {
  await server.api.call("PUT", "/api/v1/project/exec-users", { execUsers: ["root"] });
  await page.goto(`${url}/#/devices/${robot.id}`);
  const panel = page.locator(".terminal-panel");
  await panel.getByLabel("Run as").selectOption("root");
  await panel.getByText("Open terminal").click();
  await page.waitForFunction(() => window.location.hash.endsWith("/terminal?user=root"));
  await page.locator(".badge.run-as", { hasText: "as root" }).waitFor();
  await waitReady(page);
  await typeLine(page, "echo user-$(id -un)");
  await waitForRow(page, /^user-root$/);
  const sessions = await server.api.call<{ sessions: { runAs: string | null; live: boolean }[] }>(
    "GET",
    `/api/v1/sessions?device=${robot.id}`,
  );
  assert.equal(sessions.sessions.find((s) => s.live)?.runAs, "root");
  await page.getByRole("button", { name: "End session" }).click();
  await page.getByText("You ended the session.").waitFor();
});

test("an offline device: the panel says so, and the terminal page explains the refusal with Retry", {
  skip: SKIP,
}, async () => {
  await agent.kill();
  await waitFor(async () => {
    const r = await server.api.request<Device>("GET", `/api/v1/devices/${robot.id}`);
    return !r.body.online;
  }, "robot-7 offline");
  await page.goto(`${url}/#/devices/${robot.id}`);
  const panel = page.locator(".terminal-panel");
  await panel.getByText("robot-7 is offline; a terminal can open once it is back.").waitFor();
  assert.equal(await panel.getByText("Open terminal").getAttribute("aria-disabled"), "true");

  await page.goto(`${url}/#/devices/${robot.id}/terminal`);
  const overlay = page.locator(".terminal-overlay.ended");
  await overlay.getByText("robot-7 is offline, so a terminal cannot open now.", { exact: false }).waitFor();
  assert.equal(await textOf(overlay.locator(".error-detail")), "TETHER_ERR_DEVICE_OFFLINE");
  await overlay.getByRole("button", { name: "Retry" }).waitFor();
  await shot(page, "offline");
});
