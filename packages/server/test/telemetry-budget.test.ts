// @matrix: once
// A device's ingest budget (docs/protocol.md §14.3): a token bucket of samples per device.
// Over it, an upload is answered 429 TETHER_ERR_RATE_LIMITED with Retry-After and nothing is
// stored (the agent keeps the batch); another device is unaffected; the bucket refills.
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { cleanupTempDirs } from "../../../tests/e2e/harness.js";
import type { ServerConfig } from "../src/config.js";
import type { DeviceRow } from "../src/devices.js";
import { SampleBudget, samplesIn } from "../src/telemetry/sample-budget.js";
import { batch, telemetryFixture } from "./telemetry-fixture.js";

after(cleanupTempDirs);

test("SampleBudget: burst, then the sustained rate; a refill; an oversized batch passes on a full bucket", () => {
  let t = 0;
  const b = new SampleBudget({ perSecond: 100, burst: 1000 }, () => t);
  assert.equal(b.take("d", 600), 0);
  assert.equal(b.take("d", 400), 0);
  assert.equal(b.take("d", 50), 500, "50 samples at 100/s: wait 500 ms");
  assert.equal(b.take("other", 1000), 0, "another device has its own bucket");
  t += 500;
  assert.equal(b.take("d", 50), 0);
  t += 60_000;
  assert.equal(
    b.take("d", 5000),
    0,
    "more than the burst passes on a full bucket (it could never pass otherwise)",
  );
  assert.ok(b.take("d", 1) > 0);
  assert.equal(samplesIn({ metrics: [{ points: [1, 2] }, { points: [3] }], logs: [1] }), 4);
});

test("ingest: a device over its sample budget gets 429 with Retry-After; nothing stored; others go on", async () => {
  const f = await telemetryFixture({
    config: { telemetry: { deviceSamplesPerSecond: 1, deviceSampleBurst: 3 } } as ServerConfig,
  });
  try {
    const token = async (id: string) => {
      const d = (await f.devices.get(id)) as DeviceRow;
      await f.layer.rotateToken(d);
      const t = await f.lastToken(id);
      await f.layer.tokenDelivered(d, t);
      return t;
    };
    const [a, b] = [await token("dev-a"), await token("dev-b")];
    const points = (n: number) => [
      { name: "x", points: Array.from({ length: n }, (_, i) => [Date.now() + i, i]) },
    ];
    assert.equal((await f.post(a, batch("dev-a", 1, { metrics: points(3) }))).status, 200);
    const over = await f.post(a, batch("dev-a", 2, { metrics: points(2) }));
    assert.equal(over.status, 429);
    assert.equal(over.body.error.code, "TETHER_ERR_RATE_LIMITED");
    assert.match(over.body.error.message, /budget/);
    assert.deepEqual(
      (await f.rows("dev-a")).map((r) => r.seq),
      [1],
      "the refused batch stored nothing (its seq is free for the retry)",
    );
    assert.equal((await f.post(b, batch("dev-b", 1, { metrics: points(3) }))).status, 200);
  } finally {
    await f.close();
  }
});
