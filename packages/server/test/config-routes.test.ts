// @matrix: store
// The configuration model's REST API in a real in-process server (docs/protocol.md §18.6):
// roles, layers with secrets masked, file upload/download (and the 16 MiB limit), groups,
// history, diff, rollback, a device's explain, status and the project's JSON Schema.
import assert from "node:assert/strict";
import https from "node:https";
import { after, before, test } from "node:test";
import type {
  ConfigChange,
  ConfigDeviceView,
  ConfigDiff,
  ConfigGroup,
  ConfigLayerSummary,
  ConfigLayerView,
  ConfigRevision,
  ConfigStatusView,
} from "@tether/protocol";
import { SECRET_MASK } from "@tether/protocol";
import { cleanupTempDirs } from "../../../tests/e2e/harness.js";
import { readResponse } from "../../../tests/support/net.js";
import { type World, world } from "./alerts-support.js";

let w: World;

before(async () => {
  w = await world();
});

after(async () => {
  await w?.srv.close();
  await cleanupTempDirs();
});

// An operator's token for raw uploads (the world's Api objects keep theirs private).
let operatorAuth = "";
async function put(path: string, body: Buffer) {
  return new Promise<{ status: number; body: any }>((resolve, reject) => {
    const req = https.request(
      new URL(path, w.url),
      {
        method: "PUT",
        ca: w.ca,
        headers: {
          authorization: operatorAuth,
          "content-type": "application/octet-stream",
          "content-length": String(body.length),
        },
      },
      (res) => readResponse(res).then(resolve, reject),
    );
    // A refused upload may close the connection before the body is sent.
    req.on("error", (err) => ((err as NodeJS.ErrnoException).code === "EPIPE" ? undefined : reject(err)));
    req.end(body);
  });
}

test("layers, files, groups, history, diff, rollback, device view, status and schema over HTTP", async () => {
  // An operator token of our own (the world's Api objects keep theirs private).
  const a = w.srv.services.accounts;
  const uid = await a.createUser("cfg-oper", "a-long-enough-password", w.projectId);
  await a.setRole(uid, w.projectId, "operator");
  operatorAuth = `Bearer ${(await a.createApiToken(uid, w.projectId, "t")).token}`;

  // Roles: a viewer cannot write.
  const denied = await w.viewer.request("PATCH", "/api/v1/config/layers/defaults", {
    set: [{ key: "a", value: 1 }],
  });
  assert.equal(denied.status, 403);

  const g = await w.operator.request<ConfigGroup>("POST", "/api/v1/config/groups", {
    name: "site-tokyo",
    selector: "site=tokyo",
    priority: 10,
  });
  assert.equal(g.status, 201);
  assert.equal(g.body.devices, 2);
  const clash = await w.operator.request("POST", "/api/v1/config/groups", {
    name: "tokyo-2",
    selector: "site=tokyo",
    priority: 10,
  });
  assert.equal(clash.status, 409);
  assert.equal(clash.body.error.code, "TETHER_ERR_CONFIG_PRIORITY");

  const c1 = await w.operator.call<ConfigChange>("PATCH", "/api/v1/config/layers/defaults", {
    set: [{ key: "nav.hz", value: 10 }],
    baseRevision: null,
    message: "first",
  });
  assert.equal(c1.layer, "defaults");
  const c2 = await w.operator.call<ConfigChange>("PATCH", "/api/v1/config/layers/group:site-tokyo", {
    set: [
      { key: "nav.hz", value: 20 },
      { key: "db.password", value: "s3cret-value", secret: true },
    ],
  });
  assert.equal(c2.affected, 2);
  const stale = await w.operator.request("PATCH", "/api/v1/config/layers/defaults", {
    set: [{ key: "nav.hz", value: 11 }],
    baseRevision: null,
  });
  assert.equal(stale.status, 409);
  assert.equal(stale.body.error.code, "TETHER_ERR_CONFIG_CONFLICT");
  const badKey = await w.operator.request("PATCH", "/api/v1/config/layers/defaults", {
    set: [{ key: "a b", value: 1 }],
  });
  assert.equal(badKey.status, 400);
  assert.equal(badKey.body.error.code, "TETHER_ERR_CONFIG_KEY");

  const layer = await w.viewer.call<ConfigLayerView>("GET", "/api/v1/config/layers/group:site-tokyo");
  assert.deepEqual(layer.values, { nav: { hz: 20 }, db: { password: SECRET_MASK } });
  assert.deepEqual(layer.secretKeys, ["db.password"]);
  assert.equal(layer.revision, c2.revision);
  const missing = await w.viewer.request("GET", "/api/v1/config/layers/group:nope");
  assert.equal(missing.status, 404);
  const never = await w.viewer.call<ConfigLayerView>("GET", "/api/v1/config/layers/device:robot-3");
  assert.equal(never.revision, null);

  // Files.
  const up = await put(
    "/api/v1/config/layers/device:robot-1/files?path=nav/params.yaml&message=m",
    Buffer.from("a: 1\n"),
  );
  assert.equal(up.status, 200, JSON.stringify(up.body));
  const sec = await put(
    "/api/v1/config/layers/device:robot-1/files?path=key.pem&secret=1",
    Buffer.from("PRIVATE"),
  );
  assert.equal(sec.status, 200);
  const got = await w.viewer.request(
    "GET",
    "/api/v1/config/layers/device:robot-1/files?path=nav/params.yaml",
  );
  assert.equal(got.status, 200);
  assert.equal(Buffer.isBuffer(got.body) ? got.body.toString() : String(got.body), "a: 1\n");
  const hidden = await w.viewer.request("GET", "/api/v1/config/layers/device:robot-1/files?path=key.pem");
  assert.equal(hidden.status, 403);
  const badYaml = await put("/api/v1/config/layers/defaults/files?path=x.yaml", Buffer.from("a: [\n"));
  assert.equal(badYaml.status, 400);
  assert.equal(badYaml.body.error.code, "TETHER_ERR_CONFIG_INVALID");
  const huge = await put(
    "/api/v1/config/layers/defaults/files?path=big.bin",
    Buffer.alloc(16 * 1024 * 1024 + 65 * 1024),
  );
  assert.equal(huge.status, 413);
  assert.equal(huge.body.error.code, "TETHER_ERR_CONFIG_TOO_LARGE");
  assert.match(huge.body.error.message, /16 MiB/);

  // The device view: merged, masked, explained.
  const dv = await w.viewer.call<ConfigDeviceView>("GET", "/api/v1/config/devices/robot-1");
  assert.deepEqual(dv.values, { nav: { hz: 20 }, db: { password: SECRET_MASK } });
  const hz = dv.explain.find((x) => x.key === "nav.hz")!;
  assert.equal(hz.layer, "group:site-tokyo");
  assert.deepEqual(hz.overrides, [{ layer: "defaults", layerLabel: "project defaults", value: 10 }]);
  assert.deepEqual(
    dv.files.map((f) => [f.path, f.secret, f.layer]),
    [
      ["key.pem", true, "device:robot-1"],
      ["nav/params.yaml", false, "device:robot-1"],
    ],
  );
  assert.deepEqual(
    dv.layers.map((l) => l.layer),
    ["defaults", "group:site-tokyo", "device:robot-1"],
  );

  // History, diff, rollback.
  const c3 = await w.operator.call<ConfigChange>("PATCH", "/api/v1/config/layers/group:site-tokyo", {
    set: [{ key: "nav.hz", value: 30 }],
    message: "faster",
  });
  const hist = await w.viewer.call<ConfigRevision[]>(
    "GET",
    "/api/v1/config/layers/group:site-tokyo/history?limit=10",
  );
  assert.deepEqual(
    hist.map((h) => h.kind),
    ["change", "change", "group-create"],
  );
  assert.equal(hist[0]!.message, "faster");
  const diff = await w.viewer.call<ConfigDiff>(
    "GET",
    `/api/v1/config/diff?from=${c2.revision}&to=${c3.revision}`,
  );
  assert.deepEqual(diff.entries, [{ key: "nav.hz", op: "changed", from: 20, to: 30, secret: false }]);
  const cross = await w.viewer.request("GET", `/api/v1/config/diff?from=${c1.revision}&to=${c3.revision}`);
  assert.equal(cross.status, 400);
  assert.match(cross.body.error.message, /different layers \(project defaults, group site-tokyo\)/);
  const rb = await w.operator.call<ConfigChange>("POST", "/api/v1/config/rollback", {
    revision: c2.revision,
  });
  assert.ok(rb.revision > c3.revision);
  const rev = await w.viewer.call<ConfigRevision & { values: Record<string, unknown> }>(
    "GET",
    `/api/v1/config/revisions/${rb.revision}`,
  );
  assert.equal(rev.kind, "rollback");
  assert.equal(rev.restored, c2.revision);
  assert.deepEqual(rev.values, { nav: { hz: 20 }, db: { password: SECRET_MASK } });

  // Summaries, groups, status.
  const layers = await w.viewer.call<ConfigLayerSummary[]>("GET", "/api/v1/config/layers");
  assert.deepEqual(
    layers.map((l) => [l.layer, l.devices]),
    [
      ["defaults", 3],
      ["group:site-tokyo", 2],
      ["device:robot-1", 1],
    ],
  );
  const st = await w.viewer.call<ConfigStatusView>("GET", "/api/v1/config/status?selector=site=tokyo");
  assert.equal(st.devices.length, 2);
  assert.equal(
    Object.values(st.counts).reduce((x, y) => x + y, 0),
    2,
  );

  // Schema: admin only; an invalid one; one the fleet breaks; then a good one.
  const opSchema = await w.operator.request("PUT", "/api/v1/config/schema", { schema: { type: "object" } });
  assert.equal(opSchema.status, 403);
  const invalid = await w.admin.request("PUT", "/api/v1/config/schema", { schema: { type: 12 } });
  assert.equal(invalid.status, 400);
  assert.equal(invalid.body.error.code, "TETHER_ERR_CONFIG_INVALID");
  const broken = await w.admin.request("PUT", "/api/v1/config/schema", {
    schema: { properties: { nav: { properties: { hz: { maximum: 15 } } } } },
  });
  assert.equal(broken.status, 422);
  assert.match(
    broken.body.error.message,
    /robot-\d would get an invalid configuration: \/nav\/hz must be <= 15/,
  );
  const ok = await w.admin.request("PUT", "/api/v1/config/schema", {
    schema: { properties: { nav: { properties: { hz: { maximum: 100 } } } } },
  });
  assert.equal(ok.status, 200);
  const refused = await w.operator.request("PATCH", "/api/v1/config/layers/defaults", {
    set: [{ key: "nav.hz", value: 500 }],
  });
  assert.equal(refused.status, 422);
  assert.equal(refused.body.error.code, "TETHER_ERR_CONFIG_SCHEMA");
  const cleared = await w.admin.request("DELETE", "/api/v1/config/schema");
  assert.equal(cleared.status, 200);
  assert.equal(cleared.body.schema, null);

  // Deleting a group.
  const del = await w.operator.request("DELETE", "/api/v1/config/groups/site-tokyo?message=bye");
  assert.equal(del.status, 204);
  const groups = await w.viewer.call<ConfigGroup[]>("GET", "/api/v1/config/groups");
  assert.deepEqual(groups, []);
  const gone = await w.viewer.call<ConfigRevision[]>("GET", "/api/v1/config/layers/group:site-tokyo/history");
  assert.equal(gone[0]!.kind, "group-delete");
});
