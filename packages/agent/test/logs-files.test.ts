// @matrix: once
// Followed files on the agent (docs/protocol.md §15), real files in a temp dir and the logs
// runtime sealing into a fake telemetry stream: follow + append (a file present at start from
// its end), rotation by rename, truncation, a file created later, globs, a restart resuming
// from the saved offset (also across a rotation while stopped), a 10 MB line cut, rate limits
// as one gap per source with the right count, and the allow-list refusing what remote
// settings try to add.
import assert from "node:assert/strict";
import { appendFileSync, renameSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { LOG_LIMITS } from "@tether/protocol";
import { harness, tempDir } from "./fixtures/logs/support.js";

test("follow + append: a file present at start is read from its end; new lines come with source and level", async (t) => {
  const dir = tempDir(t);
  const f = join(dir, "app.log");
  writeFileSync(f, "old line, already there\n");
  const h = harness(t, { dataDir: dir, flags: { follow: [f] } });
  await h.rt.start();
  assert.deepEqual(h.rt.files, [f]);
  appendFileSync(f, 'new 1\n2025-01-01 ERROR motor stalled\n{"level":"warn","msg":"low"}\npartial');
  await h.wait(() => h.lines().length >= 3, "three lines");
  const got = h.lines();
  assert.deepEqual(
    got.map((l) => [l.src, l.msg, l.lvl]),
    [
      [f, "new 1", undefined],
      [f, "2025-01-01 ERROR motor stalled", "error"],
      [f, '{"level":"warn","msg":"low"}', "warn"],
    ],
  );
  assert.ok(got.every((l) => typeof l.t === "number" && l.t > 0));
  // The partial line waits for its \n.
  appendFileSync(f, " line\n");
  await h.wait(() => h.lines().length === 4, "the completed line");
  assert.equal(h.lines()[3]!.msg, "partial line");
  const batch = h.fake.appended.at(-1)!;
  assert.equal(batch.span.count, batch.logs!.length);
});

test("rotation: the renamed file is read to its end (last line without \\n too), then the new one from 0", async (t) => {
  const dir = tempDir(t);
  const f = join(dir, "app.log");
  writeFileSync(f, "");
  const h = harness(t, { dataDir: dir, flags: { follow: [f] } });
  await h.rt.start();
  appendFileSync(f, "a\n");
  await h.wait(() => h.msgs().includes("a"), "a");
  renameSync(f, `${f}.1`);
  appendFileSync(`${f}.1`, "b written after the rename\nb-tail");
  writeFileSync(f, "c in the new file\n");
  await h.wait(() => h.msgs().includes("c in the new file"), "c");
  assert.deepEqual(h.msgs(f), ["a", "b written after the rename", "b-tail", "c in the new file"]);
  appendFileSync(f, "d\n");
  await h.wait(() => h.msgs().includes("d"), "d");
  assert.equal(h.lines().length, 5, "nothing twice");
});

test("truncation: the size shrank, reading starts again at 0", async (t) => {
  const dir = tempDir(t);
  const f = join(dir, "app.log");
  writeFileSync(f, "");
  const h = harness(t, { dataDir: dir, flags: { follow: [f] } });
  await h.rt.start();
  appendFileSync(f, "a fairly long first line\n");
  await h.wait(() => h.lines().length === 1, "first");
  truncateSync(f, 0);
  appendFileSync(f, "short\n");
  await h.wait(() => h.msgs().includes("short"), "after truncation");
  assert.deepEqual(h.msgs(), ["a fairly long first line", "short"]);
});

test("a file that does not exist yet is followed from its start once it appears; a glob picks up new files", async (t) => {
  const dir = tempDir(t);
  const later = join(dir, "later.log");
  const g = join(dir, "g");
  const { mkdirSync } = await import("node:fs");
  mkdirSync(g);
  writeFileSync(join(g, "a.log"), "a-old\n");
  writeFileSync(join(g, "skip.txt"), "");
  const h = harness(t, { dataDir: dir, flags: { follow: [later, join(g, "*.log")] } });
  await h.rt.start();
  assert.deepEqual(h.rt.files.sort(), [later, join(g, "a.log")].sort());
  writeFileSync(later, "first\nsecond\n");
  writeFileSync(join(g, "b.log"), "b1\n");
  appendFileSync(join(g, "a.log"), "a-new\n");
  appendFileSync(join(g, "skip.txt"), "not followed\n");
  await h.wait(
    () =>
      h.msgs(later).length === 2 &&
      h.msgs(join(g, "b.log")).length === 1 &&
      h.msgs(join(g, "a.log")).length === 1,
    "later.log, b.log and a.log",
  );
  assert.deepEqual(h.msgs(later), ["first", "second"]);
  assert.deepEqual(h.msgs(join(g, "b.log")), ["b1"], "a file appearing later: from 0");
  assert.deepEqual(h.msgs(join(g, "a.log")), ["a-new"], "present at start: from its end");
  assert.ok(!h.msgs().includes("not followed"));
});

test("a restart resumes at the saved offset: nothing lost, nothing twice (also across a rotation while stopped)", async (t) => {
  const dir = tempDir(t);
  const f = join(dir, "app.log");
  writeFileSync(f, "");
  const first = harness(t, { dataDir: dir, flags: { follow: [f] } });
  await first.rt.start();
  appendFileSync(f, "1\n2\n");
  await first.wait(() => first.lines().length === 2, "1 and 2");
  await first.rt.stop();
  // Written while the agent is down, then a second restart after a rotation.
  appendFileSync(f, "3\n4\n");
  const second = harness(t, { dataDir: dir, flags: { follow: [f] } });
  await second.rt.start();
  await second.wait(() => second.lines().length === 2, "3 and 4");
  assert.deepEqual(second.msgs(), ["3", "4"]);
  await second.rt.stop();
  appendFileSync(f, "5 before the rotation\n");
  renameSync(f, `${f}.1`);
  writeFileSync(f, "6 in the new file\n");
  const third = harness(t, { dataDir: dir, flags: { follow: [f] } });
  await third.rt.start();
  await third.wait(() => third.lines().length === 2, "5 and 6");
  assert.deepEqual(third.msgs(f), ["5 before the rotation", "6 in the new file"]);
});

test("a 10 MB line in a followed file arrives cut with the mark, at most the line limit", async (t) => {
  const dir = tempDir(t);
  const f = join(dir, "big.log");
  writeFileSync(f, "");
  const h = harness(t, { dataDir: dir, flags: { follow: [f] } });
  await h.rt.start();
  appendFileSync(f, Buffer.concat([Buffer.alloc(10 * 1024 * 1024, 0x62), Buffer.from("\nafter\n")]));
  await h.wait(() => h.msgs().includes("after"), "the line after", 10_000);
  const big = h.lines()[0]!;
  assert.ok(Buffer.byteLength(big.msg) <= LOG_LIMITS.maxLineBytes);
  assert.ok(big.cut! > 10 * 1024 * 1024 - LOG_LIMITS.maxLineBytes);
  assert.match(big.msg, /^b+ …\[cut [\d,]+ bytes\]$/);
});

test("rate limit per source: what is over it is dropped and recorded as one gap with count and source", async (t) => {
  const dir = tempDir(t);
  const f = join(dir, "flood.log");
  const quiet = join(dir, "quiet.log");
  writeFileSync(f, "");
  writeFileSync(quiet, "");
  const clock = 1_760_000_000_000; // frozen: the buckets never refill, so the counts are exact
  const h = harness(t, {
    dataDir: dir,
    flags: { follow: [f, quiet], rate: 10, burst: 10 },
    now: () => clock,
  });
  await h.rt.start();
  appendFileSync(f, Array.from({ length: 100 }, (_, i) => `flood ${i}\n`).join(""));
  appendFileSync(quiet, "quiet 1\n");
  await h.wait(() => h.fake.gaps.length > 0 && h.msgs(quiet).length === 1, "the gap and the quiet line");
  await h.rt.poke();
  h.rt.flush();
  assert.equal(h.msgs(f).length, 10);
  assert.deepEqual(
    h.msgs(f),
    Array.from({ length: 10 }, (_, i) => `flood ${i}`),
    "the first ones pass",
  );
  assert.equal(h.fake.gaps.length, 1, JSON.stringify(h.fake.gaps));
  const g = h.fake.gaps[0]!;
  assert.equal(g.count, 90);
  assert.equal(g.reason, "rate-limit");
  assert.equal(g.stream, "logs");
  assert.equal(g.source, f);
  assert.equal(g.from, clock);
  assert.equal(
    g.detail,
    `90 lines dropped from ${f} between ${new Date(clock).toISOString().slice(11, 19)} and ${new Date(clock).toISOString().slice(11, 19)}: rate limit 10 lines/s`,
  );
  assert.equal(h.rt.counts.dropped, 90);
  assert.ok(h.logged.some((l) => l.level === 40 && String(l.msg).includes("90 lines dropped")));
});

test("rate limit per device: all sources together; the gap says it was the device's limit", async (t) => {
  const dir = tempDir(t);
  const a = join(dir, "a.log");
  writeFileSync(a, "");
  const clock = 1_760_000_000_000;
  const h = harness(t, {
    dataDir: dir,
    flags: { follow: [a], rate: 1000, burst: 1000, deviceRate: 5, deviceBurst: 5 },
    now: () => clock,
  });
  await h.rt.start();
  appendFileSync(a, Array.from({ length: 20 }, (_, i) => `line ${i}\n`).join(""));
  await h.wait(() => h.fake.gaps.length === 1, "a gap");
  assert.equal(h.msgs(a).length, 5);
  assert.equal(h.fake.gaps[0]!.count, 15);
  assert.match(
    h.fake.gaps[0]!.detail!,
    /15 lines dropped from .*a\.log between .*: device rate limit 5 lines\/s$/,
  );
});

test("the allow-list: remote settings choose among allowed paths only and never widen it", async (t) => {
  const dir = tempDir(t);
  const { mkdirSync } = await import("node:fs");
  const allowedDir = join(dir, "allowed");
  mkdirSync(allowedDir);
  const ok = join(allowedDir, "ok.log");
  const secret = join(dir, "secret.log");
  writeFileSync(ok, "");
  writeFileSync(secret, "");
  symlinkSync(secret, join(allowedDir, "evil.log"));
  const h = harness(t, { dataDir: dir, flags: { allow: [join(allowedDir, "*.log")] } });
  await h.rt.start();
  assert.deepEqual(h.rt.files, []);
  h.rt.applySettings({
    follow: [secret, "/etc/passwd", join(allowedDir, "*.log")],
    allow: ["/"],
  });
  const warned = h.logged.filter((l) => l.level === 40).map((l) => String(l.msg));
  assert.ok(
    warned.some((m) => m.includes(`log path ${secret} refused: outside the device's allow-list`)),
    warned.join("\n"),
  );
  assert.ok(warned.some((m) => m.includes("log path /etc/passwd refused")));
  assert.ok(
    warned.some((m) => m.includes("tether.logs.allow is set only by the device's own file or flags")),
  );
  assert.deepEqual(h.rt.settings.allowed, [join(allowedDir, "*.log")], "not widened");
  assert.deepEqual(h.rt.settings.follow, [join(allowedDir, "*.log")]);
  // Files present when the settings arrive start at their end: write once they are open.
  await h.wait(() => h.rt.files.includes(ok), "ok.log followed");
  await h.rt.poke();
  appendFileSync(ok, "allowed line\n");
  appendFileSync(secret, "SECRET\n");
  await h.wait(() => h.msgs(ok).includes("allowed line"), "the allowed file");
  // The symlink matches the glob but points outside the allow-list: refused, not read.
  await h.wait(
    () => h.logged.some((l) => String(l.msg).includes(`${join(allowedDir, "evil.log")} refused`)),
    "the symlink refused",
  );
  await h.rt.poke();
  h.rt.flush();
  assert.ok(!h.msgs().includes("SECRET"));
  // A device's own --follow-log is allowed by itself.
  const own = harness(t, { dataDir: dir, flags: { follow: [secret] } });
  assert.deepEqual(own.rt.settings.allowed, [secret]);
});

test("a glob that also matches the rotated name: the renamed file is not read again from its start", async (t) => {
  const dir = tempDir(t);
  const a = join(dir, "a.log");
  writeFileSync(a, "old\n");
  const h = harness(t, { dataDir: dir, flags: { follow: [join(dir, "a.log*")] } });
  await h.rt.start();
  appendFileSync(a, "1\n");
  await h.wait(() => h.msgs().includes("1"), "1");
  renameSync(a, `${a}.1`);
  appendFileSync(`${a}.1`, "2\n");
  writeFileSync(a, "3\n");
  await h.wait(() => h.msgs().includes("3") && h.rt.files.includes(`${a}.1`), "3, and a.log.1 matched");
  appendFileSync(`${a}.1`, "4 late write to the old file\n");
  await h.wait(() => h.msgs().includes("4 late write to the old file"), "4");
  assert.deepEqual(h.msgs().sort(), ["1", "2", "3", "4 late write to the old file"]);
  assert.deepEqual(h.msgs(a), ["1", "2", "3"]);
});
