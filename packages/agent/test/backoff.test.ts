// @matrix: once
// Backoff: jittered exponential ("full jitter") with a floor of base/4 and a hard cap.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Backoff } from "../src/backoff.js";

const HIGH = () => 0.999;
const LOW = () => 0;

test("with the highest draw, next() doubles from the base up to the cap", () => {
  const b = new Backoff(1000, 60_000, HIGH);
  const got = Array.from({ length: 10 }, () => b.next());
  const caps = [1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000, 60_000, 60_000];
  assert.deepEqual(
    got,
    caps.map((c) => Math.floor(0.999 * c) + 250),
  );
  for (let i = 1; i < 7; i++) assert.ok(got[i] > got[i - 1], `grows at step ${i}`);
});

test("next() never exceeds cap + base/4, however many attempts", () => {
  for (const [base, max] of [
    [1000, 60_000],
    [500, 30_000],
    [3, 10],
    [1000, 1000],
  ] as const) {
    const b = new Backoff(base, max, HIGH);
    for (let i = 0; i < 100; i++) {
      const v = b.next();
      assert.ok(v <= max + base / 4, `base ${base} max ${max} attempt ${i}: ${v}`);
      assert.ok(Number.isFinite(v));
    }
  }
});

test("with the lowest draw, next() is the base/4 floor", () => {
  const b = new Backoff(1000, 60_000, LOW);
  for (let i = 0; i < 40; i++) assert.equal(b.next(), 250);
  const odd = new Backoff(7, 100, LOW);
  assert.equal(odd.next(), 1);
});

test("reset() starts the growth over", () => {
  const b = new Backoff(1000, 60_000, HIGH);
  const first = [b.next(), b.next(), b.next(), b.next()];
  b.reset();
  assert.deepEqual([b.next(), b.next(), b.next(), b.next()], first);
  assert.equal(first[0], 999 + 250);
});

test("hard() returns the max and leaves the next attempt at the cap", () => {
  const b = new Backoff(1000, 60_000, HIGH);
  assert.equal(b.hard(), 60_000);
  assert.equal(b.next(), Math.floor(0.999 * 60_000) + 250);
  assert.equal(b.hard(), 60_000);
  b.reset();
  assert.equal(b.next(), 999 + 250);
});

test("defaults: base 1s, cap 60s, Math.random jitter within range", () => {
  const b = new Backoff();
  assert.equal(b.hard(), 60_000);
  b.reset();
  for (let i = 0; i < 50; i++) {
    const v = b.next();
    assert.ok(v >= 250 && v <= 60_250, `${v}`);
    assert.ok(Number.isInteger(v));
  }
});
