// @matrix: store
// Bounds of the telemetry ingest that a device holding a valid token must not get past
// (docs/protocol.md §14.3, docs/security.md), over real HTTPS and a real store (SQLite, and
// PostgreSQL in its pass): gap records stay at GAPS_KEPT per device and stream even when
// every gap has the same time (ties) and cannot be spread over made-up stream names; one
// device's uploads in progress are capped (429) so it cannot fill the group-commit queue
// every other device shares, and the cap is given back when the uploads are answered.
import assert from "node:assert/strict";
import { after, test } from "node:test";
import type { TelemetryStream } from "@tether/protocol";
import { cleanupTempDirs } from "../../../tests/e2e/harness.js";
import type { DeviceRow } from "../src/devices.js";
import { MAX_UPLOADS_PER_DEVICE } from "../src/telemetry/ingest-route.js";
import { GAPS_KEPT, type IncomingBatch, type SeqClaim } from "../src/telemetry/index.js";
import { batch, telemetryFixture } from "./telemetry-fixture.js";

after(cleanupTempDirs);

type F = Awaited<ReturnType<typeof telemetryFixture>>;

async function withFixture(fn: (f: F) => Promise<void>, o?: { streams?: TelemetryStream[] }) {
  const f = await telemetryFixture(o);
  try {
    await fn(f);
  } finally {
    await f.close();
  }
}

async function issued(f: F, id: string): Promise<string> {
  const d = (await f.devices.get(id)) as DeviceRow;
  await f.layer.rotateToken(d);
  const token = await f.lastToken(id);
  await f.layer.tokenDelivered(d, token);
  return token;
}

const countGaps = async (f: F, id: string) =>
  Number(
    (
      await (f.layer.store.db as any)
        .selectFrom("telemetry_gaps")
        .select((eb: any) => eb.fn.countAll().as("n"))
        .where("device_id", "=", id)
        .executeTakeFirstOrThrow()
    ).n,
  );

test("gap records stay bounded per device when every gap has the same time, and only known streams count", async () => {
  await withFixture(async (f) => {
    const t = await issued(f, "dev-a");
    const now = Date.now();
    const same = Array.from({ length: 1000 }, () => ({
      from: now,
      to: now,
      count: 1,
      reason: "buffer-full",
    }));
    for (let seq = 1; seq <= 3; seq++) {
      const r = await f.post(t, batch("dev-a", seq, { gaps: same }), { gzip: true });
      assert.equal(r.status, 200, JSON.stringify(r.body));
    }
    // 3000 sent, all tied on `from`: the newest GAPS_KEPT are kept, not all of them.
    assert.equal(await countGaps(f, "dev-a"), GAPS_KEPT);
    // A made-up stream name would get a bound of its own: refused, naming the field.
    const odd = await f.post(
      t,
      batch("dev-a", 4, { gaps: [{ from: now, to: now, count: 1, reason: "x", stream: "zz-1" }] }),
    );
    assert.equal(odd.status, 400);
    assert.equal(odd.body.error.code, "TETHER_ERR_BATCH_MALFORMED");
    assert.match(odd.body.error.message, /gaps\[0\]\.stream must be one of metrics, logs/);
    // A gap of the other known stream is stored under that stream's bound.
    const logs = await f.post(
      t,
      batch("dev-a", 5, { gaps: [{ from: now, to: now, count: 2, reason: "x", stream: "logs" }] }),
    );
    assert.equal(logs.status, 200, JSON.stringify(logs.body));
    assert.equal(await countGaps(f, "dev-a"), GAPS_KEPT + 1);
  });
});

test("one device's uploads in progress are capped (429) while other devices go on; slots come back", async () => {
  await withFixture(
    async (f) => {
      let open!: () => void;
      const gate = new Promise<void>((r) => {
        open = r;
      });
      f.layer.handle("metrics", {
        async ingest(batches: IncomingBatch[], claim: SeqClaim) {
          await gate;
          return f.handler.ingest(batches, claim);
        },
      });
      // Uploads past the token check (the slot is taken right after it).
      let authed = 0;
      const tokens = f.layer.tokens;
      const authenticate = tokens.authenticate.bind(tokens);
      tokens.authenticate = async (token: string) => {
        const r = await authenticate(token);
        authed++;
        return r;
      };
      const authedAtLeast = async (n: number) => {
        const deadline = Date.now() + 5000;
        while (authed < n) {
          assert.ok(Date.now() < deadline, `only ${authed} uploads were authenticated`);
          await new Promise((r) => setTimeout(r, 5));
        }
        await new Promise((r) => setImmediate(r));
      };
      const a = await issued(f, "dev-a");
      const b = await issued(f, "dev-b");
      try {
        // MAX_UPLOADS_PER_DEVICE uploads of dev-a wait (in the held stream handler and its queue)...
        const held = Array.from({ length: MAX_UPLOADS_PER_DEVICE }, (_, i) =>
          f.post(a, batch("dev-a", i + 1)),
        );
        await authedAtLeast(MAX_UPLOADS_PER_DEVICE);
        // ...one more of dev-a is refused at once, before its body is read;
        const over = await Promise.race([
          f.post(a, batch("dev-a", 99)),
          new Promise<never>((_, reject) =>
            setTimeout(() => reject(new Error("the upload over the cap was not refused")), 5000).unref(),
          ),
        ]);
        assert.equal(over.status, 429);
        assert.equal(over.body.error.code, "TETHER_ERR_RATE_LIMITED");
        // another device is not refused because of dev-a's uploads.
        const other = f.post(b, batch("dev-b", 1));
        await authedAtLeast(MAX_UPLOADS_PER_DEVICE + 2);
        open();
        for (const r of await Promise.all(held)) assert.equal(r.status, 200, JSON.stringify(r.body));
        assert.equal((await other).status, 200);
      } finally {
        open();
      }
      // Every slot was given back: dev-a uploads again (twice the cap, one after the other).
      for (let seq = 10; seq < 10 + 2 * MAX_UPLOADS_PER_DEVICE; seq++) {
        assert.equal((await f.post(a, batch("dev-a", seq))).status, 200);
      }
      // A refused upload (bad body) gives its slot back too.
      for (let i = 0; i < MAX_UPLOADS_PER_DEVICE + 1; i++) {
        assert.equal((await f.post(a, Buffer.from("{not json"))).status, 400);
      }
      assert.equal((await f.post(a, batch("dev-a", 50))).status, 200);
      assert.equal(f.layer.stats().batchesRejected.TETHER_ERR_RATE_LIMITED, 1);
    },
    { streams: ["logs"] },
  );
});
