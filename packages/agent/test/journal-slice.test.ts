// @matrix: once
// Journal slices (control/journal-slice.ts): the journal core replays, batches and compacts a
// capability's records without knowing them; the exec slice keeps today's on-disk format.
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { execDone, execJournal, execPid, execStarted } from "../src/capabilities/exec/exec-journal.js";
import { Journal as JournalCore } from "../src/control/journal.js";
import type { JournalSlice } from "../src/control/journal-slice.js";
import { Journal } from "../src/journal.js";

const root = mkdtempSync(join(tmpdir(), "tether-slice-"));
after(() => rmSync(root, { recursive: true, force: true }));
const freshDir = (): string => mkdtempSync(join(root, "j-"));
const fixture = new URL("./fixtures/journal-v1/", import.meta.url).pathname;

/** A toy slice: counts records of kind "tick" under the state.json member "ticks". */
const ticks: JournalSlice<{ k: "tick"; n: number }, { total: number }> = {
  key: "ticks",
  kinds: ["tick"],
  init: () => ({ total: 0 }),
  apply: (s, r) => {
    s.total += r.n;
  },
  load: (s, saved) => {
    s.total = saved as number;
  },
  snapshot: (s) => s.total,
};

test("a slice's records are applied on write, replayed on open and folded into its snapshot member", async () => {
  const dir = freshDir();
  const j = new JournalCore(dir, [ticks]);
  await j.write([
    { k: "tick", n: 2 },
    { k: "hs", counter: "5" },
  ]);
  assert.equal(j.state(ticks).total, 2, "applied at once");
  j.later([{ k: "tick", n: 3 }]);
  await j.write([{ k: "seen", mid: 1 }]);
  j.close();
  assert.equal(
    readFileSync(join(dir, "journal.jsonl"), "utf8"),
    '{"k":"tick","n":2}\n{"k":"hs","counter":"5"}\n{"k":"tick","n":3}\n{"k":"seen","mid":1}\n',
  );
  const r = new JournalCore(dir, [ticks]);
  try {
    assert.equal(r.state(ticks).total, 5);
    assert.equal(r.hsCounter, 5n);
    assert.equal(
      readFileSync(join(dir, "state.json"), "utf8"),
      '{"hsCounter":"5","nextMid":1,"outbox":[],"seenLow":1,"seenAbove":[],"ticks":5}',
      "core members first, then the slice's",
    );
  } finally {
    r.close();
  }
  const r2 = new JournalCore(dir, [ticks]); // from the snapshot alone
  try {
    assert.equal(r2.state(ticks).total, 5);
  } finally {
    r2.close();
  }
});

test("slices must not collide with the core or each other; a missing slice is an error, not silence", () => {
  assert.throws(() => new JournalCore(freshDir(), [{ ...ticks, kinds: ["seen"] }]), /kind seen is taken/);
  assert.throws(() => new JournalCore(freshDir(), [{ ...ticks, key: "outbox" }]), /member outbox is taken/);
  assert.throws(() => new JournalCore(freshDir(), [ticks, { ...ticks, key: "other" }]), /kind tick is taken/);
  const j = new JournalCore(freshDir(), [ticks]);
  try {
    assert.throws(() => j.state(execJournal), /opened without the slice execs/);
  } finally {
    j.close();
  }
});

test("exec slice round trip: started, pid, done survive a reopen; records keep their on-disk shape", async () => {
  const dir = freshDir();
  const j = new Journal(dir);
  await j.write([execStarted("cmd_a"), { k: "seen", mid: 1 }]);
  j.later([execPid("cmd_a", 42, "777")]);
  await j.write([execStarted("cmd_b"), execDone("cmd_b")]);
  await j.write([execStarted("cmd_b")]); // a re-delivered start never reopens a finished command
  await j.write([execPid("cmd_b", 43, "888")]); // nor does a pid for it
  j.close();
  assert.deepEqual(readFileSync(join(dir, "journal.jsonl"), "utf8").trim().split("\n"), [
    '{"k":"exec","id":"cmd_a","st":"started"}',
    '{"k":"seen","mid":1}',
    '{"k":"exec","id":"cmd_a","st":"pid","pid":42,"since":"777"}',
    '{"k":"exec","id":"cmd_b","st":"started"}',
    '{"k":"exec","id":"cmd_b","st":"done"}',
    '{"k":"exec","id":"cmd_b","st":"started"}',
    '{"k":"exec","id":"cmd_b","st":"pid","pid":43,"since":"888"}',
  ]);
  const r = new Journal(dir);
  try {
    assert.deepEqual(
      [...r.state(execJournal)],
      [
        ["cmd_a", { st: "started", pid: 42, since: "777" }],
        ["cmd_b", { st: "done" }],
      ],
    );
    assert.deepEqual(JSON.parse(readFileSync(join(dir, "state.json"), "utf8")).execs, [
      ["cmd_a", { st: "started", pid: 42, since: "777" }],
      ["cmd_b", { st: "done" }],
    ]);
  } finally {
    r.close();
  }
});

test("exec slice compaction keeps every unfinished command and the newest 10 000 finished ones", async () => {
  const dir = freshDir();
  const j = new Journal(dir);
  await j.write([execStarted("running")]);
  const recs = [];
  for (let i = 0; i < 10_005; i++) recs.push(execStarted(`c${i}`), execDone(`c${i}`));
  await j.write(recs);
  j.close();
  const r = new Journal(dir);
  try {
    const execs = r.state(execJournal);
    assert.equal(execs.size, 10_001);
    assert.deepEqual(execs.get("running"), { st: "started" });
    assert.equal(execs.has("c4"), false, "the oldest finished ids are dropped");
    assert.deepEqual(execs.get("c5"), { st: "done" });
    assert.deepEqual(execs.get("c10004"), { st: "done" });
  } finally {
    r.close();
  }
});

test("loads a data directory written by the agent before capability modules, byte for byte", () => {
  // Captured from the previous agent (journal.ts with exec records built in): a snapshot
  // holding two commands plus a journal tail with more records, including a deferred pid.
  const dir = freshDir();
  cpSync(join(fixture, "state.json"), join(dir, "state.json"));
  cpSync(join(fixture, "journal.jsonl"), join(dir, "journal.jsonl"));
  const expected = JSON.parse(readFileSync(join(fixture, "expected.json"), "utf8"));
  const j = new Journal(dir);
  try {
    assert.deepEqual(
      {
        hsCounter: j.hsCounter.toString(),
        nextMid: j.nextMid,
        outbox: [...j.outbox.values()],
        seenLow: j.seenLow,
        seenAbove: j.seenAbove,
        execs: [...j.state(execJournal)],
      },
      expected,
    );
    assert.equal(
      readFileSync(join(dir, "state.json"), "utf8"),
      readFileSync(join(fixture, "state.compacted.json"), "utf8"),
      "the new snapshot is byte-identical to the one the old agent wrote",
    );
    assert.equal(readFileSync(join(dir, "journal.jsonl"), "utf8"), "");
  } finally {
    j.close();
  }
});

test("a snapshot from before exec (no `execs` member) loads with no commands", () => {
  const dir = freshDir();
  writeFileSync(
    join(dir, "state.json"),
    '{"hsCounter":"9","nextMid":2,"outbox":[{"mid":1,"t":"echo.reply","b":{"ref":"r","data":"d"}}],"seenLow":3,"seenAbove":[]}',
  );
  const j = new Journal(dir);
  try {
    assert.equal(j.state(execJournal).size, 0);
    assert.equal(j.hsCounter, 9n);
    assert.equal(j.outbox.size, 1);
    assert.equal(
      readFileSync(join(dir, "state.json"), "utf8"),
      '{"hsCounter":"9","nextMid":2,"outbox":[{"mid":1,"t":"echo.reply","b":{"ref":"r","data":"d"}}],"seenLow":3,"seenAbove":[],"execs":[]}',
    );
  } finally {
    j.close();
  }
});
