// @matrix: store
// Configuration delivery (docs/protocol.md §18.3): only the newest `config.apply` waits in an
// offline device's outbox, desired vs reported status through acknowledgement and reports, a
// report of a revision never sent refused (audited, status unchanged), drift, a relabel taking
// a retarget revision, and the blob endpoint (device token, last sent configurations only,
// secret files sealed to the device's key).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { CONFIG_LIMITS, openSealed, sha256Hex } from "@tether/protocol";
import { cleanupTempDirs, waitFor } from "../../../tests/e2e/harness.js";
import { type ConfigWorld, configWorld, getRaw } from "./config-support.js";

let w: ConfigWorld;
before(async () => {
  w = await configWorld([
    { id: "d1-0001", name: "robot-1", labels: { site: "tokyo" } },
    { id: "d2-0002", name: "robot-2", labels: { site: "osaka" } },
  ]);
});
after(async () => {
  await w?.close();
  await cleanupTempDirs();
});

const status = async (id: string) => (await w.cfg.delivery.statusOf([id])).get(id);

test("an offline device gets only the newest configuration; ack → applying; report → in-sync", async () => {
  const c1 = await w.cfg.model.patch(w.actor, "defaults", { set: [{ key: "nav.hz", value: 10 }] });
  const first = await w.applies("d1-0001");
  assert.equal(first.length, 1);
  assert.equal(first[0].body.rev, c1.revision);
  assert.deepEqual(first[0].body.values, { nav: { hz: 10 } });
  assert.equal((await status("d1-0001"))?.status, "pending");

  const c2 = await w.cfg.model.patch(w.actor, "defaults", { set: [{ key: "nav.hz", value: 20 }] });
  const second = await w.applies("d1-0001");
  assert.equal(second.length, 1, "the older undelivered config.apply was taken back");
  assert.equal(second[0].body.rev, c2.revision);
  assert.deepEqual(second[0].body.values, { nav: { hz: 20 } });
  assert.equal((await status("d1-0001"))?.desired, c2.revision);

  await w.ack("d1-0001");
  assert.equal((await status("d1-0001"))?.status, "applying");
  await w.report("d1-0001", { rev: c2.revision, hash: second[0].body.hash, status: "applied" });
  const s = await status("d1-0001");
  assert.equal(s?.status, "in-sync");
  assert.equal(s?.reported, c2.revision);
  // The same revision again changes nothing (no new message).
  await w.cfg.delivery.recompute(w.projectId, ["d1-0001"], "admin");
  assert.equal((await w.applies("d1-0001")).length, 0);
});

test("a report of a revision the server never sent is refused: audited, status unchanged", async () => {
  await w.applyLatest("d2-0002");
  const before = await status("d2-0002");
  assert.equal(before?.status, "in-sync");
  const refused = w.cfg.delivery.refusedReports;
  await w.report("d2-0002", { rev: 9999, hash: "a".repeat(64), status: "failed", error: "boom" });
  assert.equal(w.cfg.delivery.refusedReports, refused + 1);
  assert.deepEqual(await status("d2-0002"), before);
  const entry = await waitFor(async () => {
    const r = await w.admin.call<any[]>("GET", "/api/v1/audit?action=config.report-refused");
    return r.find((e) => e.detail?.rev === 9999);
  }, "the audit entry");
  assert.equal(entry.detail.hash, "a".repeat(64));
  // A report of another device's (rev, hash) is refused too.
  const d1 = await w.cfg.delivery.statusOf(["d1-0001"]);
  await w.report("d2-0002", {
    rev: (d1.get("d1-0001")?.desired ?? 0) + 5000,
    hash: "b".repeat(64),
    status: "applied",
  });
  assert.equal(w.cfg.delivery.refusedReports, refused + 2);
});

test("failed with hook output, drift stored and cleared by the next applied report", async () => {
  const c = await w.cfg.model.patch(w.actor, "device:robot-1", { set: [{ key: "mode", value: "fast" }] });
  const [m] = await w.ack("d1-0001");
  assert.equal(m.body.rev, c.revision);
  await w.report("d1-0001", {
    rev: m.body.rev,
    hash: m.body.hash,
    status: "failed",
    error: null,
    hook: { code: 3, signal: null, timedOut: false, output: "reload failed\n" },
  });
  let s = await status("d1-0001");
  assert.equal(s?.status, "failed");
  assert.match(s?.error ?? "", /exited with 3/);
  assert.equal(s?.hookOutput, "reload failed\n");
  await w.report("d1-0001", {
    rev: m.body.rev,
    hash: m.body.hash,
    status: "drift",
    drift: ["files/nav.yaml"],
  });
  assert.deepEqual((await status("d1-0001"))?.drift, ["files/nav.yaml"]);
  await w.report("d1-0001", { rev: m.body.rev, hash: m.body.hash, status: "applied" });
  s = await status("d1-0001");
  assert.equal(s?.status, "in-sync");
  assert.equal(s?.error, null);
  assert.deepEqual(s?.drift, []);
});

test("a relabel that changes a device's configuration takes a newer (retarget) revision", async () => {
  await w.cfg.model.createGroup(w.actor, { name: "tokyo", selector: "site=tokyo", priority: 10 });
  await w.cfg.model.patch(w.actor, "group:tokyo", { set: [{ key: "zone", value: "jp-east" }] });
  await w.applyLatest("d1-0001");
  const before = (await status("d2-0002"))?.desired ?? 0;
  const r = await w.admin.request("PATCH", "/api/v1/devices/robot-2", { labels: { site: "tokyo" } });
  assert.equal(r.status, 200);
  const [m] = await w.applies("d2-0002");
  assert.ok(m, "the relabelled device was sent its new configuration");
  assert.ok(m.body.rev > before);
  assert.equal((m.body.values as any).zone, "jp-east");
  await w.applyLatest("d2-0002");
  // Back out of the group: the value goes, and the revision still goes up.
  const r2 = await w.admin.request("PATCH", "/api/v1/devices/robot-2", { labels: { site: "osaka" } });
  assert.equal(r2.status, 200);
  const [m2] = await w.applies("d2-0002");
  assert.ok(m2 && m2.body.rev > m.body.rev, "a retarget revision, never a lower one");
  assert.equal((m2.body.values as any).zone, undefined);
});

test("files: small ones inline, large and secret ones from the blob endpoint with the device token", async () => {
  const small = Buffer.from("a: 1\n");
  const big = Buffer.alloc(CONFIG_LIMITS.inlineFileBytes + 100, 7);
  const secret = Buffer.from("password: hunter2\n");
  await w.cfg.model.putFile(w.actor, "device:robot-1", "small.yaml", small, {});
  await w.cfg.model.putFile(w.actor, "device:robot-1", "big.bin", big, {});
  await w.cfg.model.putFile(w.actor, "device:robot-1", "creds.yaml", secret, { secret: true });
  const ms = await w.applies("d1-0001");
  const files = ms.at(-1)?.body.files ?? [];
  const f = (p: string) => files.find((x) => x.path === p);
  assert.equal(Buffer.from(f("small.yaml")?.d ?? "", "base64").toString(), small.toString());
  assert.equal(f("big.bin")?.d, undefined);
  assert.equal(f("creds.yaml")?.d, undefined);
  assert.equal(f("creds.yaml")?.secret, true);

  const tok1 = await w.token("d1-0001");
  const tok2 = await w.token("d2-0002");
  const bigHash = sha256Hex(big);
  let r = await getRaw(w, `/api/v1/config/blobs/${bigHash}`, { authorization: `Bearer ${tok1}` });
  assert.equal(r.status, 200);
  assert.equal(r.headers["content-length"], String(big.length));
  assert.equal(sha256Hex(r.body), bigHash);

  r = await getRaw(w, `/api/v1/config/blobs/${bigHash}`);
  assert.equal(r.status, 401);
  assert.equal(JSON.parse(r.body.toString()).error.code, "TETHER_ERR_TELEMETRY_TOKEN");
  r = await getRaw(w, `/api/v1/config/blobs/${bigHash}`, { authorization: "Bearer not-a-token" });
  assert.equal(r.status, 401);
  // Another device was never sent this file.
  r = await getRaw(w, `/api/v1/config/blobs/${bigHash}`, { authorization: `Bearer ${tok2}` });
  assert.equal(r.status, 404);
  assert.equal(JSON.parse(r.body.toString()).error.code, "TETHER_ERR_CONFIG_BLOB_NOT_FOUND");
  r = await getRaw(w, `/api/v1/config/blobs/${"0".repeat(64)}`, { authorization: `Bearer ${tok1}` });
  assert.equal(r.status, 404);
  r = await getRaw(w, "/api/v1/config/blobs/not-a-hash", { authorization: `Bearer ${tok1}` });
  assert.equal(r.status, 400);

  const secretHash = sha256Hex(secret);
  r = await getRaw(w, `/api/v1/config/blobs/${secretHash}`, { authorization: `Bearer ${tok1}` });
  assert.equal(r.status, 200);
  assert.equal(r.headers["x-tether-sealed"], "1");
  assert.ok(!r.body.includes(Buffer.from("hunter2")), "the HTTPS body is ciphertext");
  const k = w.keys.get("d1-0001");
  assert.ok(k);
  const opened = openSealed(Buffer.from(k.privateKey), Buffer.from(k.publicKey), r.body, secretHash);
  assert.equal(opened.toString(), secret.toString());
});
