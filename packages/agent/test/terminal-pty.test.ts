// @matrix: once
// Shell sessions with a PTY on the agent (docs/protocol.md §17.4): real node-pty and real
// processes behind a fake channel. The login shell with TERM and the size, exit status;
// resize (and 0×0 / 100000 columns clamped); UTF-8 both ways and bytes that are not UTF-8
// passed untouched; argv and command modes; Ctrl-C as a byte, SIGNAL frames, EOF as Ctrl-D;
// the last output before exit never lost, even while the consumer is stalled; and a
// process closing its stdio before it exits is not hung up (its own status, not SIGHUP).
import assert from "node:assert/strict";
import { test } from "node:test";
import { harness, PTY, waitFor } from "./fixtures/terminal/support.js";

test("login shell: a prompt, then TERM and the size, and the exit status", async (t) => {
  const h = harness(t, { viaModule: true });
  const ch = h.open({ pty: { cols: 91, rows: 37, term: "xterm-256color" } });
  await waitFor(() => ch.readyCalled, "ready");
  await waitFor(() => ch.taken > 0, "the prompt");
  ch.type("echo T=$TERM; echo S=$(stty size); exit 3\r");
  await ch.done();
  assert.match(ch.text(), /T=xterm-256color/);
  assert.match(ch.text(), /S=37 91/);
  assert.deepEqual(ch.exitStatus, { code: 3, signal: null });
});

test("resize changes stty size; 0×0 and 100000 columns are clamped, not refused", async (t) => {
  const h = harness(t);
  const ch = h.open({ pty: PTY, command: 'while IFS= read -r l; do echo "S=$(stty size)"; done' });
  await waitFor(() => ch.readyCalled, "ready");
  ch.type("\r");
  await ch.until("S=24 80");
  ch.emit("resize", 120, 40);
  ch.type("\r");
  await ch.until("S=40 120");
  ch.emit("resize", 0, 0);
  ch.type("\r");
  await ch.until("S=1 1");
  ch.emit("resize", 100_000, 100_000);
  ch.type("\r");
  await ch.until("S=1000 1000");
  ch.eof();
  await ch.done();
  assert.deepEqual(ch.exitStatus, { code: 0, signal: null });
});

test("a PTY size outside the bounds at open is clamped too", async (t) => {
  const h = harness(t);
  const ch = h.open({
    pty: { cols: 0, rows: 5000, term: "vt100" },
    command: 'echo "S=$(stty size) T=$TERM"',
  });
  await ch.done();
  assert.match(ch.text(), /S=1000 1 T=vt100/);
});

test("UTF-8 round trip: é, 日本 and an emoji typed in come back byte for byte", async (t) => {
  const h = harness(t);
  const ch = h.open({ pty: PTY, command: "IFS= read -r l; printf 'got:%s:end\\n' \"$l\"" });
  await waitFor(() => ch.readyCalled, "ready");
  ch.type("é 日本 🎉\r");
  await ch.done();
  assert.ok(ch.bytes().includes(Buffer.from("got:é 日本 🎉:end", "utf8")), ch.text());
  assert.deepEqual(ch.exitStatus, { code: 0, signal: null });
});

test("bytes that are not UTF-8 pass untouched (the agent never decodes output)", async (t) => {
  const h = harness(t);
  // \377\376 is invalid UTF-8; \303 alone is half of "é".
  const ch = h.open({ pty: PTY, command: "printf 'A\\377\\376B\\303C'" });
  await ch.done();
  assert.ok(
    ch.bytes().includes(Buffer.from([0x41, 0xff, 0xfe, 0x42, 0xc3, 0x43])),
    ch.bytes().toString("hex"),
  );
});

test("argv mode runs the program itself: no shell expands its arguments", async (t) => {
  const h = harness(t);
  const ch = h.open({ pty: PTY, argv: ["printf", "%s|%s", "$HOME", "a b"] });
  await ch.done();
  assert.match(ch.text(), /\$HOME\|a b/);
  assert.deepEqual(ch.exitStatus, { code: 0, signal: null });
});

test("command mode runs the line with the user's shell and reports its status", async (t) => {
  const h = harness(t);
  const ch = h.open({ pty: PTY, command: "echo R=$((6*7)); exit 4" });
  await ch.done();
  assert.match(ch.text(), /R=42/);
  assert.deepEqual(ch.exitStatus, { code: 4, signal: null });
});

test("Ctrl-C is a byte: the terminal turns it into SIGINT for the foreground job", async (t) => {
  const h = harness(t);
  const ch = h.open({ pty: PTY, argv: ["sleep", "1000"] });
  await waitFor(() => ch.readyCalled, "ready");
  ch.type("\x03");
  await ch.done();
  assert.deepEqual(ch.exitStatus, { code: null, signal: "SIGINT" });
});

test("a SIGNAL frame reaches the foreground job; a shell's own job control is respected", async (t) => {
  const h = harness(t);
  const ch = h.open({ pty: PTY, command: "sleep 1000; echo after=$?" });
  await waitFor(() => ch.readyCalled, "ready");
  // The foreground job here is the shell's process group (no job control in sh -c): TERM
  // ends sleep, and sh, which does not ignore it either.
  ch.emit("signal", "TERM");
  await ch.done();
  assert.deepEqual(ch.exitStatus, { code: null, signal: "SIGTERM" });
});

test("EOF from the user is Ctrl-D: cat reading the terminal ends with its own status (20 runs)", async (t) => {
  // cat closes its stdio just before it exits: the PTY must not be hung up under it (SIGHUP).
  const h = harness(t);
  for (let i = 0; i < 20; i++) {
    const ch = h.open({ pty: PTY, argv: ["cat"] });
    await waitFor(() => ch.readyCalled, "ready");
    ch.type("line\r");
    await ch.until("line\r\nline\r\n");
    ch.eof();
    await ch.done();
    assert.deepEqual(ch.exitStatus, { code: 0, signal: null }, `run ${i}`);
  }
});

test("the last output before exit is never lost (5 quick runs)", async (t) => {
  const h = harness(t);
  const chans = Array.from({ length: 5 }, () =>
    h.open({ pty: PTY, command: "head -c 30000 /dev/zero | base64 -w 0; printf END" }),
  );
  for (const ch of chans) await ch.done();
  for (const ch of chans) {
    assert.equal(ch.bytes().length, 40003);
    assert.ok(ch.text().endsWith("END"));
  }
});

test("output written while the consumer is stalled and the process exits is all delivered", async (t) => {
  const h = harness(t);
  // highWaterMark 1: any held byte makes write() return false, so the PTY is paused at once.
  const ch = h.open(
    { pty: PTY, command: "printf A; read x; head -c 1500 /dev/zero | base64 -w 0; printf END" },
    1,
  );
  await waitFor(() => ch.taken > 0, "A");
  ch.stall();
  ch.type("\r");
  // The PTY is paused: only node-pty's end (destroy) path can have read the rest.
  await waitFor(() => ch.written >= 1 + 2 + 2000 + 3, "the rest, read at the end");
  assert.equal(ch.exitStatus, null, "no exit before the output was taken");
  ch.release();
  await ch.done();
  assert.ok(ch.text().endsWith("END"));
  assert.equal(ch.bytes().length, 1 + 2 + 2000 + 3);
  assert.deepEqual(ch.exitStatus, { code: 0, signal: null });
});
