// @matrix: once
// Flow control of a PTY session (docs/protocol.md §17.4, issue: `yes` must not grow memory):
// a consumer that stops reading during `yes` pauses the PTY, so `yes` blocks in write() and
// the bytes the agent hands to the channel stay bounded; reading again resumes it. And input
// the process does not read is not read from the channel either (its window is not granted).
import assert from "node:assert/strict";
import { test } from "node:test";
import { procStat } from "../src/proc-stat.js";
import { harness, PTY, waitFor } from "./fixtures/terminal/support.js";

const HWM = 16 * 1024;
/** node-pty reads at most 64 KiB at a time; one read may land after the window was used up. */
const BOUND = HWM + 64 * 1024;

/** Let the event loop run `n` turns, timers and I/O included: time for a PTY read that should not come. */
async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((r) => setTimeout(r, 1));
}

test("a consumer that stops reading during `yes` stalls it: bytes stay bounded, then resume", async (t) => {
  const h = harness(t);
  const ch = h.open({ pty: PTY, argv: ["yes"] }, HWM);
  ch.stall();
  await waitFor(() => ch.refusals > 0, "write() to return false");
  const pid = h.rt.sessions()[0]?.pid;
  assert.ok(pid);
  // `yes` ends up asleep in write(): the PTY is full because nobody reads it.
  await waitFor(() => procStat(pid)?.state === "S", "yes to block in write()");
  const before = ch.written;
  await turns(50);
  assert.equal(ch.written, before, "no output read while paused");
  assert.ok(before <= BOUND, `${before} bytes handed over while the window was used up (bound ${BOUND})`);
  assert.equal(ch.taken, 0);

  ch.release();
  await waitFor(() => ch.taken > before + 1_000_000, "yes to run again once the consumer reads");
  assert.match(ch.text().slice(0, 20), /^(y\r\n)+/);

  ch.serverClose();
  await waitFor(() => h.rt.sessions().length === 0, "the session to end");
});

test("input the process does not read stays in the channel (no unbounded queue on the agent)", async (t) => {
  const h = harness(t);
  // sleep reads no input: the line discipline fills, then the agent stops reading the channel.
  const ch = h.open({ pty: PTY, argv: ["sleep", "1000"] });
  await waitFor(() => ch.readyCalled, "ready");
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  for (let i = 0; i < 32; i++) ch.type(chunk); // 2 MiB offered
  await waitFor(() => ch.readableLength > 1024 * 1024, "the channel to keep what the PTY cannot take");
  await turns(50);
  assert.ok(ch.readableLength > 1024 * 1024, `${ch.readableLength} bytes still waiting in the channel`);
  ch.serverClose();
});
