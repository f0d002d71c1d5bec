// @matrix: once
// The journal and the agent's own log as sources (docs/protocol.md §15). The journal is a real
// child process: a stand-in journalctl script printing canned `-o json` lines (this machine may
// have no journal), so the spawn, the arguments (--since now, then --after-cursor with the saved
// cursor, -u per unit), parsing and the restart path are exercised. The agent's own pino log is
// teed into the runtime (records written before it started included) without feeding back.
import assert from "node:assert/strict";
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { Writable } from "node:stream";
import pino from "pino";
import { AgentLogTap } from "../src/capabilities/logs/index.js";
import { harness, tempDir } from "./fixtures/logs/support.js";

function fakeJournalctl(dir: string, entries: unknown[]): { command: string; args: () => string[][] } {
  const canned = join(dir, "canned.json");
  writeFileSync(
    canned,
    `${entries.map((e) => (typeof e === "string" ? e : JSON.stringify(e))).join("\n")}\n`,
  );
  const argsFile = join(dir, "args.txt");
  const command = join(dir, "journalctl");
  writeFileSync(
    command,
    `#!/bin/sh\nprintf '%s\\n' "$*" >> '${argsFile}'\ncat '${canned}'\nexec sleep 600\n`,
  );
  chmodSync(command, 0o755);
  return {
    command,
    args: () =>
      existsSync(argsFile)
        ? readFileSync(argsFile, "utf8")
            .trim()
            .split("\n")
            .map((l) => l.split(" "))
        : [],
  };
}

test("journal: canned journalctl JSON becomes lines with unit, priority, level and journal time; the cursor resumes", async (t) => {
  const dir = tempDir(t);
  const j = fakeJournalctl(dir, [
    {
      __CURSOR: "c1",
      __REALTIME_TIMESTAMP: "1760000000000001",
      PRIORITY: "3",
      _SYSTEMD_UNIT: "nav.service",
      MESSAGE: "planner failed",
    },
    { __CURSOR: "c2", __REALTIME_TIMESTAMP: "1760000000500000", PRIORITY: "6", MESSAGE: [104, 105, 255] },
    // The agent's own lines (same pid) come through the `agent` source instead.
    { __CURSOR: "c3", PRIORITY: "6", _PID: String(process.pid), MESSAGE: "agent line via journal" },
    "this is not json",
  ]);
  const h = harness(t, {
    dataDir: dir,
    flags: { journal: true, journalUnits: ["nav.service", "motor.service"] },
    journalctl: j.command,
    journalDir: dir,
  });
  await h.rt.start();
  assert.ok(h.rt.journalRunning);
  await h.wait(() => h.lines().length === 2 && h.fake.gaps.length === 1, "two journal lines and a gap");
  assert.deepEqual(h.lines(), [
    { t: 1760000000000, src: "journal", msg: "planner failed", pri: 3, lvl: "error", unit: "nav.service" },
    { t: 1760000000500, src: "journal", msg: "hi\uFFFD", pri: 6, lvl: "info" },
  ]);
  assert.equal(h.fake.gaps[0]!.reason, "parse-error");
  assert.equal(h.fake.gaps[0]!.source, "journal");
  assert.equal(h.fake.gaps[0]!.count, 1);
  assert.deepEqual(j.args()[0], [
    "-f",
    "-o",
    "json",
    "--no-pager",
    "--since",
    "now",
    "-u",
    "nav.service",
    "-u",
    "motor.service",
  ]);
  await h.rt.stop();
  const saved = JSON.parse(readFileSync(join(dir, "logs", "offsets.json"), "utf8"));
  assert.equal(saved.journalCursor, "c3", "the last entry read (sealed or skipped)");

  // The next start resumes after the saved cursor instead of "now".
  const again = harness(t, {
    dataDir: dir,
    flags: { journal: true },
    journalctl: j.command,
    journalDir: dir,
  });
  await again.rt.start();
  await again.wait(() => j.args().length === 2, "journalctl started again");
  assert.deepEqual(j.args()[1], ["-f", "-o", "json", "--no-pager", "--after-cursor", "c3"]);
});

test("journal: not followed where there is no journal, or when turned off", async (t) => {
  const dir = tempDir(t);
  const j = fakeJournalctl(dir, []);
  const none = harness(t, {
    dataDir: dir,
    flags: { journal: true },
    journalctl: j.command,
    journalDir: join(dir, "no-such-dir"),
  });
  await none.rt.start();
  assert.equal(none.rt.journalRunning, false);
  assert.ok(none.logged.some((l) => String(l.msg).includes("no systemd journal here")));
  const off = harness(t, { dataDir: dir, flags: { journal: false }, journalctl: j.command, journalDir: dir });
  await off.rt.start();
  assert.equal(off.rt.journalRunning, false);
  // Remote settings may turn it on (journal is not device-only).
  off.rt.applySettings({ journal: true });
  assert.equal(off.rt.journalRunning, true);
});

test("the agent's own log: records (also those before start) become `agent` lines with level; no feedback loop", async (t) => {
  const dir = tempDir(t);
  const out: string[] = [];
  const base = pino(
    { level: "info" },
    new Writable({
      write(c, _e, cb) {
        out.push(String(c));
        cb();
      },
    }),
  );
  const tap = new AgentLogTap();
  const log = tap.wrap(base);
  log.info("before the runtime started");
  const h = harness(t, { dataDir: dir, agentLog: tap, flags: { rate: 3, burst: 3 } });
  await h.rt.start();
  log.child({ part: "control" }).warn({ deviceId: "dev_1" }, "broker unreachable");
  log.debug("below the level: not written, not uploaded");
  await h.wait(() => h.msgs("agent").some((m) => m.startsWith("broker unreachable")), "the warning");
  const lines = h.lines().filter((l) => l.src === "agent");
  assert.equal(lines[0]!.msg, "before the runtime started");
  assert.equal(lines[0]!.lvl, "info");
  const w = lines.find((l) => l.msg.startsWith("broker unreachable"))!;
  assert.equal(w.lvl, "warn");
  assert.match(w.msg, /"part":"control"/);
  assert.match(w.msg, /"deviceId":"dev_1"/);
  // The original destination still gets everything.
  assert.ok(out.some((s) => s.includes("broker unreachable")));
  // A flood of the agent's own log is rate limited like any source, and its warning does not loop.
  for (let i = 0; i < 50; i++) log.info(`spam ${i}`);
  await h.wait(() => h.fake.gaps.some((g) => g.source === "agent"), "the agent source's gap");
  // agentLog off (remote): nothing more.
  h.rt.applySettings({ agentLog: false });
  const n = h.lines().length;
  log.error("after agentLog was turned off");
  h.rt.flush();
  assert.equal(h.lines().length, n);
});
