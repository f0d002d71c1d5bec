// @matrix: once
// Shell sessions without a PTY (docs/protocol.md §17.4): stdin, stdout and stderr as pipes.
// `printf 'ls\nexit 5\n' | tether shell dev` as the agent sees it (a login shell reading its
// commands from stdin, exit 5), stdout and stderr apart, binary both ways byte for byte,
// EOF closing stdin, SIGNAL frames to the process group, and a stalled consumer pausing stdout.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { harness, tempDir, waitFor } from "./fixtures/terminal/support.js";

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

test("printf 'ls\\nexit 5\\n' on stdin of the login shell: the listing, then exit 5", async (t) => {
  const h = harness(t);
  const ch = h.open({ pty: null });
  await waitFor(() => ch.readyCalled, "ready");
  ch.type("cd /; ls\nexit 5\n");
  ch.eof();
  await ch.done();
  assert.match(ch.text(), /^(bin|etc|usr)$/m);
  assert.deepEqual(ch.exitStatus, { code: 5, signal: null });
});

test("stdout and stderr stay apart", async (t) => {
  const h = harness(t);
  const ch = h.open({ pty: null, command: "echo to-out; echo to-err >&2; exit 0" });
  await ch.done();
  assert.equal(ch.text(), "to-out\n");
  assert.equal(ch.errText(), "to-err\n");
  assert.deepEqual(ch.exitStatus, { code: 0, signal: null });
});

test("a binary flood passes byte for byte, with a consumer that keeps stalling", async (t) => {
  const h = harness(t);
  const dir = tempDir(t);
  const file = join(dir, "flood.bin");
  const ch = h.open({ pty: null, command: `head -c 3000000 /dev/urandom | tee ${file}` }, 8 * 1024);
  // Stall and release the consumer a few times while it runs: backpressure on the pipe.
  for (let i = 0; i < 5 && ch.exitStatus === null; i++) {
    ch.stall();
    await waitFor(() => ch.refusals > i || ch.exitStatus !== null, "write() to return false");
    ch.release();
  }
  await ch.done();
  assert.equal(sha(ch.bytes()), sha(readFileSync(file)));
  assert.equal(ch.bytes().length, 3_000_000);
});

test("stdin: binary in, EOF closes it, cat hands back the same bytes", async (t) => {
  const h = harness(t);
  const ch = h.open({ pty: null, argv: ["cat"] });
  await waitFor(() => ch.readyCalled, "ready");
  const data = randomBytes(200_000);
  ch.type(data);
  ch.eof();
  await ch.done();
  assert.equal(sha(ch.bytes()), sha(data));
  assert.deepEqual(ch.exitStatus, { code: 0, signal: null });
});

test("a SIGNAL frame goes to the process group", async (t) => {
  const h = harness(t);
  const ch = h.open({ pty: null, argv: ["sleep", "1000"] });
  await waitFor(() => ch.readyCalled, "ready");
  ch.emit("signal", "TERM");
  await ch.done();
  assert.deepEqual(ch.exitStatus, { code: null, signal: "SIGTERM" });
});

test("a clean environment: no TERM without a PTY, HOME/USER/LOGNAME/SHELL, a UTF-8 locale", async (t) => {
  const h = harness(t);
  const ch = h.open({ pty: null, argv: ["env"] });
  await ch.done();
  const env = new Map(
    ch
      .text()
      .trim()
      .split("\n")
      .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
  );
  assert.equal(env.has("TERM"), false);
  for (const k of ["PATH", "HOME", "USER", "LOGNAME", "SHELL"]) assert.ok(env.get(k), `${k} is set`);
  assert.ok(env.get("LANG") || env.get("LC_ALL"), "a locale");
  if (!process.env.LANG && !process.env.LC_ALL) assert.equal(env.get("LANG"), "C.UTF-8");
  // Nothing of the agent's own environment beyond PATH, the locale and TZ.
  process.env.TETHER_TEST_SECRET = "x";
  t.after(() => delete process.env.TETHER_TEST_SECRET);
  const ch2 = h.open({ pty: null, argv: ["env"] });
  await ch2.done();
  assert.doesNotMatch(ch2.text(), /TETHER_TEST_SECRET/);
});
