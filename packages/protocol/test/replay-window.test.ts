// @matrix: once
// The Noise vectors only cover in-order nonces; the anti-replay window needs its own tests (DESIGN §3).
import { test } from "node:test";
import assert from "node:assert/strict";
import { ReplayWindow } from "../src/crypto/index.js";

function take(w: ReplayWindow, c: bigint): boolean {
  if (!w.check(c)) return false;
  w.accept(c);
  return true;
}

test("in-order counters are all accepted once", () => {
  const w = new ReplayWindow();
  for (let i = 0n; i < 5000n; i++) assert.equal(take(w, i), true, `counter ${i}`);
  assert.equal(w.highestAccepted, 4999n);
});

test("duplicates are refused, including the very first counter and the highest", () => {
  const w = new ReplayWindow();
  assert.equal(take(w, 0n), true);
  assert.equal(take(w, 0n), false);
  assert.equal(take(w, 1n), true);
  assert.equal(take(w, 1n), false);
  assert.equal(take(w, 0n), false);
});

test("check does not modify state", () => {
  const w = new ReplayWindow();
  assert.equal(w.check(7n), true);
  assert.equal(w.check(7n), true);
  w.accept(7n);
  assert.equal(w.check(7n), false);
});

test("out-of-order within the window is accepted once each", () => {
  const w = new ReplayWindow(64);
  const order = [5n, 1n, 3n, 0n, 2n, 4n, 10n, 7n, 9n, 8n, 6n];
  for (const c of order) assert.equal(take(w, c), true, `counter ${c}`);
  for (const c of order) assert.equal(take(w, c), false, `replay of ${c}`);
});

test("counters older than highest - size + 1 are refused", () => {
  const w = new ReplayWindow(1024);
  assert.equal(take(w, 2000n), true);
  // window is [977, 2000]
  assert.equal(w.check(976n), false);
  assert.equal(w.check(977n), true);
  assert.equal(take(w, 977n), true);
  assert.equal(take(w, 977n), false);
  assert.equal(w.check(0n), false);
  // slot of 976 is shared with 2000; make sure it does not leak acceptance
  assert.equal(take(w, 976n), false);
});

test("a big jump forward clears the window", () => {
  const w = new ReplayWindow(128);
  for (let i = 0n; i < 128n; i++) assert.equal(take(w, i), true);
  assert.equal(take(w, 1_000_000n), true);
  assert.equal(w.check(127n), false);
  // everything just below the new highest is fresh, even slots that were set before
  for (let i = 1_000_000n - 127n; i < 1_000_000n; i++) assert.equal(take(w, i), true, `counter ${i}`);
  assert.equal(take(w, 1_000_000n - 128n), false);
  assert.equal(take(w, 1_000_000n), false);
});

test("a jump smaller than the window keeps older marks and clears skipped slots", () => {
  const w = new ReplayWindow(32);
  for (let i = 0n; i < 32n; i++) take(w, i);
  assert.equal(take(w, 40n), true); // window [9, 40]
  for (let i = 9n; i < 32n; i++) assert.equal(w.check(i), false, `counter ${i} already seen`);
  for (let i = 32n; i < 40n; i++) assert.equal(take(w, i), true, `counter ${i} fresh`);
  assert.equal(w.check(8n), false);
});

test("window size not a multiple of 32 works", () => {
  const w = new ReplayWindow(50);
  for (let i = 0n; i < 300n; i += 3n) assert.equal(take(w, i), true);
  assert.equal(take(w, 298n), true);
  assert.equal(take(w, 298n), false);
  assert.equal(take(w, 297n), false);
  // highest is 298, so the window is [249, 298]
  assert.equal(w.check(248n), false);
  assert.equal(w.check(249n), false); // multiple of 3: seen
  assert.equal(w.check(250n), true);
});

test("randomised against a reference set", () => {
  const size = 256;
  const w = new ReplayWindow(size);
  const seen = new Set<bigint>();
  let highest = -1n;
  let x = 12345;
  const rnd = (): number => (x = (x * 1103515245 + 12345) & 0x7fffffff);
  let base = 0n;
  for (let i = 0; i < 20000; i++) {
    base += BigInt(rnd() % 4);
    const c = base + BigInt(rnd() % 600) - 300n;
    if (c < 0n) continue;
    const expected = !seen.has(c) && (c > highest || c > highest - BigInt(size));
    assert.equal(w.check(c), expected, `counter ${c} highest ${highest}`);
    if (expected) {
      w.accept(c);
      seen.add(c);
      if (c > highest) highest = c;
    }
  }
});

test("negative and out-of-range counters are refused", () => {
  const w = new ReplayWindow();
  assert.equal(w.check(-1n), false);
  assert.equal(w.check(1n << 64n), false);
  assert.equal(w.check((1n << 64n) - 1n), true);
});
