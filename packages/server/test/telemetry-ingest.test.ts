// @matrix: store
// The telemetry channel's ingest and device tokens (docs/protocol.md §14.1–14.3) over real
// HTTPS and a real store (SQLite, and PostgreSQL in its pass): tokens stored as digests,
// every refused token answered alike, size and decompression limits, envelope errors naming
// the field, exactly-once per device and stream (replays, one group, independent streams),
// gap records (server-corrected, bounded), rotation, revocation and deletion.
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, test } from "node:test";
import { gzipSync } from "node:zlib";
import { TELEMETRY_LIMITS } from "@tether/protocol";
import { cleanupTempDirs } from "../../../tests/e2e/harness.js";
import type { DeviceRow } from "../src/devices.js";
import { digest } from "../src/security/secrets.js";
import { GroupCommit } from "../src/telemetry/group-commit.js";
import { MAX_UPLOADS_PER_DEVICE } from "../src/telemetry/ingest-route.js";
import { claimSeq } from "../src/telemetry/seq-claim.js";
import { batch, telemetryFixture } from "./telemetry-fixture.js";

after(cleanupTempDirs);

const TOKEN_ERR = "TETHER_ERR_TELEMETRY_TOKEN";

async function withFixture(
  fn: (f: Awaited<ReturnType<typeof telemetryFixture>>) => Promise<void>,
  o?: Parameters<typeof telemetryFixture>[0],
) {
  const f = await telemetryFixture(o);
  try {
    await fn(f);
  } finally {
    await f.close();
  }
}

const dev = async (f: { devices: { get(id: string): Promise<DeviceRow | undefined> } }, id: string) =>
  (await f.devices.get(id)) as DeviceRow;

/** Issue a token and have the agent confirm it (the capability's delivered handler does this). */
async function issued(f: Awaited<ReturnType<typeof telemetryFixture>>, id: string): Promise<string> {
  const d = await dev(f, id);
  await f.layer.rotateToken(d);
  const token = await f.lastToken(id);
  await f.layer.tokenDelivered(d, token);
  return token;
}

test("tokens: 256 random bits delivered durably; only the SHA-256 digest is stored", async () => {
  await withFixture(async (f) => {
    const d = await dev(f, "dev-a");
    const mid = await f.layer.rotateToken(d);
    const [msg] = await f.link.outbox.pending("dev-a");
    assert.equal(msg.mid, mid);
    assert.equal(msg.type, "telemetry.token");
    const token = (msg.body as { token: string }).token;
    assert.match(token, /^[A-Za-z0-9_-]{43}$/);
    const row = await (f.main.db as any).selectFrom("telemetry_tokens").selectAll().executeTakeFirstOrThrow();
    assert.equal(row.next_hash, digest(token));
    assert.equal(row.current_hash, null);
    assert.ok(!JSON.stringify(row).includes(token), "the token itself is not stored");
    // ensureToken does not replace a token the device already has.
    assert.equal(await f.layer.ensureToken(d), null);
    assert.equal((await f.link.outbox.pending("dev-a")).length, 1);
  });
});

test("auth: missing, wrong, unknown and another device's tokens get one and the same 401", async () => {
  await withFixture(async (f) => {
    const a = await issued(f, "dev-a");
    const b = await issued(f, "dev-b");
    const refusals = [
      await f.post(undefined, batch("dev-a", 1)),
      await f.post("not-a-token", batch("dev-a", 1)),
      await f.post("A".repeat(43), batch("dev-a", 1)),
      await f.post(b, batch("dev-a", 1)), // dev-b's token for dev-a's batch
      await f.post(a, batch("dev-nonexistent", 1)), // a device that does not exist: same answer
    ];
    for (const r of refusals) {
      assert.equal(r.status, 401);
      assert.equal(r.body.error.code, TOKEN_ERR);
    }
    assert.equal(new Set(refusals.map((r) => r.body.error.message)).size, 1, "nothing tells the cases apart");
    assert.equal((await f.rows()).length, 0);
    // The failures are logged, at most once a minute per source/device, with a count.
    assert.ok(f.logs.some((l) => l.includes("upload refused (token)")));
    assert.equal(f.logs.filter((l) => l.includes("upload refused (token)")).length, 1);
    const ok = await f.post(a, batch("dev-a", 1));
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal(f.layer.stats().batchesRejected[TOKEN_ERR], 5);
  });
});

test("ingest: accepted with the skew; a replayed or older seq is a duplicate and nothing is stored twice", async () => {
  await withFixture(async (f) => {
    const t = await issued(f, "dev-a");
    const sentAt = Date.now() - 3_600_000; // a device clock an hour behind
    const r1 = await f.post(t, batch("dev-a", 7, { sentAt }), { gzip: true });
    assert.equal(r1.status, 200, JSON.stringify(r1.body));
    assert.deepEqual(
      { ...r1.body, skewMs: undefined },
      {
        seq: 7,
        duplicate: false,
        accepted: 1,
        dropped: {},
        skewMs: undefined,
      },
    );
    assert.ok(r1.body.skewMs >= 3_600_000 && r1.body.skewMs < 3_660_000, `skew ${r1.body.skewMs}`);
    for (const seq of [7, 3]) {
      const r = await f.post(t, batch("dev-a", seq), { gzip: true });
      assert.equal(r.status, 200);
      assert.equal(r.body.duplicate, true);
      assert.equal(r.body.accepted, 0);
    }
    assert.deepEqual(await f.rows(), [{ device_id: "dev-a", stream: "metrics", seq: 7, n: 1 }]);
    const st = (await f.layer.uploadState(["dev-a", "dev-b"])).get("dev-a");
    assert.ok(st && Math.abs(st.lastUploadAt - Date.now()) < 60_000);
    assert.equal(st?.skewMs, r1.body.skewMs, "the skew of the last accepted upload");
    assert.equal((await f.layer.uploadState(["dev-b"])).size, 0);
    const s = f.layer.stats();
    assert.equal(s.batchesAccepted, 1);
    assert.equal(s.batchesDuplicate, 2);
    assert.equal(s.samplesAccepted, 1);
  });
});

test("seq is per device and stream: metrics seq 5 does not make logs seq 3 (or another device's) a duplicate", async () => {
  await withFixture(async (f) => {
    const a = await issued(f, "dev-a");
    const b = await issued(f, "dev-b");
    assert.equal((await f.post(a, batch("dev-a", 5))).body.duplicate, false);
    const logs = await f.post(a, {
      v: 1,
      device: "dev-a",
      stream: "logs",
      seq: 3,
      sentAt: Date.now(),
      logs: [{}],
    });
    assert.equal(logs.status, 200, JSON.stringify(logs.body));
    assert.equal(logs.body.duplicate, false);
    assert.equal((await f.post(b, batch("dev-b", 3))).body.duplicate, false);
    assert.equal((await f.rows()).length, 3);
  });
});

test("group commit: batches queued together take one transaction, and a duplicate inside the group is caught", async () => {
  await withFixture(async (f) => {
    const a = await dev(f, "dev-a");
    const b = await dev(f, "dev-b");
    const g = new GroupCommit(f.handler, claimSeq);
    const now = Date.now();
    const mk = (device: DeviceRow, seq: number) => ({
      device,
      batch: batch(device.id, seq) as any,
      receivedAt: now,
      skewMs: 0,
    });
    const calls = f.handler.calls;
    const results = await Promise.all([
      g.submit(mk(a, 1), 100),
      g.submit(mk(a, 1), 100), // the same seq again, in the same transaction
      g.submit(mk(a, 2), 100),
      g.submit(mk(b, 1), 100),
      g.submit(mk(a, 2), 100),
    ]);
    assert.equal(f.handler.calls - calls, 1, "one handler call, one transaction");
    assert.deepEqual(
      results.map((r) => (r === "duplicate" ? "dup" : "ok")),
      ["ok", "dup", "ok", "ok", "dup"],
    );
    assert.equal((await f.rows()).length, 3);
  });
});

test("many concurrent uploads over HTTPS are all answered and stored once", async () => {
  await withFixture(async (f) => {
    const t = await issued(f, "dev-a");
    // Waves of MAX_UPLOADS_PER_DEVICE at once (the most one device may have in progress),
    // each seq twice in its wave: concurrent duplicates of one device and stream.
    const rs: { status: number; body: any }[] = [];
    for (let w = 0; w < 10; w++) {
      const seqs = Array.from({ length: MAX_UPLOADS_PER_DEVICE }, (_, i) => 2 * w + 1 + (i % 2));
      rs.push(...(await Promise.all(seqs.map((seq) => f.post(t, batch("dev-a", seq))))));
    }
    assert.ok(
      rs.every((r) => r.status === 200),
      JSON.stringify(rs.filter((r) => r.status !== 200)),
    );
    // Each seq 1..20 is stored at most once; arrival order decides which later ones are duplicates.
    const rows = await f.rows();
    assert.equal(new Set(rows.map((r) => r.seq)).size, rows.length);
    assert.equal(rs.filter((r) => !r.body.duplicate).length, rows.length);
    assert.ok(f.handler.calls <= rs.length);
    // Past the per-device bound, uploads are answered 429 (the agent retries), never lost.
    const burst = await Promise.all(Array.from({ length: 20 }, (_, i) => f.post(t, batch("dev-a", 100 + i))));
    assert.deepEqual(
      [...new Set(burst.map((r) => r.status))].filter((s) => s !== 200 && s !== 429),
      [],
    );
  });
});

test("limits: an oversize body and a gzip bomb get 413; the bomb is never inflated past the limit", async () => {
  await withFixture(async (f) => {
    const t = await issued(f, "dev-a");
    const big = Buffer.alloc(TELEMETRY_LIMITS.maxCompressedBytes + 1, 0x20);
    const r1 = await f.post(t, big);
    assert.equal(r1.status, 413);
    assert.equal(r1.body.error.code, "TETHER_ERR_PAYLOAD_TOO_LARGE");
    // 50 MB of zeros compress to ~50 kB: small on the wire, a bomb when inflated.
    const bomb = gzipSync(Buffer.alloc(50 * 1024 * 1024));
    assert.ok(bomb.length < TELEMETRY_LIMITS.maxCompressedBytes);
    const before = process.memoryUsage().arrayBuffers;
    const r2 = await f.post(t, bomb, { headers: { "content-encoding": "gzip" } });
    assert.equal(r2.status, 413);
    assert.equal(r2.body.error.code, "TETHER_ERR_PAYLOAD_TOO_LARGE");
    assert.match(r2.body.error.message, /after decompression/);
    const grew = process.memoryUsage().arrayBuffers - before;
    assert.ok(grew < 40 * 1024 * 1024, `buffers grew by ${grew} bytes`);
    assert.equal((await f.rows()).length, 0);
  });
});

test("malformed: bad JSON, bad gzip, odd encodings and envelope errors get 400 naming the field", async () => {
  await withFixture(
    async (f) => {
      const t = await issued(f, "dev-a");
      const cases: [unknown, RegExp, Record<string, string>?][] = [
        [Buffer.from("{not json"), /not valid JSON/],
        [Buffer.from(""), /no body/],
        [Buffer.from("plain"), /not valid gzip/, { "content-encoding": "gzip" }],
        [Buffer.from("{}"), /Content-Encoding "br"/, { "content-encoding": "br" }],
        [[1, 2], /JSON object/],
        [{ ...batch("dev-a", 1), v: 2 }, /^v must be 1/],
        [{ ...batch("dev-a", 1), seq: 0 }, /^seq must be/],
        [{ ...batch("dev-a", 1), seq: 1.5 }, /^seq must be/],
        [{ ...batch("dev-a", 1), stream: "video" }, /^stream must be one of metrics, logs/],
        [{ ...batch("dev-a", 1), sentAt: "now" }, /^sentAt must be/],
        [{ ...batch("dev-a", 1), device: 42 }, /^device must be/],
        [{ ...batch("dev-a", 1), extra: true }, /unknown field "extra"/],
        [{ ...batch("dev-a", 1), metrics: {} }, /^metrics must be an array/],
        [{ ...batch("dev-a", 1), logs: [] }, /logs is only allowed in a batch of stream logs/],
        [{ ...batch("dev-a", 1), gaps: [{ from: 1, to: 2, count: -1, reason: "x" }] }, /^gaps\[0\]\.count/],
        [
          { ...batch("dev-a", 1), gaps: [{ from: 2, to: 1, count: 1, reason: "x" }] },
          /^gaps\[0\]\.to is before/,
        ],
        [
          { ...batch("dev-a", 1), gaps: [{ from: 1, to: 2, count: 1, reason: "Bad Reason" }] },
          /^gaps\[0\]\.reason/,
        ],
        [{ ...batch("dev-a", 1), gaps: Array(TELEMETRY_LIMITS.maxGaps + 1).fill({}) }, /^gaps has 1001/],
      ];
      for (const [body, want, headers] of cases) {
        const r = await f.post(t, body, { headers });
        assert.equal(r.status, 400, `${JSON.stringify(body).slice(0, 80)} -> ${r.status}`);
        assert.equal(r.body.error.code, "TETHER_ERR_BATCH_MALFORMED");
        assert.match(r.body.error.message, want);
      }
      // A stream no module stores is 503, not 400: the agent keeps the batch for a server that does.
      const noModule = await f.post(t, { ...batch("dev-a", 1), stream: "logs", metrics: undefined });
      assert.equal(noModule.status, 503);
      assert.equal(noModule.body.error.code, "TETHER_ERR_STORE_UNAVAILABLE");
      assert.match(noModule.body.error.message, /stream logs is not stored/);
      assert.equal((await f.rows()).length, 0);
      // Still fine afterwards, with seq 1.
      assert.equal((await f.post(t, batch("dev-a", 1))).status, 200);
    },
    { streams: ["metrics"] },
  );
});

test("gaps: stored once with the batch, server-corrected when the device clock is implausible, bounded per device", async () => {
  await withFixture(async (f) => {
    const t = await issued(f, "dev-a");
    const now = Date.now();
    // A robot that booted at 1970: its clock reads ~1 day after the epoch.
    const devNow = 86_400_000;
    const gaps = [
      {
        from: devNow - 60_000,
        to: devNow - 30_000,
        count: 12,
        reason: "buffer-full",
        detail: "12 samples dropped",
      },
    ];
    const r = await f.post(t, batch("dev-a", 1, { sentAt: devNow, gaps }));
    assert.equal(r.status, 200);
    await f.post(t, batch("dev-a", 1, { sentAt: devNow, gaps })); // a replay stores nothing
    const got = await f.layer.gaps({ deviceIds: ["dev-a"], from: now - 120_000, to: now + 60_000 });
    assert.equal(got.length, 1);
    assert.equal(got[0].count, 12);
    assert.equal(got[0].reason, "buffer-full");
    assert.equal(got[0].stream, "metrics");
    assert.equal(got[0].detail, "12 samples dropped");
    assert.equal(got[0].from, devNow - 60_000 + r.body.skewMs, "shifted by the batch's skew");
    // A plausible clock is kept as it is; the gap's own stream is honoured.
    const plain = { from: now - 5000, to: now - 4000, count: 1, reason: "series-limit", stream: "logs" };
    await f.post(t, batch("dev-a", 2, { gaps: [plain] }));
    const logs = await f.layer.gaps({ deviceIds: ["dev-a"], stream: "logs", from: 0, to: now + 60_000 });
    assert.deepEqual(
      logs.map((g) => [g.from, g.to, g.stream]),
      [[now - 5000, now - 4000, "logs"]],
    );
    // Bounded: the newest 1000 per device and stream stay.
    const many = Array.from({ length: 1000 }, (_, i) => ({
      from: now - 1e6 + i,
      to: now - 1e6 + i,
      count: 1,
      reason: "x",
    }));
    await f.post(t, batch("dev-a", 3, { gaps: many }));
    await f.post(t, batch("dev-a", 4, { gaps: many.slice(0, 5).map((g) => ({ ...g, from: now, to: now })) }));
    const kept = await f.layer.gaps({ deviceIds: ["dev-a"], stream: "metrics", from: 0, to: now + 60_000 });
    assert.equal(kept.length, 1000);
    // 1 + 1000 + 5 metrics gaps: the 6 oldest went.
    assert.equal(kept[0].from, now - 1e6 + 6, "the oldest ones went");
  });
});

test("rotation: the old token works until the agent confirms the new one; using the new one also retires the old", async () => {
  await withFixture(async (f) => {
    const d = await dev(f, "dev-a");
    const t1 = await issued(f, "dev-a");
    assert.equal((await f.post(t1, batch("dev-a", 1))).status, 200); // cached now
    await f.layer.rotateToken(d);
    const t2 = await f.lastToken("dev-a");
    assert.notEqual(t2, t1);
    assert.equal((await f.post(t1, batch("dev-a", 2))).status, 200, "old token works until delivery");
    await f.layer.tokenDelivered(d, t2);
    assert.equal((await f.post(t1, batch("dev-a", 3))).status, 401, "old token retired on delivery");
    assert.equal((await f.post(t2, batch("dev-a", 3))).status, 200);
    // Rotating again while a replacement is undelivered takes the older one back.
    await f.layer.rotateToken(d);
    const t3 = await f.lastToken("dev-a");
    await f.layer.rotateToken(d);
    const t4 = await f.lastToken("dev-a");
    const queued = (await f.link.outbox.pending("dev-a")).map((m) => (m.body as { token: string }).token);
    assert.ok(!queued.includes(t3) && queued.at(-1) === t4, "only the newest replacement travels");
    assert.equal((await f.post(t3, batch("dev-a", 4))).status, 401, "a taken-back token never works");
    // The agent uploads with the new one before its ack arrives: that promotes it.
    assert.equal((await f.post(t4, batch("dev-a", 4))).status, 200);
    assert.equal((await f.post(t2, batch("dev-a", 5))).status, 401);
    // A late ack of a replaced token changes nothing.
    await f.layer.tokenDelivered(d, t3);
    assert.equal((await f.post(t4, batch("dev-a", 5))).status, 200);
  });
});

test("revocation stops a cached token at once; deleting a device drops its tokens and sequence state", async () => {
  await withFixture(async (f) => {
    const d = await dev(f, "dev-a");
    const t = await issued(f, "dev-a");
    assert.equal((await f.post(t, batch("dev-a", 1))).status, 200);
    assert.equal((await f.post(t, batch("dev-a", 2))).status, 200); // served from the cache
    await f.layer.revoke(d);
    assert.equal((await f.post(t, batch("dev-a", 3))).status, 401);
    const tb = await issued(f, "dev-b");
    assert.equal((await f.post(tb, batch("dev-b", 1))).status, 200);
    // The token row goes with the device row (foreign key), and forgetDevice clears the rest.
    await f.main.db.deleteFrom("devices").where("id", "=", "dev-b").execute();
    await f.layer.forgetDevice("dev-b");
    assert.equal((await f.post(tb, batch("dev-b", 2))).status, 401);
    const left = await (f.main.db as any).selectFrom("telemetry_tokens").select("device_id").execute();
    assert.deepEqual(left, []);
    assert.equal((await f.layer.uploadState(["dev-b"])).size, 0);
  });
});

test("a token of a device that is no longer accepted is refused even before its revocation step ran", async () => {
  await withFixture(async (f) => {
    const t = await issued(f, "dev-a");
    await f.devices.update("dev-a", { state: "revoked" });
    assert.equal((await f.post(t, batch("dev-a", 1))).status, 401);
  });
});

test("sweep: accepted devices without a token get one; old tokens are rotated; 0 days turns rotation off", async () => {
  await withFixture(
    async (f) => {
      const first = await f.layer.sweepTokens();
      assert.deepEqual(first, { issued: 2, rotated: 0 });
      assert.deepEqual(await f.layer.sweepTokens(), { issued: 0, rotated: 0 });
      await (f.main.db as any)
        .updateTable("telemetry_tokens")
        .set({ issued_at: new Date(Date.now() - 8 * 86_400_000).toISOString() })
        .where("device_id", "=", "dev-a")
        .execute();
      assert.deepEqual(await f.layer.sweepTokens(), { issued: 0, rotated: 1 });
      assert.equal(
        (await f.link.outbox.pending("dev-a")).length,
        1,
        "the undelivered first token was replaced",
      );
    },
    { config: { telemetry: { tokenRotateDays: 7 } } as any },
  );
  await withFixture(
    async (f) => {
      await f.layer.sweepTokens();
      await (f.main.db as any)
        .updateTable("telemetry_tokens")
        .set({ issued_at: "2001-01-01T00:00:00.000Z" })
        .execute();
      assert.deepEqual(await f.layer.sweepTokens(), { issued: 0, rotated: 0 });
    },
    { config: { telemetry: { tokenRotateDays: 0 } } as any },
  );
});

test("TLS only: the route refuses a request without TLS, and plain HTTP to the HTTPS port never reaches it", async () => {
  await withFixture(async (f) => {
    const t = await issued(f, "dev-a");
    // inject() has no TLS socket: the route's own check answers.
    const r = await f.app.inject({
      method: "POST",
      url: "/api/v1/telemetry/batches",
      headers: { authorization: `Bearer ${t}`, "content-type": "application/json" },
      payload: JSON.stringify(batch("dev-a", 1)),
    });
    assert.equal(r.statusCode, 403);
    assert.equal(r.json().error.code, "TETHER_ERR_TLS_REQUIRED");
    const port = (f.app.server.address() as AddressInfo).port;
    const plain = await new Promise<string>((resolve) => {
      const req = http.request(
        { host: "127.0.0.1", port, path: "/api/v1/telemetry/batches", method: "POST" },
        (res) => resolve(`status ${res.statusCode}`),
      );
      req.on("error", (err) => resolve(`error ${(err as NodeJS.ErrnoException).code}`));
      req.end(JSON.stringify(batch("dev-a", 1)));
    });
    assert.doesNotMatch(plain, /status 200/);
    assert.equal((await f.rows()).length, 0);
  });
});
