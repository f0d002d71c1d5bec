// @matrix: once
// Session recordings as asciicast v2 (docs/protocol.md §17.7): the header and events, a UTF-8
// character split across two output chunks, resizes, the size cap and its closing notice, the
// file's mode, reading one back (and refusing a path for an id), pruning the oldest first while
// a recording in progress is kept, and Debian's real `asciinema cat` replaying the file.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { text } from "node:stream/consumers";
import { after, test } from "node:test";
import { pino } from "pino";
import { cleanupTempDirs, tempDir } from "../../../tests/e2e/harness.js";
import { openRecording, pruneRecordings, recordingsDir, startRecording } from "../src/tunnels/recorder.js";

after(() => cleanupTempDirs());

const logs: string[] = [];
const log = pino({ level: "info" }, { write: (s: string) => void logs.push(s) });
const SID = (n: number) => `ses_${String(n).padStart(20, "0")}`;
const T0 = 1_740_000_000_123;

const asciinema = spawnSync("asciinema", ["--version"], { encoding: "utf8" }).status === 0;
function asciinemaCat(file: string): string | undefined {
  if (!asciinema) {
    if (process.env.CI) assert.fail("asciinema is not installed (apt-get install -y asciinema)");
    process.stderr.write("SKIPPED: asciinema is not installed; the playback check did not run\n");
    return undefined;
  }
  // asciinema reads keys from /dev/tty even for `cat`: give it a terminal with util-linux's script.
  return execFileSync("script", ["-qec", `asciinema cat '${file}'`, "/dev/null"], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, LANG: "C.UTF-8" },
  });
}

const lines = (file: string) =>
  readFileSync(file, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l));

test("header, output and resize events; a character split across chunks arrives whole; asciinema plays it", async () => {
  const dataDir = tempDir("tether-rec-");
  let now = T0;
  const r = startRecording({
    dataDir,
    projectId: 3,
    sessionId: SID(1),
    cols: 80,
    rows: 24,
    term: "xterm-256color",
    shell: "/bin/bash",
    maxBytes: 1024 * 1024,
    log,
    clock: () => now,
  });
  const enc = new TextEncoder();
  now += 250;
  r.output(enc.encode("$ echo caf"));
  const e = enc.encode("é ✓\r\n"); // é is c3 a9: split between the two bytes
  now += 1000;
  r.output(e.subarray(0, 1));
  r.output(e.subarray(1));
  now += 500;
  r.resize(120, 40);
  r.output(enc.encode("done\r\n"));
  r.output(new Uint8Array([0xe2, 0x9c])); // a truncated ✓ at the very end: flushed as U+FFFD
  await r.close();
  await r.close(); // idempotent

  const file = join(recordingsDir(dataDir, 3), `${SID(1)}.cast`);
  assert.equal((statSync(file).mode & 0o777).toString(8), "600", "a recording can hold what was typed");
  const [header, ...events] = lines(file);
  assert.deepEqual(header, {
    version: 2,
    width: 80,
    height: 24,
    timestamp: Math.floor(T0 / 1000),
    env: { TERM: "xterm-256color", SHELL: "/bin/bash" },
  });
  assert.deepEqual(events, [
    [0.25, "o", "$ echo caf"],
    [1.25, "o", "é ✓\r\n"],
    [1.75, "r", "120x40"],
    [1.75, "o", "done\r\n"],
    [1.75, "o", "\ufffd"],
  ]);
  const played = asciinemaCat(file);
  if (played !== undefined) assert.match(played, /\$ echo café ✓\r?\ndone/);
});

test("the size cap: the file stays under maxBytes, ends with a notice, and still plays", async () => {
  const dataDir = tempDir("tether-rec-cap-");
  const maxBytes = 4096;
  const r = startRecording({
    dataDir,
    projectId: 1,
    sessionId: SID(2),
    cols: 80,
    rows: 24,
    term: "xterm",
    maxBytes,
    log,
  });
  const chunk = new TextEncoder().encode(`${"y\r\n".repeat(100)}`);
  for (let i = 0; i < 1000; i++) r.output(chunk);
  r.resize(10, 10); // after the cap: nothing more
  await r.close();
  const file = join(recordingsDir(dataDir, 1), `${SID(2)}.cast`);
  assert.ok(statSync(file).size <= maxBytes, `${statSync(file).size} bytes`);
  const ev = lines(file);
  assert.equal(ev[0].version, 2);
  assert.deepEqual(ev.at(-1).slice(1), ["o", "\r\n[recording stopped: 4 KiB limit]\r\n"]);
  assert.ok(ev.length > 3, "output before the cap was kept");
  assert.ok(!ev.some((x: unknown[]) => x[1] === "r"), "nothing after the cap");
  assert.ok(logs.some((l) => l.includes("size limit reached")));
  const played = asciinemaCat(file);
  if (played !== undefined) assert.match(played, /recording stopped/);
});

test("openRecording: the file as a stream; undefined when absent; an id is never a path", async () => {
  const dataDir = tempDir("tether-rec-open-");
  const r = startRecording({
    dataDir,
    projectId: 2,
    sessionId: SID(3),
    cols: 1,
    rows: 1,
    term: "xterm",
    maxBytes: 1e6,
    log,
  });
  r.output(new TextEncoder().encode("hi"));
  await r.close();
  const s = openRecording(dataDir, 2, SID(3));
  assert.ok(s);
  assert.equal(await text(s), readFileSync(join(recordingsDir(dataDir, 2), `${SID(3)}.cast`), "utf8"));
  assert.equal(openRecording(dataDir, 1, SID(3)), undefined, "another project's directory");
  assert.equal(openRecording(dataDir, 2, SID(4)), undefined, "not recorded");
  writeFileSync(join(dataDir, "secret.cast"), "x");
  assert.equal(openRecording(dataDir, 2, "../../secret"), undefined);
  assert.throws(() =>
    startRecording({
      dataDir,
      projectId: 2,
      sessionId: "../x",
      cols: 1,
      rows: 1,
      term: "x",
      maxBytes: 1e6,
      log,
    }),
  );
});

test("pruneRecordings deletes the oldest first until under the budget, never one being written", async () => {
  const dataDir = tempDir("tether-rec-prune-");
  const dir = recordingsDir(dataDir, 5);
  // The oldest is still being written (a long session): it is skipped, the next oldest go.
  const live = startRecording({
    dataDir,
    projectId: 5,
    sessionId: SID(10),
    cols: 1,
    rows: 1,
    term: "x",
    maxBytes: 1e6,
    log,
  });
  live.output(new TextEncoder().encode("x".repeat(1000)));
  const base = Date.now() / 1000 - 1000;
  utimesSync(join(dir, `${SID(10)}.cast`), base, base);
  for (let i = 1; i <= 4; i++) {
    const f = join(dir, `${SID(10 + i)}.cast`);
    writeFileSync(f, "z".repeat(1000));
    utimesSync(f, base + i * 10, base + i * 10);
  }
  await pruneRecordings(dataDir, 5, 2500);
  assert.deepEqual(
    readdirSync(dir).sort(),
    [SID(10), SID(13), SID(14)].map((s) => `${s}.cast`),
  );
  await live.close();
  await pruneRecordings(dataDir, 5, 10_000);
  assert.equal(readdirSync(dir).length, 3, "under the budget: nothing deleted");
  await pruneRecordings(dataDir, 99, 0); // no directory: nothing to do
});
