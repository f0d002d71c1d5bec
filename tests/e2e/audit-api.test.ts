// @matrix: store
/**
 * GET /api/v1/audit: filters (actor, action and prefix, device by id or name, a deleted device
 * by the name it had, time range), cursor paging with a bounded page size, device names joined
 * into each entry, the OpenAPI schema, and the SDK's sentences for real entries. In-process
 * server on the pass's store (SQLite or PostgreSQL); devices enroll over real HTTPS.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { AUDIT_PAGE_MAX, type AuditEntry, auditText } from "@tether/sdk";
import { enrollDevice } from "../support/enroll-device.js";
import { type InProcessServer, startInProcessServer, storeApiToken } from "../support/in-process-server.js";
import { type Api, cleanupTempDirs, makeApi, tempDir } from "./harness.js";

let server: InProcessServer;
let api: Api;
let bobApi: Api;
let viewerApi: Api;
const ids: Record<string, string> = {};

async function enrolled(url: string, token: string, name: string): Promise<string> {
  return (await enrollDevice({ url, token, name })).deviceId;
}

const audit = (query = "") => api.call<AuditEntry[]>("GET", `/api/v1/audit${query}`);

before(async () => {
  server = await startInProcessServer({ dataDir: tempDir("tether-audit-api-") });
  const { url, ca } = server;
  api = server.api;

  // Two auto-accepted devices and one an operator accepts (device.accept with its fingerprint).
  const auto = await api.call("POST", "/api/v1/enrollment-tokens", { autoAccept: true, uses: 2 });
  ids["robot-1"] = await enrolled(url, auto.token, "robot-1");
  ids["robot-2"] = await enrolled(url, auto.token, "robot-2");
  const manual = await api.call("POST", "/api/v1/enrollment-tokens", {});
  ids["robot-3"] = await enrolled(url, manual.token, "robot-3");
  await api.call("POST", `/api/v1/devices/${ids["robot-3"]}/accept`, {});
  await api.call("PATCH", `/api/v1/devices/${ids["robot-1"]}`, { labels: { site: "lab" } });

  // bob (operator) acts too; a viewer may not read the log.
  await api.call("POST", "/api/v1/users", { username: "bob", role: "operator", password: "bob-password-1" });
  await api.call("POST", "/api/v1/users", { username: "vera", role: "viewer", password: "vera-password-1" });
  bobApi = makeApi(url, ca, await storeApiToken(server, "bob", "b"));
  viewerApi = makeApi(url, ca, await storeApiToken(server, "vera", "v"));
  await bobApi.call("PATCH", `/api/v1/devices/${ids["robot-2"]}`, { name: "robot-2b" });

  // Enough entries to need paging: enrollment tokens are the cheapest.
  for (let i = 0; i < 110; i++) await api.call("POST", "/api/v1/enrollment-tokens", {});

  // robot-3 goes: its entries keep its name.
  await api.call("DELETE", `/api/v1/devices/${ids["robot-3"]}`);
});

after(async () => {
  await server?.srv.close();
  await cleanupTempDirs();
});

test("the page size is bounded: 100 by default, at most AUDIT_PAGE_MAX", async () => {
  assert.equal((await audit()).length, 100);
  const r = await api.request("GET", `/api/v1/audit?limit=${AUDIT_PAGE_MAX + 1}`);
  assert.equal(r.status, 400);
  assert.equal(r.body.error.code, "TETHER_ERR_BAD_REQUEST");
  assert.ok((await audit(`?limit=${AUDIT_PAGE_MAX}`)).length > 100);
});

test("cursor paging walks every entry once, newest first", async () => {
  const all = await audit(`?limit=${AUDIT_PAGE_MAX}`);
  const seen: AuditEntry[] = [];
  let before: number | undefined;
  for (;;) {
    const page = await audit(`?limit=40${before ? `&before=${before}` : ""}`);
    seen.push(...page);
    if (page.length < 40) break;
    before = page[page.length - 1].id;
  }
  assert.deepEqual(
    seen.map((e) => e.id),
    all.map((e) => e.id),
  );
  const sorted = [...seen.map((e) => e.id)].sort((a, b) => b - a);
  assert.deepEqual(
    seen.map((e) => e.id),
    sorted,
  );
});

test("filters: actor, exact action, action prefix", async () => {
  const bobs = await audit("?actor=bob");
  assert.deepEqual(
    bobs.map((e) => e.action),
    ["device.rename"],
  );
  const accepts = await audit("?action=device.accept");
  assert.equal(accepts.length, 1);
  assert.equal(accepts[0].deviceId, ids["robot-3"]);
  const devices = await audit(`?action=${encodeURIComponent("device.*")}&limit=${AUDIT_PAGE_MAX}`);
  assert.ok(devices.length >= 7, JSON.stringify(devices.map((e) => e.action)));
  assert.ok(devices.every((e) => e.action.startsWith("device.")));
  assert.ok(devices.some((e) => e.action === "device.enroll"));
  // Combined with AND.
  assert.equal((await audit(`?actor=bob&action=device.accept`)).length, 0);
  // Not an action name: refused, not run as a pattern.
  assert.equal((await api.request("GET", "/api/v1/audit?action=%25")).status, 400);
});

test("device filter by name or id; each entry carries the device's name", async () => {
  const r1 = await audit("?device=robot-1");
  assert.deepEqual(r1.map((e) => e.action).sort(), ["device.enroll", "device.label"]);
  assert.ok(r1.every((e) => e.deviceId === ids["robot-1"] && e.deviceName === "robot-1" && !e.deviceDeleted));
  // Renamed: the current name, under the old entries too.
  const r2 = await audit(`?device=${ids["robot-2"]}`);
  assert.ok(r2.length >= 2);
  assert.ok(
    r2.every((e) => e.deviceName === "robot-2b"),
    JSON.stringify(r2),
  );
  const rename = r2.find((e) => e.action === "device.rename");
  assert.ok(rename);
  assert.equal(auditText(rename), "bob renamed robot-2 to robot-2b");
});

test("a deleted device keeps its name and is found by it", async () => {
  const byName = await audit("?device=robot-3");
  assert.deepEqual(
    byName.map((e) => e.action),
    ["device.delete", "device.revoke", "device.accept", "device.enroll"],
  );
  assert.ok(byName.every((e) => e.deviceName === "robot-3" && e.deviceDeleted === true));
  assert.deepEqual(
    (await audit(`?device=${ids["robot-3"]}`)).map((e) => e.id),
    byName.map((e) => e.id),
  );
  const accept = byName.find((e) => e.action === "device.accept")!;
  assert.match(auditText(accept), /^admin accepted robot-3 \(fingerprint \S+\)$/);
  assert.ok(!auditText(accept).includes(ids["robot-3"]));
  const enrolled = byName.find((e) => e.action === "device.enroll")!;
  assert.match(auditText(enrolled), /^robot-3 enrolled from \S+ \(fingerprint .+\); waiting for an operator/);
  // No such device, ever: 404.
  const none = await api.request("GET", "/api/v1/audit?device=robot-404");
  assert.equal(none.status, 404);
  assert.equal(none.body.error.code, "TETHER_ERR_DEVICE_NOT_FOUND");
});

test("time range: since inclusive, until exclusive; a bad time is refused", async () => {
  const all = await audit(`?limit=${AUDIT_PAGE_MAX}`);
  const mid = all[Math.floor(all.length / 2)];
  const since = await audit(`?limit=${AUDIT_PAGE_MAX}&since=${encodeURIComponent(mid.at)}`);
  const until = await audit(`?limit=${AUDIT_PAGE_MAX}&until=${encodeURIComponent(mid.at)}`);
  assert.ok(since.some((e) => e.id === mid.id));
  assert.ok(since.every((e) => e.at >= mid.at));
  assert.ok(until.every((e) => e.at < mid.at));
  assert.equal(since.length + until.length, all.length);
  assert.equal(
    (await audit(`?since=${encodeURIComponent(new Date(Date.now() + 3_600_000).toISOString())}`)).length,
    0,
  );
  const bad = await api.request("GET", "/api/v1/audit?until=yesterday-ish");
  assert.equal(bad.status, 400);
  assert.equal(bad.body.error.code, "TETHER_ERR_BAD_REQUEST");
});

test("admins only; the OpenAPI document lists the filters", async () => {
  const r = await viewerApi.request("GET", "/api/v1/audit");
  assert.equal(r.status, 403);
  assert.equal((await bobApi.request("GET", "/api/v1/audit")).status, 403);
  const doc = await api.call<any>("GET", "/api/openapi.json");
  const params = (doc.paths["/api/v1/audit"].get.parameters as { name: string }[]).map((p) => p.name).sort();
  assert.deepEqual(params, ["action", "actor", "before", "device", "limit", "since", "until"]);
});
