// @matrix: once
// A log flood from one device (issue 12 "Bad input": millions of lines a minute): the device's
// sample budget counts log lines, so its uploads beyond the budget are answered 429 with
// Retry-After before they are parsed, and counted as rejected; what it had stored stays, and
// another device's lines go in and are searchable while the flood goes on.
import assert from "node:assert/strict";
import { after, test } from "node:test";
import type { LogSearchResult } from "@tether/protocol";
import { cleanupTempDirs, tempDir } from "../../../tests/e2e/harness.js";
import type { ServerConfig } from "../src/config.js";
import { startLogsServer, uploadLogs } from "./logs-support.js";

after(cleanupTempDirs);

const LINES = 10_000;
const lines = (tag: string, n: number) =>
  Array.from({ length: n }, (_, i) => ({
    t: Date.now(),
    src: "/var/log/flood.log",
    msg: `${tag} line ${i}`,
  }));

test("a flooding device is refused past its budget and counted; another device is served meanwhile", async () => {
  // A budget of 1,000 lines a second, burst 50,000; the flood sends 40 batches of 10,000 lines
  // at once (400,000 lines in a few seconds: millions a minute).
  const s = await startLogsServer(tempDir("tether-logs-flood-"), {
    telemetry: { deviceSamplesPerSecond: 1_000, deviceSampleBurst: 50_000 },
  } as Partial<ServerConfig>);
  try {
    const flood = await Promise.all(
      Array.from({ length: 40 }, (_, i) => uploadLogs(s, "l1-0001", i + 1, { logs: lines("flood", LINES) })),
    );
    // Meanwhile (the flood's uploads are still being answered) the other device uploads.
    const calm = await uploadLogs(s, "l2-0002", 1, {
      logs: [{ t: Date.now(), src: "/var/log/app.log", msg: "calm device reports nominal torque" }],
    });
    assert.equal(calm.status, 200, JSON.stringify(calm.body));
    const found = await s.viewer.call<LogSearchResult>(
      "GET",
      "/api/v1/logs?device=robot-2&q=nominal%20torque",
    );
    assert.deepEqual(
      found.lines.map((l) => l.message),
      ["calm device reports nominal torque"],
    );

    const ok = flood.filter((r) => r.status === 200);
    const refused = flood.filter((r) => r.status === 429);
    assert.equal(ok.length + refused.length, flood.length, `only 200 or 429: ${flood.map((r) => r.status)}`);
    assert.ok(ok.length >= 1 && ok.length <= 10, `the budget let ${ok.length} of 40 batches in`);
    assert.ok(refused.length >= 30, `${refused.length} refused`);
    for (const r of refused) {
      assert.equal(r.body.error.code, "TETHER_ERR_RATE_LIMITED");
      assert.match(r.body.error.message, /budget|in progress/);
    }
    // The refusals are counted, and what was accepted is all stored, no more.
    const rejected = Object.values(s.srv.telemetry.stats().batchesRejected).reduce((a, b) => a + b, 0);
    assert.ok(rejected >= refused.length, `rejected counted: ${rejected}`);
    // (Uploads sent at once may finish out of seq order: an older seq after a newer one is a
    // duplicate and stores nothing; a real agent uploads one at a time, in order.)
    const fresh = ok.filter((r) => !r.body.duplicate);
    assert.ok(fresh.length >= 1);
    const accepted = ok.reduce((n, r) => n + (r.body.accepted as number), 0);
    assert.equal(accepted, fresh.length * LINES);
    const page = await s.viewer.call<LogSearchResult>("GET", "/api/v1/logs?device=robot-1&q=flood&limit=1");
    assert.equal(page.lines.length, 1);
  } finally {
    await s.srv.close();
  }
});
