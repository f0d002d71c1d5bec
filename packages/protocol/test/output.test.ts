// @matrix: once
// Offset-checked output assembly (src/output.ts): the one implementation the server's event
// stream, the SDK (CLI) and the console use to drop output they have already passed on.
import assert from "node:assert/strict";
import { test } from "node:test";
import { base64ToBytes, bytesToBase64, OutputAssembler, outputKey } from "../src/output.js";

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array | null) => (b === null ? null : new TextDecoder().decode(b));

test("outputKey names a device's stream", () => {
  assert.equal(outputKey("dev_1", "stdout"), "dev_1/stdout");
  assert.equal(outputKey("dev_1", "stderr"), "dev_1/stderr");
});

test("in-order chunks pass whole; the same bytes again pass nothing", () => {
  const a = new OutputAssembler();
  const first = bytes("hello ");
  assert.equal(a.accept("k", 0, first), first, "a new chunk is passed on as it is (no copy)");
  assert.equal(text(a.accept("k", 6, bytes("world"))), "world");
  assert.equal(a.delivered("k"), 11);
  assert.equal(a.accept("k", 0, bytes("hello ")), null);
  assert.equal(a.accept("k", 6, bytes("world")), null);
  assert.equal(a.accept("k", 3, bytes("lo wo")), null, "wholly inside what was delivered");
  assert.equal(a.delivered("k"), 11);
});

test("an overlapping chunk passes only its new tail", () => {
  const a = new OutputAssembler();
  a.accept("k", 0, bytes("abcdef"));
  assert.equal(text(a.accept("k", 4, bytes("efghij"))), "ghij");
  assert.equal(a.delivered("k"), 10);
  assert.equal(text(a.accept("k", 0, bytes("abcdefghijKL"))), "KL");
  assert.equal(a.delivered("k"), 12);
});

test("streams are independent", () => {
  const a = new OutputAssembler();
  a.accept(outputKey("d", "stdout"), 0, bytes("out"));
  assert.equal(text(a.accept(outputKey("d", "stderr"), 0, bytes("err"))), "err");
  assert.equal(text(a.accept(outputKey("e", "stdout"), 0, bytes("out"))), "out");
  assert.equal(a.delivered(outputKey("d", "stdout")), 3);
  assert.equal(a.delivered("unknown"), 0);
});

test("a gap is accepted as it is (nothing can fill it)", () => {
  const a = new OutputAssembler();
  a.accept("k", 0, bytes("ab"));
  assert.equal(text(a.accept("k", 5, bytes("xy"))), "xy");
  assert.equal(a.delivered("k"), 7);
  assert.equal(a.accept("k", 2, bytes("cde")), null, "the late bytes of the gap are behind the end");
});

test("empty chunks pass nothing at or behind the end", () => {
  const a = new OutputAssembler();
  assert.equal(a.accept("k", 0, new Uint8Array(0)), null);
  a.accept("k", 0, bytes("ab"));
  assert.equal(a.accept("k", 2, new Uint8Array(0)), null);
});

test("markDelivered: bytes sent another way (a replay) are not passed again", () => {
  const a = new OutputAssembler();
  a.markDelivered("k", 5);
  assert.equal(a.accept("k", 0, bytes("01234")), null);
  assert.equal(text(a.accept("k", 3, bytes("3456"))), "56");
});

test("reset forgets one stream or all", () => {
  const a = new OutputAssembler();
  a.accept("k", 0, bytes("ab"));
  a.accept("j", 0, bytes("ab"));
  a.reset("k");
  assert.equal(text(a.accept("k", 0, bytes("ab"))), "ab");
  assert.equal(a.accept("j", 0, bytes("ab")), null);
  a.reset();
  assert.equal(text(a.accept("j", 0, bytes("ab"))), "ab");
});

test("a Buffer in is a Buffer out", () => {
  const a = new OutputAssembler();
  a.accept("k", 0, Buffer.from("abc"));
  const tail = a.accept("k", 1, Buffer.from("bcde"));
  assert.ok(Buffer.isBuffer(tail));
  assert.equal(tail?.toString(), "de");
});

test("replay cursors: each connection replays from the start; only new bytes pass", () => {
  const a = new OutputAssembler();
  const c1 = a.replay();
  assert.equal(text(c1.accept("k", bytes("one\n"))), "one\n");
  assert.equal(text(c1.accept("k", bytes("two\n"))), "two\n");
  // The connection drops; the next one replays everything, in other chunk sizes, then goes on.
  const c2 = a.replay();
  assert.equal(c2.accept("k", bytes("on")), null);
  assert.equal(c2.accept("k", bytes("e\ntw")), null);
  assert.equal(text(c2.accept("k", bytes("o\nthree\n"))), "three\n");
  assert.equal(text(c2.accept("j", bytes("other stream"))), "other stream");
  assert.equal(a.delivered("k"), 14);
});

test("base64 helpers round-trip any bytes; bad base64 gives no bytes", () => {
  const all = new Uint8Array(256);
  for (let i = 0; i < 256; i++) all[i] = i;
  assert.equal(bytesToBase64(all), Buffer.from(all).toString("base64"));
  assert.deepEqual(base64ToBytes(bytesToBase64(all)), all);
  const big = new Uint8Array(200_000).map((_, i) => (i * 7) & 0xff);
  assert.deepEqual(base64ToBytes(bytesToBase64(big)), big);
  assert.equal(bytesToBase64(new Uint8Array(0)), "");
  assert.deepEqual(base64ToBytes("!!not base64!!"), new Uint8Array(0));
});
