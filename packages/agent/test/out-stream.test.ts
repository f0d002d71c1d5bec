// @matrix: once
// The credit window and output limit of one command stream (docs/protocol.md §13).
import assert from "node:assert/strict";
import { test } from "node:test";
import { OutStream } from "../src/capabilities/exec/out-stream.js";

const bytes = (n: number, start = 0) => Buffer.from(Array.from({ length: n }, (_, i) => (start + i) % 251));

test("sends in order within the window and no further until acknowledged", () => {
  const s = new OutStream(1000, 100);
  assert.equal(s.push(bytes(250)), true, "window full: the pipe should pause");
  const a = s.next(40)!;
  const b = s.next(40)!;
  const c = s.next(40)!;
  assert.deepEqual([a.off, b.off, c.off], [0, 40, 80]);
  assert.equal(c.data.length, 20, "the window (100) caps the third chunk");
  assert.equal(s.next(40), null, "nothing more before an ack");
  s.ack(60);
  const d = s.next(100)!;
  assert.equal(d.off, 100);
  assert.equal(d.data.length, 60);
  assert.deepEqual(Buffer.concat([a.data, b.data, c.data, d.data]), bytes(160));
});

test("rewind re-sends from the last acknowledged byte, with the same bytes", () => {
  const s = new OutStream(1000, 1000);
  s.push(bytes(300));
  s.next(100);
  s.next(100);
  s.ack(100);
  s.rewind();
  const again = s.next(1000)!;
  assert.equal(again.off, 100);
  assert.deepEqual(again.data, bytes(200, 100));
});

test("keeps at most the limit, counts the rest, and never pauses past the limit", () => {
  const s = new OutStream(50, 20);
  s.push(bytes(30));
  assert.equal(s.push(bytes(30, 30)), false, "past the limit the pipe is drained, not paused");
  assert.equal(s.kept, 50);
  assert.equal(s.total, 60);
  assert.equal(s.truncated, true);
  const chunks: Buffer[] = [];
  for (;;) {
    const n = s.next(8);
    if (!n) {
      if (s.sent === s.kept) break;
      s.ack(s.sent);
      continue;
    }
    chunks.push(n.data);
  }
  assert.deepEqual(Buffer.concat(chunks), bytes(50));
  s.ack(50);
  assert.equal(s.allAcked, true);
});

test("acks beyond what was kept, or going backwards, change nothing harmful", () => {
  const s = new OutStream(100, 100);
  s.push(bytes(10));
  s.next(100);
  s.ack(5);
  s.ack(3);
  assert.equal(s.acked, 5);
  s.ack(10_000);
  assert.equal(s.acked, 10, "capped at kept");
  assert.equal(s.allAcked, true);
});

test("a limit of zero keeps nothing and reports truncation", () => {
  const s = new OutStream(0, 100);
  assert.equal(s.push(bytes(10)), false);
  assert.equal(s.next(10), null);
  assert.equal(s.allAcked, true);
  assert.equal(s.truncated, true);
});
