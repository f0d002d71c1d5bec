// @matrix: once
// The event stream's replay (docs/protocol.md §13 "Reading output"): output is copied from the
// spool one chunk at a time as the reader accepts it (backpressure), live output that arrives
// while the reader is behind is re-read from disk, and every byte is delivered once, in order.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import type { Command, CommandEvent } from "@tether/protocol";
import { runFixture } from "../../../tests/support/exec-fixtures.js";
import { ExecEvents, replayThenFollow } from "../src/capabilities/exec/events.js";
import { Spool } from "../src/capabilities/exec/spool.js";

const root = mkdtempSync(join(tmpdir(), "tether-replay-"));
after(() => rmSync(root, { recursive: true, force: true }));

const CMD = "cmd_aaaaaaaaaaaaaaaaaaaa";
const run = runFixture({ command: CMD, device: "dev-a", deviceId: "dev-a" });
const command = { id: CMD, finishedAt: null, runs: [run] } as unknown as Command;

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 1000 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(cond(), what);
}

test("a reader that does not read gets one chunk; what it takes later is everything, once, in order", async () => {
  const spool = new Spool(join(root, "spool"));
  const events = new ExecEvents();
  const stored = Buffer.alloc(200 * 1024);
  for (let i = 0; i < stored.length; i++) stored[i] = i % 251;
  await spool.append(CMD, "dev-a", "stdout", stored);

  const got: CommandEvent[] = [];
  let open = false; // the reader's buffer has room
  let release: () => void = () => {};
  const sink = {
    write: (e: CommandEvent) => {
      got.push(e);
      return open;
    },
    drained: () => (open ? Promise.resolve() : new Promise<void>((r) => (release = r))),
    fail: (err: unknown) => assert.fail(String(err)),
  };
  const stop = await replayThenFollow({ events, spool, get: async () => command }, CMD, sink);
  await until(() => got.length === 1, "the first chunk is written");
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  assert.equal(got.length, 1, "nothing more until the reader drains");

  // 1 MiB of live output while the reader is stuck: appended to the spool, then announced.
  const live = Buffer.alloc(1024 * 1024, 7);
  for (let off = 0; off < live.length; off += 32 * 1024) {
    const chunk = live.subarray(off, off + 32 * 1024);
    await spool.append(CMD, "dev-a", "stdout", chunk);
    events.emit(CMD, {
      type: "output",
      deviceId: "dev-a",
      device: "dev-a",
      stream: "stdout",
      data: chunk.toString("base64"),
      off: stored.length + off,
    });
  }
  events.emit(CMD, { type: "run", run: { ...run, status: "succeeded" } });
  assert.equal(got.length, 1);

  open = true;
  release();
  const total = stored.length + live.length;
  const bytes = () =>
    got.reduce((n, e) => n + (e.type === "output" ? Buffer.from(e.data, "base64").length : 0), 0);
  await until(
    () => got.at(-1)?.type === "run" && (got.at(-1) as any).run.status === "succeeded",
    "all of it",
  );
  assert.equal(bytes(), total);
  const out = Buffer.concat(
    got.filter((e) => e.type === "output").map((e) => Buffer.from((e as any).data, "base64")),
  );
  assert.ok(out.equals(Buffer.concat([stored, live])), "every byte once, in order");
  // The replay's run state came after the stored output, the live one after the live output.
  const kinds = got.map((e) => e.type);
  assert.equal(kinds.filter((k) => k === "run").length, 2);
  assert.ok(got.every((e) => e.type !== "output" || Buffer.from(e.data, "base64").length <= 48 * 1024));
  stop();
  await spool.closeAll();
});
