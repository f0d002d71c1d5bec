// @matrix: once
// SeenIds: receiver-side duplicate suppression by message id (docs/protocol.md §8).
import assert from "node:assert/strict";
import { test } from "node:test";
import { SeenIds } from "../src/control/dedupe.js";

test("a fresh set has seen nothing above zero", () => {
  const s = new SeenIds();
  assert.equal(s.low, 0);
  assert.deepEqual(s.above, []);
  assert.equal(s.has(0), true, "0 is at or below low");
  assert.equal(s.has(1), false);
});

test("in-order ids advance low and keep above empty", () => {
  const s = new SeenIds();
  for (let i = 1; i <= 1000; i++) {
    assert.equal(s.has(i), false);
    s.add(i);
    assert.equal(s.has(i), true);
  }
  assert.equal(s.low, 1000);
  assert.deepEqual(s.above, []);
  assert.equal(s.has(1001), false);
});

test("out-of-order ids are held in above and collapse into low as gaps fill", () => {
  const s = new SeenIds();
  s.add(3);
  s.add(5);
  s.add(2);
  assert.equal(s.low, 0);
  assert.deepEqual(s.above, [2, 3, 5]);
  assert.equal(s.has(1), false);
  assert.equal(s.has(4), false);
  s.add(1);
  assert.equal(s.low, 3);
  assert.deepEqual(s.above, [5]);
  s.add(4);
  assert.equal(s.low, 5);
  assert.deepEqual(s.above, []);
});

test("duplicates are no-ops, in and out of order", () => {
  const s = new SeenIds();
  s.add(1);
  s.add(1);
  s.add(4);
  s.add(4);
  s.add(0);
  s.add(-3);
  assert.equal(s.low, 1);
  assert.deepEqual(s.above, [4]);
});

test("a set restored from stored state behaves the same", () => {
  const s = new SeenIds(10, [12, 15]);
  assert.equal(s.has(10), true);
  assert.equal(s.has(11), false);
  assert.equal(s.has(12), true);
  s.add(11);
  assert.equal(s.low, 12);
  assert.deepEqual(s.above, [15]);
});

test("above is bounded at 10,000: the oldest gaps are given up", () => {
  const s = new SeenIds();
  // every even id: 10,000 gaps kept exactly
  for (let i = 1; i <= 10_000; i++) s.add(2 * i);
  assert.equal(s.low, 0);
  assert.equal(s.above.length, 10_000);
  // one more pushes it over the bound
  s.add(20_002);
  assert.equal(s.above.length, 10_000);
  assert.equal(s.low, 2, "low jumps to the oldest id that was dropped from above");
  assert.equal(s.above[0], 4);
  assert.equal(s.above.at(-1), 20_002);
  assert.equal(s.has(1), true, "the abandoned gap counts as seen");
  assert.equal(s.has(3), false, "later gaps are still open");
  assert.equal(s.has(20_001), false);
  // keep going: the bound holds
  for (let i = 10_002; i <= 12_000; i++) s.add(2 * i);
  assert.equal(s.above.length, 10_000);
  assert.equal(s.low, 2 * 2000);
  assert.equal(s.has(2 * 12_000), true);
  assert.equal(s.has(2 * 12_000 - 1), false);
});

test("filling the gap right above low after a bounded jump still collapses", () => {
  const s = new SeenIds();
  for (let i = 1; i <= 10_001; i++) s.add(2 * i); // low -> 2, above = 4..20002
  s.add(3);
  assert.equal(s.low, 4);
  assert.equal(s.above[0], 6);
  assert.equal(s.above.length, 9_999);
});
