// @matrix: once
// Journal (docs/protocol.md §8): durable agent state, replayed on open and compacted into a snapshot.
import assert from "node:assert/strict";
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { Journal } from "../src/journal.js";

const root = mkdtempSync(join(tmpdir(), "tether-journal-"));
after(() => rmSync(root, { recursive: true, force: true }));

// The agent data dir exists before the journal opens.
const freshDir = (): string => mkdtempSync(join(root, "j-"));

const journalFile = (dir: string) => join(dir, "journal.jsonl");
const stateFile = (dir: string) => join(dir, "state.json");

test("a fresh journal starts empty and creates its files", () => {
  const dir = freshDir();
  const j = new Journal(dir);
  try {
    assert.equal(j.hsCounter, 0n);
    assert.equal(j.nextMid, 1);
    assert.equal(j.outbox.size, 0);
    assert.equal(j.seenLow, 0);
    assert.deepEqual(j.seenAbove, []);
    assert.equal(j.fsyncs, 0);
    assert.ok(existsSync(journalFile(dir)));
    assert.ok(existsSync(stateFile(dir)));
  } finally {
    j.close();
  }
});

test("write applies in memory at once, before it resolves", async () => {
  const dir = freshDir();
  const j = new Journal(dir);
  try {
    const p = j.write([
      { k: "hs", counter: "7" },
      { k: "seen", mid: 1 },
    ]);
    assert.equal(j.hsCounter, 7n);
    assert.equal(j.hasSeen(1), true);
    assert.equal(j.fsyncs, 0, "not on disk yet in the same turn");
    await p;
    assert.equal(j.fsyncs, 1);
    const lines = readFileSync(journalFile(dir), "utf8").trim().split("\n");
    assert.deepEqual(
      lines.map((l) => JSON.parse(l)),
      [
        { k: "hs", counter: "7" },
        { k: "seen", mid: 1 },
      ],
    );
  } finally {
    j.close();
  }
});

test("records survive a reopen: hs counter, outbox minus acked, seen ids, nextMid", async () => {
  const dir = freshDir();
  const j = new Journal(dir);
  await j.write([{ k: "hs", counter: "5" }]);
  await j.write([{ k: "hs", counter: "18446744073709551615" }]); // uint64 max survives as bigint
  await j.write([{ k: "hs", counter: "3" }]); // lower counters never go back
  const m1 = j.allocMid();
  const m2 = j.allocMid();
  const m3 = j.allocMid();
  assert.deepEqual([m1, m2, m3], [1, 2, 3]);
  await j.write([
    { k: "out", mid: m1, t: "report", b: { a: 1 } },
    { k: "out", mid: m2, t: "report", b: { a: 2 } },
    { k: "out", mid: m3, t: "event", b: [1, "x", null] },
  ]);
  await j.write([{ k: "acked", mids: [m1, m3] }]);
  // downstream ids arrive out of order, with a duplicate
  await j.write([
    { k: "seen", mid: 1 },
    { k: "seen", mid: 3 },
    { k: "seen", mid: 5 },
    { k: "seen", mid: 3 },
  ]);
  j.close();

  const r = new Journal(dir);
  try {
    assert.equal(r.hsCounter, 18446744073709551615n);
    assert.deepEqual([...r.outbox.keys()], [m2]);
    assert.deepEqual(r.outbox.get(m2), { mid: m2, t: "report", b: { a: 2 } });
    assert.equal(r.seenLow, 1);
    assert.deepEqual(r.seenAbove, [3, 5]);
    for (const [mid, seen] of [
      [1, true],
      [2, false],
      [3, true],
      [4, false],
      [5, true],
      [6, false],
    ] as const)
      assert.equal(r.hasSeen(mid), seen, `seen ${mid}`);
    assert.equal(r.nextMid, 4);
    assert.equal(r.allocMid(), 4, "message ids continue after the reopen");

    // filling the gaps collapses the seen set, and that too survives
    await r.write([
      { k: "seen", mid: 2 },
      { k: "seen", mid: 4 },
    ]);
    assert.equal(r.seenLow, 5);
    assert.deepEqual(r.seenAbove, []);
  } finally {
    r.close();
  }
  const r2 = new Journal(dir);
  try {
    assert.equal(r2.seenLow, 5);
    assert.deepEqual(r2.seenAbove, []);
    assert.equal(r2.nextMid, 4, "an allocated but never written mid is not durable");
  } finally {
    r2.close();
  }
});

test("nextMid survives even when every message was acknowledged", async () => {
  const dir = freshDir();
  const j = new Journal(dir);
  for (let i = 0; i < 3; i++) {
    const mid = j.allocMid();
    await j.write([{ k: "out", mid, t: "x", b: i }]);
    await j.write([{ k: "acked", mids: [mid] }]);
  }
  j.close();
  const r = new Journal(dir);
  try {
    assert.equal(r.outbox.size, 0);
    assert.equal(r.allocMid(), 4);
  } finally {
    r.close();
  }
  // and again, now from the snapshot alone
  const r2 = new Journal(dir);
  try {
    assert.equal(r2.allocMid(), 4);
  } finally {
    r2.close();
  }
});

test("a torn trailing line is ignored and earlier records are kept", async () => {
  const dir = freshDir();
  const j = new Journal(dir);
  await j.write([{ k: "hs", counter: "9" }]);
  await j.write([{ k: "out", mid: j.allocMid(), t: "report", b: "keep" }]);
  await j.write([{ k: "seen", mid: 1 }]);
  j.close();
  const full = `${JSON.stringify({ k: "seen", mid: 2 })}\n`;
  appendFileSync(journalFile(dir), full.slice(0, Math.floor(full.length / 2))); // crash mid-write

  const r = new Journal(dir);
  try {
    assert.equal(r.hsCounter, 9n);
    assert.deepEqual([...r.outbox.values()], [{ mid: 1, t: "report", b: "keep" }]);
    assert.equal(r.hasSeen(1), true);
    assert.equal(r.hasSeen(2), false, "the torn record was never acknowledged");
    assert.equal(readFileSync(journalFile(dir), "utf8"), "", "the torn line was compacted away");
    // the journal is usable after recovery
    await r.write([{ k: "seen", mid: 2 }]);
  } finally {
    r.close();
  }
  const r2 = new Journal(dir);
  try {
    assert.equal(r2.seenLow, 2);
    assert.equal(r2.hsCounter, 9n);
  } finally {
    r2.close();
  }
});

test("100 writes issued in one turn share a single fdatasync", async () => {
  const dir = freshDir();
  const j = new Journal(dir);
  try {
    const before = j.fsyncs;
    const ps: Promise<void>[] = [];
    for (let i = 1; i <= 100; i++) ps.push(j.write([{ k: "seen", mid: i }]));
    await Promise.all(ps);
    assert.equal(j.fsyncs, before + 1);
    const lines = readFileSync(journalFile(dir), "utf8").split("\n").filter(Boolean);
    assert.equal(lines.length, 100);
    assert.deepEqual(JSON.parse(lines[99]), { k: "seen", mid: 100 });
    // a write in a later turn is a new batch
    await j.write([{ k: "seen", mid: 101 }]);
    assert.equal(j.fsyncs, before + 2);
    assert.equal(j.seenLow, 101);
  } finally {
    j.close();
  }
});

test("compaction on reopen: the journal is emptied and state.json holds the state", async () => {
  const dir = freshDir();
  const j = new Journal(dir);
  await j.write([
    { k: "hs", counter: "42" },
    { k: "seen", mid: 1 },
    { k: "seen", mid: 4 },
  ]);
  await j.write([
    { k: "out", mid: j.allocMid(), t: "a", b: 1 },
    { k: "out", mid: j.allocMid(), t: "b", b: 2 },
  ]);
  await j.write([{ k: "acked", mids: [1] }]);
  j.close();
  assert.notEqual(readFileSync(journalFile(dir), "utf8"), "", "records are in the journal before compaction");

  const r = new Journal(dir);
  try {
    assert.equal(readFileSync(journalFile(dir), "utf8"), "");
    assert.ok(!existsSync(`${stateFile(dir)}.tmp`), "no temporary snapshot left behind");
    const snap = JSON.parse(readFileSync(stateFile(dir), "utf8"));
    assert.deepEqual(snap, {
      hsCounter: "42",
      nextMid: 3,
      outbox: [{ mid: 2, t: "b", b: 2 }],
      execs: [],
      seenLow: 1,
      seenAbove: [4],
    });
  } finally {
    r.close();
  }
});

test("allocMid is strictly increasing", () => {
  const dir = freshDir();
  const j = new Journal(dir);
  try {
    let prev = 0;
    for (let i = 0; i < 1000; i++) {
      const m = j.allocMid();
      assert.equal(m, prev + 1);
      prev = m;
    }
    assert.equal(j.nextMid, 1001);
  } finally {
    j.close();
  }
});

test("an out record with a higher mid pushes nextMid past it", async () => {
  const dir = freshDir();
  const j = new Journal(dir);
  try {
    await j.write([{ k: "out", mid: 50, t: "x", b: null }]);
    assert.equal(j.allocMid(), 51);
  } finally {
    j.close();
  }
});

test("journal and snapshot files are private (0600)", async () => {
  const dir = freshDir();
  const j = new Journal(dir);
  await j.write([{ k: "hs", counter: "1" }]);
  j.close();
  const r = new Journal(dir); // compaction rewrites both files
  r.close();
  for (const f of [journalFile(dir), stateFile(dir)])
    assert.equal(statSync(f).mode & 0o777, 0o600, `${f} mode ${(statSync(f).mode & 0o777).toString(8)}`);
});

test("a journal past 1 MiB is compacted after the flush, and nothing is lost", async () => {
  const dir = freshDir();
  const j = new Journal(dir);
  const big = "x".repeat(1024 * 1024 + 10);
  const mid = j.allocMid();
  await j.write([
    { k: "out", mid, t: "blob", b: big },
    { k: "hs", counter: "77" },
  ]);
  assert.equal(readFileSync(journalFile(dir), "utf8"), "", "compacted once over the threshold");
  const snap = JSON.parse(readFileSync(stateFile(dir), "utf8"));
  assert.equal(snap.outbox[0].b.length, big.length);
  // the reopened descriptor still appends
  await j.write([{ k: "seen", mid: 1 }]);
  assert.equal(readFileSync(journalFile(dir), "utf8"), `${JSON.stringify({ k: "seen", mid: 1 })}\n`);
  j.close();
  const r = new Journal(dir);
  try {
    assert.equal(r.outbox.get(mid)?.b, big);
    assert.equal(r.hsCounter, 77n);
    assert.equal(r.seenLow, 1);
  } finally {
    r.close();
  }
});
