// @matrix: store
// Staged configuration rollouts (docs/protocol.md §18.7): the canary first (devices by name),
// the rest held at the layer's base revision until the canary applied and an operator resumed
// (or the wait passed); an automatic pause when more devices fail than --max-failures; resume;
// abort restoring the base as a new revision; the REST routes and their errors.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { cleanupTempDirs, waitFor } from "../../../tests/e2e/harness.js";
import { canaryCount } from "../src/capabilities/config/delivery/rollouts.js";
import { type ConfigWorld, configWorld } from "./config-support.js";

const DEVS = Array.from({ length: 5 }, (_, i) => ({
  id: `r${i}-000${i}`,
  name: `robot-${i}`,
  labels: { site: "tokyo" },
}));
const ids = DEVS.map((d) => d.id);

let w: ConfigWorld;
before(async () => {
  w = await configWorld(DEVS);
  await w.cfg.model.createGroup(w.actor, { name: "tokyo", selector: "site=tokyo", priority: 10 });
  await w.cfg.model.patch(w.actor, "group:tokyo", { set: [{ key: "speed", value: 1 }] });
  for (const id of ids) await w.applyLatest(id);
});
after(async () => {
  await w?.close();
  await cleanupTempDirs();
});

const speedSent = async (id: string) => (await w.applies(id)).at(-1)?.body.values.speed;

test("canary sizes", () => {
  assert.equal(canaryCount("2", 5), 2);
  assert.equal(canaryCount("10", 5), 5);
  assert.equal(canaryCount("10%", 5), 1);
  assert.equal(canaryCount("50%", 5), 3);
  assert.equal(canaryCount("1", 0), 0);
});

test("canary → waiting → (resume) rolling → done; other writes to the layer refused meanwhile", async () => {
  const c = await w.cfg.model.patch(w.actor, "group:tokyo", {
    set: [{ key: "speed", value: 2 }],
    rollout: { canary: "2" },
  });
  assert.ok(c.rollout);
  const id = c.rollout.id;
  assert.match(id, /^rol_[a-z0-9]{20}$/);
  assert.equal(c.rollout.state, "canary");
  assert.deepEqual(c.rollout.counts, { total: 5, canary: 2, released: 2, applied: 0, failed: 0, pending: 5 });
  // The canary (first two by name) got speed 2; the rest nothing new.
  assert.equal(await speedSent(ids[0]), 2);
  assert.equal(await speedSent(ids[1]), 2);
  for (const d of ids.slice(2)) assert.equal((await w.applies(d)).length, 0);
  const held = await w.cfg.delivery.statusOf(ids);
  assert.equal(held.get(ids[3])?.heldBy, id);
  assert.equal(held.get(ids[3])?.status, "pending");

  await assert.rejects(
    w.cfg.model.patch(w.actor, "group:tokyo", { set: [{ key: "x", value: 1 }] }),
    (e: any) => e.code === "TETHER_ERR_ROLLOUT_ACTIVE",
  );

  await w.applyLatest(ids[0]);
  assert.equal((await w.cfg.rollouts.view(id)).state, "canary");
  await w.applyLatest(ids[1]);
  let v = await w.cfg.rollouts.view(id);
  assert.equal(v.state, "waiting");
  assert.equal(v.releaseAt, null);

  const list = await w.admin.call<any[]>("GET", "/api/v1/config/rollouts");
  assert.ok(list.some((r) => r.id === id));
  const r = await w.admin.request<any>("POST", `/api/v1/config/rollouts/${id}/resume`);
  assert.equal(r.status, 200);
  assert.equal(r.body.state, "rolling");
  for (const d of ids.slice(2)) assert.equal(await speedSent(d), 2);
  for (const d of ids.slice(2)) await w.applyLatest(d);
  v = await w.cfg.rollouts.view(id);
  assert.equal(v.state, "done");
  assert.equal(v.counts.applied, 5);

  const detail = await w.admin.call<any>("GET", `/api/v1/config/rollouts/${id}`);
  assert.equal(detail.devices.length, 5);
  assert.deepEqual(
    detail.devices.filter((x: any) => x.stage === "canary").map((x: any) => x.name),
    ["robot-0", "robot-1"],
  );
  assert.ok(detail.devices.every((x: any) => x.released && x.status === "in-sync"));
  const again = await w.admin.request<any>("POST", `/api/v1/config/rollouts/${id}/pause`);
  assert.equal(again.status, 409);
  assert.equal(again.body.error.code, "TETHER_ERR_ROLLOUT_STATE");
  const missing = await w.admin.request<any>("GET", `/api/v1/config/rollouts/rol_${"x".repeat(20)}`);
  assert.equal(missing.status, 404);
  assert.equal(missing.body.error.code, "TETHER_ERR_ROLLOUT_NOT_FOUND");
});

test("more failures than --max-failures pause it; resume continues; abort restores the base", async () => {
  const c = await w.cfg.model.patch(w.actor, "group:tokyo", {
    set: [{ key: "speed", value: 3 }],
    rollout: { canary: "1", waitMs: 0, maxFailures: 0 },
  });
  const id = c.rollout?.id as string;
  const [m] = await w.ack(ids[0]);
  assert.equal(m.body.values.speed, 3);
  await w.report(ids[0], { rev: m.body.rev, hash: m.body.hash, status: "failed", error: "hook failed" });
  let v = await w.cfg.rollouts.view(id);
  assert.equal(v.state, "paused");
  assert.equal(v.reason, "1 device failed, more than --max-failures 0");
  for (const d of ids.slice(1)) assert.equal((await w.applies(d)).length, 0, "the rest stays held");

  // The operator accepts that failure: the canary is complete, so the rest is released.
  v = await w.cfg.rollouts.resume({ ...w.actor, role: "admin" } as never, id);
  assert.equal(v.state, "rolling");
  for (const d of ids.slice(1, 3)) await w.applyLatest(d);
  assert.equal((await w.cfg.rollouts.view(id)).state, "rolling");

  const abort = await w.admin.request<any>("POST", `/api/v1/config/rollouts/${id}/abort`);
  assert.equal(abort.status, 200);
  assert.equal(abort.body.state, "aborted");
  // Every device converges back to the base (speed 2) at a newer revision.
  for (const d of ids) {
    const last = (await w.applies(d)).at(-1);
    assert.ok(last, `${d} was sent the restored configuration`);
    assert.equal(last.body.values.speed, 2);
    assert.ok(last.body.rev > c.revision);
  }
  const layer = await w.admin.call<any>("GET", "/api/v1/config/layers/group:tokyo");
  assert.equal(layer.values.speed, 2);
  assert.equal(layer.rollout, null);
  const audit = await w.admin.call<any[]>("GET", "/api/v1/audit?action=config.rollout.*");
  assert.ok(audit.some((e) => e.action === "config.rollout.abort" && e.detail.rollout === id));
  for (const d of ids) await w.applyLatest(d);
});

test("a wait releases the rest by itself; pause stops it", async () => {
  const c = await w.cfg.model.patch(w.actor, "group:tokyo", {
    set: [{ key: "speed", value: 4 }],
    rollout: { canary: "1", waitMs: 50 },
  });
  const id = c.rollout?.id as string;
  // Held until the canary reported (no timer before that).
  assert.equal((await w.cfg.rollouts.view(id)).state, "canary");
  for (const d of ids.slice(1)) assert.equal((await w.applies(d)).length, 0);
  await w.applyLatest(ids[0]);
  const v = await w.cfg.rollouts.view(id);
  // 50 ms may have passed already on a slow store.
  assert.ok(v.state === "rolling" || (v.state === "waiting" && v.releaseAt), v.state);
  await waitFor(async () => (await w.cfg.rollouts.view(id)).state === "rolling", "the rest released");
  for (const d of ids.slice(1)) assert.equal(await speedSent(d), 4);
  const p = await w.admin.request<any>("POST", `/api/v1/config/rollouts/${id}/pause`);
  assert.equal(p.body.state, "paused");
  assert.match(p.body.reason, /paused by/);
  const r = await w.admin.request<any>("POST", `/api/v1/config/rollouts/${id}/resume`);
  assert.equal(r.body.state, "rolling");
  for (const d of ids.slice(1)) await w.applyLatest(d);
  assert.equal((await w.cfg.rollouts.view(id)).state, "done");
});
