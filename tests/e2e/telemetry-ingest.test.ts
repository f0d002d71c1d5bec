// @matrix: store
// The device telemetry token in a whole server (docs/protocol.md §14.1): accepting a device
// issues its first token; `rotate-credential` replaces it with the broker secret (the old one
// works until the agent confirms); revocation stops it at once (one operation, with its step
// reported); deleting the device drops it; the sweep gives tokens to accepted devices without
// one; plain HTTP to the HTTPS port never reaches ingest. A probe upload of `{}` tells the
// token's fate: 400 (the envelope, so the token passed) or 401 (refused).
import assert from "node:assert/strict";
import http from "node:http";
import https from "node:https";
import { after, before, test } from "node:test";
import { insertDevice } from "../../packages/server/test/support.js";
import { type InProcessServer, startInProcessServer } from "../support/in-process-server.js";
import { readResponse } from "../support/net.js";
import { cleanupTempDirs, tempDir } from "./harness.js";

let s: InProcessServer;
let projectId: number;

before(async () => {
  s = await startInProcessServer({ dataDir: tempDir("tether-telemetry-e2e-") });
  projectId = await s.srv.services.accounts.projectId("default");
});
after(async () => {
  await s?.srv.close();
  await cleanupTempDirs();
});

/** The status of an upload of `{}` with this token: 400 when the token passed, 401 when refused. */
function probe(token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      new URL("/api/v1/telemetry/batches", s.url),
      {
        method: "POST",
        ca: s.ca,
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      },
      (res) =>
        readResponse(res).then((r) => {
          // The app's API-token gate must leave this path to the device token (http/auth.ts PUBLIC).
          assert.notEqual(
            r.body?.error?.code,
            "TETHER_ERR_UNAUTHENTICATED",
            "ingest is behind the API-token gate",
          );
          resolve(r.status);
        }, reject),
    );
    req.on("error", reject);
    req.end("{}");
  });
}

async function queuedTokens(deviceId: string): Promise<string[]> {
  const rows = await s.srv.store.db
    .selectFrom("outbox")
    .select("body")
    .where("device_id", "=", deviceId)
    .where("type", "=", "telemetry.token")
    .orderBy("mid")
    .execute();
  return rows.map((r) => JSON.parse(r.body).token);
}

async function pendingDevice(id: string) {
  await insertDevice(s.srv.store.db, projectId, id);
  await s.srv.services.devices.update(id, { state: "pending" });
}

test("accept issues the first token; rotate-credential replaces it; the old one works until delivery", async () => {
  await pendingDevice("tel-a");
  assert.deepEqual(await queuedTokens("tel-a"), [], "a pending device has no token");
  await s.api.call("POST", "/api/v1/devices/tel-a/accept");
  const [t1] = await queuedTokens("tel-a");
  assert.ok(t1, "accepting queued a telemetry.token message");
  assert.equal(await probe(t1), 400);

  const r = await s.api.call("POST", "/api/v1/devices/tel-a/rotate-credential");
  assert.equal(typeof r.telemetryMid, "number");
  assert.equal(typeof r.mid, "number");
  const t2 = (await queuedTokens("tel-a")).at(-1) as string;
  assert.notEqual(t2, t1);
  assert.equal(await probe(t1), 400, "the old token works until the agent has the new one");
  const d = await s.srv.services.devices.get("tel-a");
  await s.srv.telemetry.tokenDelivered(d!, t2); // what the telemetry.token ack does
  assert.equal(await probe(t1), 401);
  assert.equal(await probe(t2), 400);
});

test("revocation stops the token at once and reports its step; deletion drops the token row", async () => {
  await pendingDevice("tel-b");
  await s.api.call("POST", "/api/v1/devices/tel-b/accept");
  const [t] = await queuedTokens("tel-b");
  assert.equal(await probe(t), 400);
  assert.equal(await probe(t), 400); // cached now
  await s.api.call("POST", "/api/v1/devices/tel-b/revoke");
  assert.equal(await probe(t), 401);
  const audit = await s.srv.store.db
    .selectFrom("audit")
    .select("detail")
    .where("device_id", "=", "tel-b")
    .where("action", "=", "device.revoke")
    .executeTakeFirstOrThrow();
  const steps = JSON.parse(audit.detail).steps as { step: string; error?: string }[];
  assert.deepEqual(
    steps.find((x) => x.step === "telemetry: revoke the device token"),
    { step: "telemetry: revoke the device token" },
  );
  await s.api.call("DELETE", "/api/v1/devices/tel-b");
  const left = await (s.srv.store.db as any)
    .selectFrom("telemetry_tokens")
    .select("device_id")
    .where("device_id", "=", "tel-b")
    .execute();
  assert.deepEqual(left, []);
});

test("the sweep gives a token to an accepted device that has none (auto-accept, upgrades)", async () => {
  await insertDevice(s.srv.store.db, projectId, "tel-c");
  const { issued } = await s.srv.telemetry.sweepTokens();
  assert.ok(issued >= 1);
  const [t] = await queuedTokens("tel-c");
  assert.equal(await probe(t), 400);
});

test("plain HTTP to the HTTPS port never reaches ingest", async () => {
  const u = new URL(s.url);
  const got = await new Promise<string>((resolve) => {
    const req = http.request(
      { host: u.hostname, port: u.port, path: "/api/v1/telemetry/batches", method: "POST" },
      (res) => resolve(`status ${res.statusCode}`),
    );
    req.on("error", (err) => resolve(`error ${(err as NodeJS.ErrnoException).code}`));
    req.end("{}");
  });
  assert.doesNotMatch(got, /status (200|400|401)/);
});
