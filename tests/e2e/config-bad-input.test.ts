// @matrix: once
// Issue 14, "bad input" of remote configuration, against a real server and a real agent: invalid
// JSON/YAML files (400 with the line), schema violations (422 with the path), odd keys, a layer
// over 64 KiB and a file over 16 MiB (413 naming the limit), two groups of equal priority
// matching one device (409), an apply hook that hangs (timeout, reported failed), a hand-edited
// config/effective.json (reported as drift, not applied), secrets (never in any API answer nor
// the audit log, yet on the device), and blob fetches with a device token for a blob outside the
// device's configuration (404) or a wrong token (401). Nothing bad is saved.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import {
  type ConfigAgent,
  deviceToken,
  deviceView,
  effectiveOf,
  enrollConfigAgent,
  hookFlags,
  hookRuns,
  hookScript,
  managedFile,
  patchLayer,
  putFile,
  rawRequest,
  restartConfigAgent,
  stopInProcessAgents,
  waitInSync,
} from "../support/config-e2e.js";
import { type InProcessServer, startInProcessServer } from "../support/in-process-server.js";
import { cleanupTempDirs, tempDir, waitFor } from "./harness.js";

let server: InProcessServer;
let x: ConfigAgent; // robot-x: site=osaka, model=x
let hookLog: string;
let token: string;
const api = () => server.api;

before(async () => {
  server = await startInProcessServer({ dataDir: join(tempDir("tether-config-bad-"), "server") });
  token = readFileSync(join(server.dataDir, "admin.token"), "utf8").trim();
  hookLog = join(tempDir("tether-config-hooklog-"), "x.log");
  x = await enrollConfigAgent(
    server,
    "robot-x",
    { site: "osaka", model: "x" },
    hookFlags(hookScript().cmd(hookLog)),
  );
  // A first configuration, applied, as the baseline the bad inputs must not disturb.
  const c = await patchLayer(api(), "device:robot-x", {
    set: [
      { key: "nav.hz", value: 10 },
      { key: "nav.mode", value: "ok" },
    ],
  });
  await waitInSync(api(), "robot-x", c.revision);
});

after(async () => {
  await stopInProcessAgents();
  await server?.srv.close();
  await cleanupTempDirs();
});

function refused(r: { status: number; body: any }, status: number, code: string, what: string): string {
  assert.equal(r.status, status, `${what}: ${JSON.stringify(r.body)}`);
  assert.equal(r.body?.error?.code, code, `${what}: ${JSON.stringify(r.body)}`);
  const msg = String(r.body.error.message);
  assert.ok(msg.length > 10 && !msg.includes("TETHER_ERR"), `${what}: a sentence: ${msg}`);
  return msg;
}

const layerOf = (ref: string) => api().call("GET", `/api/v1/config/layers/${encodeURIComponent(ref)}`);

test("invalid JSON and YAML files are refused with the line; nothing is saved", async () => {
  const before = await layerOf("device:robot-x");
  const j = await putFile(server, token, "device:robot-x", "params.json", '{\n  "a": 1,\n  "b": \n}\n');
  const jsonError = refused(j, 400, "TETHER_ERR_CONFIG_INVALID", "bad JSON");
  assert.match(jsonError, /params\.json/);
  const y = await putFile(server, token, "device:robot-x", "nav.yaml", "a: 1\nb:\n  - x\n  y: [\n");
  const yamlError = refused(y, 400, "TETHER_ERR_CONFIG_INVALID", "bad YAML");
  assert.match(yamlError, /nav\.yaml/);
  assert.match(yamlError, /line 4/);
  // Bad file paths.
  for (const p of ["../etc/passwd", "/abs.txt", "a//b.txt"]) {
    const r = await putFile(server, token, "device:robot-x", p, "x");
    refused(r, 400, "TETHER_ERR_CONFIG_KEY", `path ${p}`);
  }
  const now = await layerOf("device:robot-x");
  assert.equal(now.revision, before.revision, "no revision taken");
  assert.deepEqual(now.files, before.files);
  // The JSON parser's line (the unexpected "}" is on line 4).
  assert.match(jsonError, /line 4/);
});

test("an invalid secret JSON file is refused without echoing its content", async () => {
  // Short, so a parser's excerpt of the text around the error would hold all of it.
  const secret = `tok-${randomBytes(3).toString("hex")}`;
  const r = await putFile(server, token, "device:robot-x", "creds.json", `{"token": ${secret}}`, {
    secret: 1,
  });
  refused(r, 400, "TETHER_ERR_CONFIG_INVALID", "bad secret JSON");
  assert.equal(JSON.stringify(r.body).includes(secret), false, `the error echoes the secret: ${r.raw}`);
});

test("a schema violation is refused with the device, the path and the reason", async () => {
  const bad = await api().request("PUT", "/api/v1/config/schema", { schema: { type: "objekt" } });
  refused(bad, 400, "TETHER_ERR_CONFIG_INVALID", "an invalid schema");
  // A schema the current configuration violates is refused too (nav.hz is 10).
  const tooStrict = await api().request("PUT", "/api/v1/config/schema", {
    schema: { type: "object", properties: { nav: { type: "object", properties: { hz: { maximum: 5 } } } } },
  });
  assert.match(refused(tooStrict, 422, "TETHER_ERR_CONFIG_SCHEMA", "schema vs now"), /robot-x.*\/nav\/hz/);
  await api().call("PUT", "/api/v1/config/schema", {
    schema: {
      type: "object",
      properties: { nav: { type: "object", properties: { hz: { type: "number", maximum: 100 } } } },
    },
  });
  const r = await api().request("PATCH", "/api/v1/config/layers/device:robot-x", {
    set: [{ key: "nav.hz", value: 500 }],
  });
  const msg = refused(r, 422, "TETHER_ERR_CONFIG_SCHEMA", "nav.hz=500");
  assert.match(msg, /robot-x/);
  assert.match(msg, /\/nav\/hz/);
  assert.match(msg, /100/);
  const wrongType = await api().request("PATCH", "/api/v1/config/layers/device:robot-x", {
    set: [{ key: "nav.hz", value: "fast" }],
  });
  assert.match(refused(wrongType, 422, "TETHER_ERR_CONFIG_SCHEMA", "nav.hz=fast"), /\/nav\/hz/);
  assert.equal((await layerOf("device:robot-x")).values.nav.hz, 10);
  await api().call("DELETE", "/api/v1/config/schema");
});

test("odd keys are refused, naming the key", async () => {
  const before = await layerOf("device:robot-x");
  for (const key of ["a..b", "__proto__", "x y", "nav.constructor", ".a", "a.", "-a", "ключ"]) {
    const r = await api().request("PATCH", "/api/v1/config/layers/device:robot-x", {
      set: [{ key, value: 1 }],
    });
    assert.match(refused(r, 400, "TETHER_ERR_CONFIG_KEY", `key ${key}`), /invalid key/);
  }
  // Odd keys inside a value, and a __proto__ member of a values tree.
  const inner = await api().request("PATCH", "/api/v1/config/layers/device:robot-x", {
    set: [{ key: "nav", value: { "x y": 1 } }],
  });
  assert.match(refused(inner, 400, "TETHER_ERR_CONFIG_KEY", "inner key"), /x y/);
  const proto = await rawRequest(server, "PATCH", "/api/v1/config/layers/device:robot-x", {
    token,
    contentType: "application/json",
    body: Buffer.from('{"values": {"__proto__": {"polluted": true}}}'),
  });
  assert.equal(proto.status, 400, JSON.stringify(proto.body));
  assert.equal(({} as any).polluted, undefined);
  const now = await layerOf("device:robot-x");
  assert.equal(now.revision, before.revision);
  assert.deepEqual(now.values, before.values);
});

test("a layer over 64 KiB and a file over 16 MiB are refused with 413 naming the limit", async () => {
  const before = await layerOf("device:robot-x");
  const big = await api().request("PATCH", "/api/v1/config/layers/device:robot-x", {
    set: [{ key: "blob", value: "x".repeat(65 * 1024) }],
  });
  assert.match(refused(big, 413, "TETHER_ERR_CONFIG_TOO_LARGE", "65 KiB value"), /64(\.0)? KiB/);
  const huge = await putFile(
    server,
    token,
    "device:robot-x",
    "map.bin",
    Buffer.alloc(16 * 1024 * 1024 + 1, 7),
  );
  assert.equal(huge.status, 413, JSON.stringify(huge.body));
  assert.match(String(huge.body?.error?.message ?? huge.body), /16(\.0)? MiB/);
  const now = await layerOf("device:robot-x");
  assert.equal(now.revision, before.revision);
  assert.deepEqual(now.files, before.files);
});

test("two groups of equal priority matching one device are refused at creation (409)", async () => {
  const g1 = await api().request("POST", "/api/v1/config/groups", {
    name: "site-osaka",
    selector: "site=osaka",
    priority: 10,
  });
  assert.equal(g1.status, 201, JSON.stringify(g1.body));
  const g2 = await api().request("POST", "/api/v1/config/groups", {
    name: "model-x",
    selector: "model=x",
    priority: 10,
  });
  const msg = refused(g2, 409, "TETHER_ERR_CONFIG_PRIORITY", "equal priority");
  assert.match(msg, /site-osaka/);
  assert.match(msg, /robot-x/);
  const groups = await api().call("GET", "/api/v1/config/groups");
  assert.deepEqual(
    groups.map((g: any) => g.name),
    ["site-osaka"],
  );
  // Another priority is fine; moving it onto 10 later is refused the same way.
  const g3 = await api().request("POST", "/api/v1/config/groups", {
    name: "model-x",
    selector: "model=x",
    priority: 20,
  });
  assert.equal(g3.status, 201, JSON.stringify(g3.body));
  const up = await api().request("PATCH", "/api/v1/config/groups/model-x", { priority: 10 });
  refused(up, 409, "TETHER_ERR_CONFIG_PRIORITY", "update to equal priority");
  // A tie that appears later (a relabel): merged in group-name order, with a warning.
  const g4 = await api().request("POST", "/api/v1/config/groups", {
    name: "zone-a",
    selector: "zone=a",
    priority: 10,
  });
  assert.equal(g4.status, 201, JSON.stringify(g4.body));
  await patchLayer(api(), "group:site-osaka", { set: [{ key: "tie", value: "osaka" }] });
  await patchLayer(api(), "group:zone-a", { set: [{ key: "tie", value: "zone" }] });
  await api().call("PATCH", "/api/v1/devices/robot-x", { labels: { zone: "a" } });
  const tied = await waitFor(async () => {
    const v = await deviceView(api(), "robot-x");
    return v.layers.some((l: any) => l.layer === "group:zone-a") &&
      v.status === "in-sync" &&
      v.reported === v.desired
      ? v
      : undefined;
  }, "robot-x re-targeted into zone-a");
  assert.equal(effectiveOf(x).tie, "zone", "zone-a merges after site-osaka (name order)");
  const warning =
    /site-osaka and zone-a both have priority 10 and match robot-x; merged in name order \(site-osaka first\)/;
  assert.ok(
    tied.warnings.some((w: string) => warning.test(w)),
    JSON.stringify(tied.warnings),
  );
  const st = await api().call("GET", "/api/v1/config/status");
  assert.ok(
    st.warnings.some((w: string) => warning.test(w)),
    JSON.stringify(st.warnings),
  );
  await api().call("PATCH", "/api/v1/devices/robot-x", { labels: { zone: null } });
  // A selector on facts is refused.
  const facts = await api().request("POST", "/api/v1/config/groups", {
    name: "arm64",
    selector: "fact.arch=arm64",
    priority: 30,
  });
  refused(facts, 400, "TETHER_ERR_BAD_SELECTOR", "fact selector");
});

test("a write that would make a device's merged values exceed 128 KiB is refused naming the device", async () => {
  const kib = (n: number) => "x".repeat(n * 1024);
  await patchLayer(api(), "defaults", { set: [{ key: "big1", value: kib(60) }] });
  await patchLayer(api(), "group:site-osaka", { set: [{ key: "big2", value: kib(60) }] });
  const before = await layerOf("group:model-x");
  const r = await api().request("PATCH", "/api/v1/config/layers/group:model-x", {
    set: [{ key: "big3", value: kib(20) }],
  });
  const msg = refused(r, 413, "TETHER_ERR_CONFIG_TOO_LARGE", "merged > 128 KiB");
  assert.match(msg, /robot-x/);
  assert.match(msg, /128(\.0)? KiB/);
  assert.equal((await layerOf("group:model-x")).revision, before.revision);
  await patchLayer(api(), "defaults", { unset: ["big1"] });
  const c = await patchLayer(api(), "group:site-osaka", { unset: ["big2"] });
  await waitFor(async () => (await deviceView(api(), "robot-x")).desired >= c.revision, "robot-x desired");
});

test("a hook that hangs is killed at the timeout and reported failed; the next revision applies", async () => {
  // The short timeout arrives with the revision whose hook hangs (settings apply before the hook
  // runs), so no other hook here races a 1 s limit on a busy machine.
  const c = await patchLayer(api(), "device:robot-x", {
    set: [
      { key: "nav.mode", value: "hang" },
      { key: "tether.config.hookTimeout", value: 3 },
    ],
  });
  const v = await waitFor(
    async () => {
      const d = await deviceView(api(), "robot-x");
      return d.status === "failed" && d.desired === c.revision ? d : undefined;
    },
    "the hang reported as failed",
    20_000,
  );
  assert.match(`${v.error}`, /time|timed out|timeout/i);
  assert.match(`${v.hookOutput}`, /hook: hanging/);
  assert.ok(hookRuns(hookLog).includes(c.revision));
  const ok = await patchLayer(api(), "device:robot-x", {
    set: [
      { key: "nav.mode", value: "ok" },
      { key: "tether.config.hookTimeout", value: null },
    ],
  });
  const d = await waitInSync(api(), "robot-x", ok.revision);
  assert.equal(d.error, null);
});

test("a hand-edited effective.json is reported as drift and not applied; the next revision rewrites it", async () => {
  const cur = await deviceView(api(), "robot-x");
  assert.equal(cur.status, "in-sync");
  const runs = hookRuns(hookLog).length;
  await x.agent.stop();
  const p = join(x.dataDir, "config", "effective.json");
  const edited = { ...JSON.parse(readFileSync(p, "utf8")), tether: { logs: { rate: 1 } }, hacked: true };
  writeFileSync(p, JSON.stringify(edited));
  await restartConfigAgent(server, x);
  const v = await waitFor(
    async () => {
      const d = await deviceView(api(), "robot-x");
      return d.drift.length ? d : undefined;
    },
    "drift reported",
    15_000,
  );
  assert.deepEqual(v.drift, ["effective.json"]);
  assert.equal(v.reported, cur.reported, "the reported revision is unchanged");
  assert.equal(v.desired, cur.desired);
  // Not applied: the agent's own settings come from what it applied, not from the edited file.
  const state = JSON.parse(readFileSync(join(x.dataDir, "config-state.json"), "utf8"));
  assert.equal(JSON.stringify(state).includes("hacked"), false);
  assert.equal(hookRuns(hookLog).length, runs, "no hook run for a hand edit");
  const sawRemote = x.agent.logs.some(
    (l) => l.includes("logs: settings applied") && l.includes('"rate":"remote"'),
  );
  assert.equal(sawRemote, false, "the edited tether.logs.rate was not applied");
  // The next revision rewrites it and clears the drift.
  const c = await patchLayer(api(), "device:robot-x", { set: [{ key: "nav.hz", value: 11 }] });
  const d = await waitInSync(api(), "robot-x", c.revision);
  assert.deepEqual(d.drift, []);
  const eff = effectiveOf(x);
  assert.equal(eff.hacked, undefined);
  assert.equal(eff.nav.hz, 11);
});

test("secrets: never in layer, revision, history, diff, device, status or audit answers; the agent gets them", async () => {
  const secret = `s3cret-${randomBytes(8).toString("hex")}`;
  const fileSecret = `FILE-${randomBytes(8).toString("hex")}`;
  const before = await layerOf("device:robot-x");
  const c1 = await patchLayer(api(), "device:robot-x", {
    baseRevision: before.revision,
    set: [{ key: "db.password", value: secret, secret: true }],
    message: "db password",
  });
  const f = await putFile(server, token, "device:robot-x", "creds.txt", `${fileSecret}\n`, { secret: 1 });
  assert.ok(f.status >= 200 && f.status < 300, JSON.stringify(f.body));
  const c2 = await patchLayer(api(), "device:robot-x", {
    set: [{ key: "db.password", value: `${secret}-2`, secret: true }],
  });
  await waitInSync(api(), "robot-x", c2.revision);
  // The device has them.
  assert.equal(effectiveOf(x).db.password, `${secret}-2`);
  assert.equal(managedFile(x, "creds.txt"), `${fileSecret}\n`);

  // Nothing the API answers holds them.
  const layer = await layerOf("device:robot-x");
  assert.equal(layer.values.db.password, "••••••");
  assert.ok(layer.secretKeys.includes("db.password"));
  assert.equal(layer.files.find((x: any) => x.path === "creds.txt")?.secret, true);
  const answers: [string, unknown][] = [
    ["layer", layer],
    ["layers", await api().call("GET", "/api/v1/config/layers")],
    ["history", await api().call("GET", "/api/v1/config/layers/device:robot-x/history")],
    ["revision", await api().call("GET", `/api/v1/config/revisions/${c1.revision}`)],
    ["revision2", await api().call("GET", `/api/v1/config/revisions/${c2.revision}`)],
    ["diff", await api().call("GET", `/api/v1/config/diff?from=${c1.revision}&to=${c2.revision}`)],
    ["diff0", await api().call("GET", `/api/v1/config/diff?from=${before.revision}&to=${c2.revision}`)],
    ["device", await deviceView(api(), "robot-x")],
    ["status", await api().call("GET", "/api/v1/config/status")],
    ["audit", await api().call("GET", "/api/v1/audit?limit=500")],
  ];
  for (const [what, body] of answers) {
    const text = JSON.stringify(body);
    assert.equal(text.includes(secret), false, `${what} holds the secret value`);
    assert.equal(text.includes(fileSecret), false, `${what} holds the secret file`);
  }
  const diff = answers.find(([w]) => w === "diff")![1] as any;
  const e = diff.entries.find((x: any) => x.key === "db.password");
  assert.equal(e.secret, true);
  assert.equal(e.op, "changed");
  // The secret file's bytes are write-only.
  const get = await rawRequest(server, "GET", "/api/v1/config/layers/device:robot-x/files?path=creds.txt", {
    token,
  });
  assert.ok(get.status === 403 || get.status === 400, `${get.status}`);
  assert.equal(get.raw.includes(fileSecret), false);
  // The secret file as the device fetches it: sealed to its key, ciphertext over HTTPS.
  const hash = createHash("sha256").update(`${fileSecret}\n`).digest("hex");
  const blob = await rawRequest(server, "GET", `/api/v1/config/blobs/${hash}`, { token: deviceToken(x) });
  assert.equal(blob.status, 200, JSON.stringify(blob.body));
  assert.equal(blob.headers["x-tether-sealed"], "1");
  assert.equal(blob.raw.includes(fileSecret), false);
});

test("blobs: a device token gets only its own configuration's blobs (404); a wrong token is 401", async () => {
  // A 20 KiB file (fetched, not inline) for robot-x, and one in a group that matches no device.
  const mine = randomBytes(20 * 1024);
  const other = randomBytes(20 * 1024);
  await api().call("POST", "/api/v1/config/groups", { name: "nobody", selector: "site=mars", priority: 99 });
  const o = await putFile(server, token, "group:nobody", "other.bin", other);
  assert.ok(o.status >= 200 && o.status < 300, JSON.stringify(o.body));
  const m = await putFile(server, token, "device:robot-x", "map.bin", mine);
  assert.ok(m.status >= 200 && m.status < 300, JSON.stringify(m.body));
  await waitInSync(api(), "robot-x", m.body.revision);
  assert.deepEqual(readFileSync(join(x.dataDir, "config", "files", "map.bin")), mine);

  const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
  const dev = deviceToken(x);
  const ok = await rawRequest(server, "GET", `/api/v1/config/blobs/${sha(mine)}`, { token: dev });
  assert.equal(ok.status, 200);
  assert.deepEqual(ok.raw, mine);
  const notMine = await rawRequest(server, "GET", `/api/v1/config/blobs/${sha(other)}`, { token: dev });
  refused(notMine, 404, "TETHER_ERR_CONFIG_BLOB_NOT_FOUND", "another layer's blob");
  const unknown = await rawRequest(server, "GET", `/api/v1/config/blobs/${sha(randomBytes(8))}`, {
    token: dev,
  });
  refused(unknown, 404, "TETHER_ERR_CONFIG_BLOB_NOT_FOUND", "no such blob");
  const wrong = await rawRequest(server, "GET", `/api/v1/config/blobs/${sha(mine)}`, {
    token: `${dev.slice(0, -4)}AAAA`,
  });
  assert.equal(wrong.status, 401, JSON.stringify(wrong.body));
  const none = await rawRequest(server, "GET", `/api/v1/config/blobs/${sha(mine)}`);
  assert.equal(none.status, 401);
  // The operator's token is not a device token.
  const op = await rawRequest(server, "GET", `/api/v1/config/blobs/${sha(mine)}`, { token });
  assert.ok(op.status === 401 || op.status === 403, `${op.status}`);
  const badHash = await rawRequest(server, "GET", "/api/v1/config/blobs/not-a-hash", { token: dev });
  assert.ok(badHash.status === 400 || badHash.status === 404, `${badHash.status}`);
});
