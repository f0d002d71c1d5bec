// @matrix: once
// Small parts of the telemetry layer alone (docs/protocol.md §14): the TLS check, the token
// lookup cache (bounded, and never refilled with an answer read before a change), the
// once-a-minute failure log, gzip inflation with its ceiling, group commit's isolation of a
// failing batch and its bounded queue.
import assert from "node:assert/strict";
import { test } from "node:test";
import { gzipSync } from "node:zlib";
import { TELEMETRY_LIMITS, TetherError } from "@tether/protocol";
import { pino } from "pino";
import { decodeBody } from "../src/telemetry/body.js";
import { validateEnvelope } from "../src/telemetry/envelope.js";
import { FailureLog } from "../src/telemetry/failure-log.js";
import { GroupCommit } from "../src/telemetry/group-commit.js";
import type { IncomingBatch, SeqClaim, StreamHandler } from "../src/telemetry/index.js";
import { isTls, requireTls } from "../src/telemetry/tls-check.js";
import { TokenCache } from "../src/telemetry/token-cache.js";

const code = (c: string) => (e: unknown) => e instanceof TetherError && e.code === c;

test("TLS check: only a request on an encrypted socket passes", () => {
  const req = (socket: unknown) => ({ raw: { socket } }) as never;
  assert.equal(isTls(req({ encrypted: true })), true);
  assert.equal(isTls(req({})), false);
  assert.equal(isTls(req(undefined)), false);
  assert.throws(() => requireTls(req({ encrypted: false })), code("TETHER_ERR_TLS_REQUIRED"));
  assert.doesNotThrow(() => requireTls(req({ encrypted: true })));
});

test("token cache: bounded LRU; a device's entries go at once; a lookup from before a change is not cached", () => {
  const c = new TokenCache(3);
  for (const d of ["a", "b", "c"]) c.set(`h-${d}`, { deviceId: d, slot: "current" }, c.epoch);
  c.get("h-a"); // a is now the most recent
  c.set("h-d", { deviceId: "d", slot: "current" }, c.epoch);
  assert.equal(c.size, 3);
  assert.equal(c.get("h-b"), undefined, "the least recently used went");
  assert.ok(c.get("h-a"));
  c.forgetDevice("a");
  assert.equal(c.get("h-a"), undefined);
  // A lookup that started before a revocation must not put the revoked token back.
  const started = c.epoch;
  c.forgetDevice("d");
  c.set("h-d", { deviceId: "d", slot: "current" }, started);
  assert.equal(c.get("h-d"), undefined);
});

test("failure log: at most one line a minute per key, with the count of refusals", () => {
  const lines: string[] = [];
  let now = 0;
  const log = pino({ level: "info" }, { write: (s: string) => void lines.push(s) });
  const f = new FailureLog(log, 60_000, 2, () => now);
  assert.equal(f.note("dev-1", {}, "refused"), true);
  for (let i = 0; i < 5; i++) assert.equal(f.note("dev-1", {}, "refused"), false);
  assert.equal(f.note("dev-2", {}, "refused"), true, "another key has its own minute");
  now = 60_000;
  assert.equal(f.note("dev-1", {}, "refused"), true);
  assert.equal(JSON.parse(lines.at(-1) as string).refused, 6, "the line counts the quiet ones");
  assert.equal(lines.length, 3);
  for (let i = 0; i < 100; i++) f.note(`k${i}`, {}, "refused");
  assert.ok((f as unknown as { seen: Map<string, unknown> }).seen.size <= 2, "bounded");
});

test("body: gzip inflates up to the ceiling only; identity passes; garbage is named", async () => {
  const json = Buffer.from('{"v":1}');
  assert.deepEqual(await decodeBody(json, undefined), { value: { v: 1 }, bytes: 7 });
  assert.deepEqual((await decodeBody(gzipSync(json), "gzip")).value, { v: 1 });
  const bomb = gzipSync(Buffer.alloc(TELEMETRY_LIMITS.maxBatchBytes + 1));
  await assert.rejects(decodeBody(bomb, "gzip"), code("TETHER_ERR_PAYLOAD_TOO_LARGE"));
  await assert.rejects(decodeBody(json, "gzip"), code("TETHER_ERR_BATCH_MALFORMED"));
  await assert.rejects(decodeBody(json, "deflate"), code("TETHER_ERR_BATCH_MALFORMED"));
  await assert.rejects(decodeBody(undefined, undefined), code("TETHER_ERR_BATCH_MALFORMED"));
});

test("envelope: times must be finite and bounded, so a skew never overflows a bigint column", () => {
  const ok = { v: 1, device: "d", stream: "metrics", seq: 1, sentAt: 0, metrics: [] };
  assert.equal(validateEnvelope(ok).seq, 1);
  assert.throws(() => validateEnvelope({ ...ok, sentAt: 1e300 }), /sentAt/);
  assert.throws(() => validateEnvelope({ ...ok, seq: 2 ** 53 }), /seq/);
  assert.throws(
    () =>
      validateEnvelope({ ...ok, gaps: [{ from: 0, to: Number.POSITIVE_INFINITY, count: 1, reason: "x" }] }),
    /gaps\[0\]\.to/,
  );
  assert.throws(
    () => validateEnvelope({ ...ok, metrics: Array(TELEMETRY_LIMITS.maxSeriesPerBatch + 1).fill(null) }),
    /at most 20000/,
  );
});

const incoming = (seq: number) =>
  ({ device: { id: "d" }, batch: { seq }, receivedAt: 0, skewMs: 0 }) as unknown as IncomingBatch;
const claim: SeqClaim = async () => true;

test("group commit: a failing group is retried batch by batch, so one bad batch fails alone", async () => {
  const calls: number[][] = [];
  const handler: StreamHandler = {
    async ingest(bs) {
      calls.push(bs.map((b) => b.batch.seq));
      if (bs.some((b) => b.batch.seq === 2)) throw new Error("poison");
      return bs.map(() => ({ accepted: 1, dropped: {} }));
    },
  };
  const g = new GroupCommit(handler, claim);
  const rs = await Promise.allSettled([1, 2, 3].map((s) => g.submit(incoming(s), 10)));
  assert.deepEqual(
    rs.map((r) => r.status),
    ["fulfilled", "rejected", "fulfilled"],
  );
  assert.deepEqual(calls, [[1, 2, 3], [1], [2], [3]]);
  await g.idle();
});

test("group commit: groups are capped, and a full queue answers 503 at once", async () => {
  let release = () => {};
  const gate = new Promise<void>((r) => {
    release = r;
  });
  const sizes: number[] = [];
  const handler: StreamHandler = {
    async ingest(bs) {
      sizes.push(bs.length);
      await gate;
      return bs.map(() => "duplicate" as const);
    },
  };
  const g = new GroupCommit(handler, claim, { maxGroup: 4, maxQueued: 6, maxQueuedBytes: 1000 });
  const first = g.submit(incoming(1), 1);
  await new Promise((r) => setImmediate(r)); // the first group (of one) is running now
  const queued = [2, 3, 4, 5, 6, 7].map((s) => g.submit(incoming(s), 1));
  await assert.rejects(g.submit(incoming(8), 1), code("TETHER_ERR_STORE_UNAVAILABLE"));
  release();
  await Promise.all([first, ...queued]);
  assert.deepEqual(sizes, [1, 4, 2]);
  const big = new GroupCommit(handler, claim, { maxGroup: 4, maxQueued: 6, maxQueuedBytes: 1000 });
  await assert.rejects(big.submit(incoming(1), 1001), code("TETHER_ERR_STORE_UNAVAILABLE"));
});
