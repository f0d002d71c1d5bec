// @matrix: store
// Device logs stored and searched in a real server (docs/protocol.md §15): batches uploaded
// through the real telemetry ingest into the real log store (SQLite FTS5, PostgreSQL
// tsvector): exactly once, gap lines, bad lines dropped and counted, invalid UTF-8 and
// oversize lines, search by words/phrase/source/level/device/selector/time with paging,
// hostile full-text input, viewer access and project isolation, retention by age and size.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { LOG_LIMITS, type LogLine, type LogSearchResult } from "@tether/protocol";
import { cleanupTempDirs, tempDir, waitFor } from "../../../tests/e2e/harness.js";
import { startLogsServer, type LogsServer, uploadLogs, uploadOk } from "./logs-support.js";

let s: LogsServer;
const T0 = Date.now() - 60 * 60_000;
const S = 1000;

before(async () => {
  s = await startLogsServer(tempDir("tether-logs-store-"));
});
after(async () => {
  await s?.srv.close();
  await cleanupTempDirs();
});

const search = async (q: Record<string, string | number>) =>
  s.viewer.call<LogSearchResult>("GET", `/api/v1/logs?${new URLSearchParams(q as Record<string, string>)}`);

/** Every page of a search, following `next`. */
async function all(q: Record<string, string | number>): Promise<LogLine[]> {
  const out: LogLine[] = [];
  let before: string | null | undefined;
  for (let i = 0; i < 1000; i++) {
    const r = await search({ ...q, ...(before ? { before } : {}) });
    out.push(...r.lines);
    if (!r.next) return out;
    before = r.next;
  }
  throw new Error("too many pages");
}

describe("ingest", () => {
  test("lines stored once per seq, with levels, server time, gap lines and counted drops", async () => {
    const skewFromDevice = 5000; // the device clock is 5 s behind the server
    const sentAt = Date.now();
    const r1 = await uploadOk(
      s,
      "l1-0001",
      1,
      {
        logs: [
          { t: T0, src: "/var/log/app.log", msg: "motor started ok", lvl: "info" },
          { t: T0 + S, src: "/var/log/app.log", msg: "ERROR motor stalled at joint 3", lvl: "error" },
          { t: T0 + 2 * S, src: "journal", unit: "nav.service", pri: 4, msg: "navigation: path blocked" },
          { t: "yesterday", src: "x", msg: "bad time" },
          { t: T0, src: "", msg: "no source" },
          { t: T0, src: "x" },
          "not an object",
        ],
        gaps: [{ from: T0 + 3 * S, to: T0 + 9 * S, count: 1204, reason: "rate-limit" }],
      },
      sentAt - skewFromDevice,
    );
    assert.equal(r1.accepted, 3);
    assert.deepEqual(r1.dropped, { "bad-time": 1, "bad-source": 1, malformed: 2 });
    // The same seq again: a duplicate, nothing stored twice.
    const again = await uploadOk(s, "l1-0001", 1, {
      logs: [{ t: T0, src: "/var/log/app.log", msg: "motor started ok" }],
    });
    assert.equal(again.duplicate, true);
    const lines = await all({ device: "robot-1", since: new Date(T0 - 60 * S).toISOString() });
    assert.equal(lines.length, 4, JSON.stringify(lines));
    // Newest first (storage order): the gap line was stored last.
    const gap = lines[0]!;
    assert.equal(gap.kind, "gap");
    assert.equal(gap.source, "agent");
    assert.equal(gap.gap!.count, 1204);
    assert.equal(gap.gap!.reason, "rate-limit");
    assert.match(
      gap.message,
      /^1,204 lines dropped from agent between \d\d:\d\d:\d\d and \d\d:\d\d:\d\d UTC \(rate-limit\)$/,
    );
    const journal = lines.find((l) => l.source === "journal")!;
    assert.equal(journal.level, "warn");
    assert.equal(journal.unit, "nav.service");
    assert.equal(journal.device, "robot-1");
    assert.equal(journal.deviceId, "l1-0001");
    assert.equal(journal.deviceTime, T0 + 2 * S);
    // Server time = device time + the upload's skew (about 5 s here).
    const skew = journal.time - journal.deviceTime;
    assert.ok(skew >= skewFromDevice && skew < skewFromDevice + 10_000, `skew ${skew}`);
    assert.ok(journal.receivedAt >= sentAt);
    assert.equal(lines.filter((l) => l.message === "motor started ok").length, 1);
  });

  test("invalid UTF-8, control characters and an oversize line are stored cleaned and cut", async () => {
    const huge = `${"é".repeat(LOG_LIMITS.maxLineBytes)}TAIL`; // twice the byte limit
    const r = await uploadOk(s, "l2-0002", 1, {
      logs: [
        { t: T0, src: "bin", msg: "lone \ud800 surrogate and a nul \u0000 bell \u0007 tab\tend" },
        { t: T0 + S, src: "big", msg: huge },
      ],
    });
    assert.equal(r.accepted, 2);
    const [big, bin] = await all({ device: "robot-2", since: new Date(T0 - S).toISOString() });
    assert.equal(bin!.message, "lone \ufffd surrogate and a nul \\x00 bell \\x07 tab\tend");
    assert.ok(
      Buffer.byteLength(big!.message) <= LOG_LIMITS.maxLineBytes,
      `${Buffer.byteLength(big!.message)} bytes`,
    );
    assert.match(big!.message, /^é+ …\[cut [\d,]+ bytes\]$/);
    const cut = Number(/cut ([\d,]+) bytes/.exec(big!.message)![1]!.replaceAll(",", ""));
    assert.equal(Buffer.byteLength(big!.message.replace(/ …\[cut.*$/, "")) + cut, Buffer.byteLength(huge));
  });
});

describe("search", () => {
  before(async () => {
    // robot-3: 250 lines over 250 s, every 10th an error mentioning "overheat", two sources.
    const logs = Array.from({ length: 250 }, (_, i) => ({
      t: T0 + 1000 * S + i * S,
      src: i % 2 ? "/var/log/b.log" : "/var/log/a.log",
      msg: i % 10 === 0 ? `ERROR sensor overheat number ${i} "quoted" it's a\\b` : `tick ${i} nominal`,
      lvl: i % 10 === 0 ? "error" : "debug",
    }));
    await uploadOk(s, "l3-0003", 1, { logs });
  });

  test("words, phrase, prefix, source, level, selector; pages have no duplicates and miss nothing", async () => {
    const base = { since: new Date(T0).toISOString(), limit: 7 };
    const words = await all({ ...base, q: "overheat sensor" });
    assert.equal(words.length, 25);
    assert.equal(new Set(words.map((l) => l.id)).size, 25, "no line twice across pages");
    const ids = words.map((l) => BigInt(l.id));
    assert.deepEqual(
      [...ids].sort((a, b) => (b > a ? 1 : -1)),
      ids,
      "newest (highest id) first",
    );
    assert.ok(words.every((l) => l.device === "robot-3" && l.level === "error"));
    assert.equal((await all({ ...base, q: '"sensor overheat"' })).length, 25);
    assert.equal((await all({ ...base, q: '"overheat sensor"' })).length, 0, "a phrase keeps its order");
    assert.equal((await all({ ...base, q: "overh*" })).length, 25, "a prefix");
    assert.equal((await all({ ...base, q: "overheat missingword" })).length, 0, "every word must occur");
    assert.equal((await all({ ...base, level: "error", source: "/var/log/a.log" })).length, 25);
    assert.equal((await all({ ...base, level: "warn", selector: "site=osaka" })).length, 25);
    assert.equal((await all({ ...base, selector: "site=osaka", source: "/var/log/b.log" })).length, 125);
    assert.equal((await all({ ...base, device: "robot-3", q: "nominal" })).length, 225);
    assert.equal((await all({ ...base, device: "robot-1", q: "overheat" })).length, 0);
    // A time window: device times 1000..1049 s (plus the small upload skew).
    const win = await all({
      since: new Date(T0 + 1000 * S).toISOString(),
      until: new Date(T0 + 1050 * S).toISOString(),
      device: "l3-0003",
    });
    assert.ok(win.length >= 45 && win.length <= 50, `${win.length} lines in the window`);
    assert.ok(win.every((l) => l.time >= T0 + 1000 * S && l.time < T0 + 1050 * S));
    // The default window is the last 24 h: T0 is an hour ago, so everything is in it.
    assert.equal((await all({ device: "robot-3" })).length, 250);
    assert.equal((await all({ device: "robot-3", since: "10s" })).length, 0);
  });

  test("hostile full-text input never fails", async () => {
    for (const q of [
      '"',
      "*",
      "NEAR(",
      "'",
      "\\",
      'overheat"',
      "overheat NEAR(sensor",
      "AND OR NOT",
      "-overheat",
      "((",
      "a*b*",
      "^",
      "'; drop table log_lines; --",
      "\u0000",
      "over\u0000heat",
      "東京",
    ]) {
      const r = await s.viewer.request(
        "GET",
        `/api/v1/logs?${new URLSearchParams({ q, since: new Date(T0).toISOString() })}`,
      );
      assert.equal(r.status, 200, `q=${JSON.stringify(q)}: ${JSON.stringify(r.body)}`);
    }
    assert.equal((await all({ q: 'overheat"', since: new Date(T0).toISOString() })).length, 25);
    assert.equal(
      (await all({ q: "NEAR( overheat", since: new Date(T0).toISOString() })).length,
      0,
      "near is a word",
    );
    assert.equal((await all({ q: '"sensor overheat', since: new Date(T0).toISOString() })).length, 25);
    assert.equal((await all({ q: "it's", since: new Date(T0).toISOString() })).length, 25);
  });

  test("bad input is a clear error; another project sees nothing of this one", async () => {
    const bad = await s.viewer.request("GET", "/api/v1/logs?before=abc");
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.code, "TETHER_ERR_BAD_REQUEST");
    const sel = await s.viewer.request("GET", "/api/v1/logs?selector=site");
    assert.equal(sel.status, 400);
    assert.equal((await s.viewer.request("GET", "/api/v1/logs?since=yesterday")).status, 400);
    assert.equal((await s.viewer.request("GET", "/api/v1/logs?level=loud")).status, 400);
    const none = await s.viewer.request("GET", "/api/v1/logs?selector=site=mars");
    assert.equal(none.body.error.code, "TETHER_ERR_NO_DEVICES_MATCH");
    const other = await s.stranger.call<LogSearchResult>(
      "GET",
      `/api/v1/logs?since=${new Date(T0).toISOString()}`,
    );
    assert.deepEqual(other.lines, []);
    const dev = await s.stranger.request("GET", "/api/v1/logs?device=robot-3");
    assert.equal(dev.status, 404);
    assert.equal((await makeAnonymous()).status, 401);
  });

  test("the API: search and onStored for the alerts engine", async () => {
    const got: { deviceId: string; n: number; kinds: string[] }[] = [];
    const off = s.srv.capabilities.logs.onStored((deviceId, lines) =>
      got.push({ deviceId, n: lines.length, kinds: lines.map((l) => l.kind) }),
    );
    await uploadOk(s, "l2-0002", 2, {
      logs: [{ t: Date.now(), src: "app", msg: "listener check" }],
      gaps: [
        {
          from: Date.now() - 1000,
          to: Date.now(),
          count: 3,
          reason: "buffer-full",
          source: "/var/log/app.log",
          detail: "3 lines lost: buffer full",
        },
      ],
    });
    off();
    assert.deepEqual(got, [{ deviceId: "l2-0002", n: 2, kinds: ["line", "gap"] }]);
    const g = await all({ device: "robot-2", q: "buffer full" });
    assert.equal(g.length, 1);
    assert.match(
      g[0]!.message,
      /^3 lines dropped from \/var\/log\/app.log between .* \(3 lines lost: buffer full\)$/,
    );
    assert.equal(g[0]!.source, "/var/log/app.log");
  });
});

async function makeAnonymous() {
  const { makeApi } = await import("../../../tests/e2e/harness.js");
  return makeApi(s.url, s.ca).request("GET", "/api/v1/logs");
}

describe("retention", () => {
  test("by size per project (oldest first, logged once) and by age, in bounded batches", async () => {
    const store = s.srv.capabilities.logs.store;
    const before = (await store.usage()).get(await s.srv.services.accounts.projectId("default"))!;
    assert.ok(before > 0);
    const first = await all({ since: new Date(T0 - 10_000 * S).toISOString(), limit: 1000 });
    const oldest = first.map((l) => BigInt(l.id)).sort((a, b) => (a < b ? -1 : 1));
    store.maxBytesPerProject = before - 1000;
    const r = await s.srv.capabilities.logs.retain();
    assert.ok(r.bySize > 0 && r.byAge === 0, JSON.stringify(r));
    const after = (await store.usage()).get(await s.srv.services.accounts.projectId("default"))!;
    assert.ok(after <= store.maxBytesPerProject, `${after} > ${store.maxBytesPerProject}`);
    const left = await all({ since: new Date(T0 - 10_000 * S).toISOString(), limit: 1000 });
    const leftIds = new Set(left.map((l) => BigInt(l.id)));
    // What went is exactly the oldest ids.
    assert.ok(!leftIds.has(oldest[0]!));
    const gone = oldest.filter((id) => !leftIds.has(id));
    assert.deepEqual(gone, oldest.slice(0, gone.length));
    await s.srv.capabilities.logs.retain();
    assert.equal(
      s.logs.filter((l) => l.includes("more log bytes than its size retention")).length,
      1,
      "logged once",
    );
    // The full-text index lost the deleted lines too.
    const remainingOverheat = left.filter((l) => l.message.includes("overheat")).length;
    assert.equal((await all({ q: "overheat", since: new Date(T0).toISOString() })).length, remainingOverheat);
    // By age: 8 days on, everything received is older than the 7-day retention.
    store.maxBytesPerProject = 1024 ** 3;
    const aged = await s.srv.capabilities.logs.retain(Date.now() + 8 * 86_400_000);
    assert.equal(aged.byAge, left.length);
    assert.deepEqual(await all({ since: new Date(T0 - 10_000 * S).toISOString() }), []);
    assert.equal((await store.usage()).get(await s.srv.services.accounts.projectId("default")), 0);
    // Still ingesting after retention; the answer counts the drops.
    const bad = await uploadLogs(s, "l3-0003", 2, {
      logs: [{ t: Date.now(), src: "a", msg: "after retention" }],
    });
    assert.equal(bad.status, 200);
    await waitFor(async () => (await all({ q: "retention" })).length === 1, "the new line searchable");
  });
});
