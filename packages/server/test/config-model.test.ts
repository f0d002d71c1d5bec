// @matrix: store
// The configuration model (docs/protocol.md §18.1–18.2) against the real store: merge order,
// null deletes, equal priorities (refused, or merged in name order with a warning), files
// (json/yaml merged, raw replaced, a lone layer's bytes kept), revisions, history, diff,
// rollback, conflicts, the project's JSON Schema, the key rule, size limits, secrets masked
// and encrypted at rest, retarget floors. Delivery is a fake that records what it is told.
import assert from "node:assert/strict";
import { statSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type ConfigRollout, configHash, SECRET_MASK, sha256Hex, TetherError } from "@tether/protocol";
import { pino } from "pino";
import { cleanupTempDirs, databaseFor, tempDir } from "../../../tests/e2e/harness.js";
import { Audit } from "../src/audit.js";
import { ConfigModelImpl } from "../src/capabilities/config/model/model.js";
import { ConfigViews } from "../src/capabilities/config/model/views.js";
import type { ConfigDelivery, LayerChange } from "../src/capabilities/config/types.js";
import { openServerStore } from "../src/create-server.js";
import { Devices } from "../src/devices.js";
import type { Store } from "../src/store/db.js";
import { nowIso } from "../src/store/db.js";
import { insertDevice } from "./support.js";

let store: Store;
let model: ConfigModelImpl;
let views: ConfigViews;
let projectId: number;
let dataDir: string;
const changes: LayerChange[] = [];
let activeRollout: ConfigRollout | null = null;

const fakeDelivery: ConfigDelivery = {
  async changed(c) {
    changes.push(c);
    return null;
  },
  async activeRollout() {
    return activeRollout;
  },
  async statusOf() {
    return new Map();
  },
};

const alice = () => ({ username: "alice", projectId });
const bob = () => ({ username: "bob", projectId });

async function device(id: string, labels: Record<string, string>) {
  await insertDevice(store.db, projectId, id);
  await store.db
    .updateTable("devices")
    .set({ labels: JSON.stringify(labels) })
    .where("id", "=", id)
    .execute();
}
const relabel = (id: string, labels: Record<string, string>) =>
  store.db
    .updateTable("devices")
    .set({ labels: JSON.stringify(labels) })
    .where("id", "=", id)
    .execute();

async function effective(id: string) {
  const d = await new Devices(store.db).get(id);
  const e = (await model.effectiveMany(projectId, [d!])).get(id);
  assert.ok(e);
  return e;
}

async function rejects(p: Promise<unknown>, code: string, re?: RegExp) {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof TetherError, `expected a TetherError, got ${err}`);
    assert.equal(err.code, code, err.message);
    if (re) assert.match(err.message, re);
    return true;
  });
}

before(async () => {
  dataDir = tempDir("tether-config-model-");
  store = await openServerStore((await databaseFor(dataDir)) ?? `sqlite:${join(dataDir, "tether.db")}`);
  const p = await store.db
    .insertInto("projects")
    .values({ name: "cfg", created_at: nowIso() })
    .returning("id")
    .executeTakeFirstOrThrow();
  projectId = p.id;
  model = new ConfigModelImpl({
    db: store.db,
    dialect: store.dialect,
    devices: new Devices(store.db),
    audit: new Audit(store.db),
    log: pino({ level: "silent" }),
    dataDir,
    delivery: () => fakeDelivery,
  });
  views = new ConfigViews(model);
  await device("r1", { site: "tokyo", model: "amr2" });
  await device("r2", { site: "tokyo", model: "amr1" });
  await device("r3", { site: "osaka", model: "amr2" });
});

after(async () => {
  await store?.close();
  await cleanupTempDirs();
});

describe("layers and merge", () => {
  test("defaults, groups by priority, the device last; null deletes an inherited key", async () => {
    const c1 = await model.patch(alice(), "defaults", {
      set: [
        { key: "nav.hz", value: 10 },
        { key: "nav.mode", value: "safe" },
        { key: "log", value: "info" },
      ],
      message: "first",
      baseRevision: null,
    });
    assert.equal(c1.layer, "defaults");
    assert.equal(c1.affected, 3);
    const last = changes.at(-1)!;
    assert.deepEqual(last.deviceIds.sort(), ["r1", "r2", "r3"]);
    assert.equal(last.baseRevision, null);
    assert.equal(last.revision, c1.revision);

    await model.createGroup(alice(), { name: "site-tokyo", selector: "site=tokyo", priority: 10 });
    await model.createGroup(alice(), { name: "model-amr2", selector: "model=amr2", priority: 20 });
    await model.patch(alice(), "group:site-tokyo", { set: [{ key: "nav.hz", value: 20 }] });
    await model.patch(alice(), "group:model-amr2", {
      set: [
        { key: "nav.hz", value: 30 },
        { key: "nav.mode", value: null },
      ],
    });
    const c = await model.patch(alice(), "device:r1", { set: [{ key: "log", value: "debug" }] });
    assert.equal(c.layer, "device:r1");
    assert.equal(changes.at(-1)!.deviceIds.join(), "r1");

    const e1 = await effective("r1");
    assert.deepEqual(e1.values, { nav: { hz: 30 }, log: "debug" });
    assert.equal(e1.revision, c.revision);
    assert.deepEqual(
      e1.layers.map((l) => l.layer.ref),
      ["defaults", "group:site-tokyo", "group:model-amr2", "device:r1"],
    );
    assert.equal(e1.hash, configHash(e1.values, []));
    const e2 = await effective("r2");
    assert.deepEqual(e2.values, { nav: { hz: 20, mode: "safe" }, log: "info" });
    const e3 = await effective("r3");
    assert.deepEqual(e3.values, { nav: { hz: 30 }, log: "info" });
    assert.ok(e3.revision! < c.revision, "r3 is not affected by r1's layer");

    // explain: where each key comes from, and what it overrides.
    const v = await views.device(projectId, "r1");
    const hz = v.explain.find((x) => x.key === "nav.hz")!;
    assert.equal(hz.layer, "group:model-amr2");
    assert.deepEqual(
      hz.overrides.map((o) => [o.layer, o.value]),
      [
        ["group:site-tokyo", 20],
        ["defaults", 10],
      ],
    );
    assert.equal(v.status, "pending");
  });

  test("equal priority: refused when both match a device; after a relabel, merged in name order with a warning", async () => {
    await rejects(
      model.createGroup(alice(), { name: "tokyo-b", selector: "site=tokyo", priority: 10 }),
      "TETHER_ERR_CONFIG_PRIORITY",
      /site-tokyo.*priority 10.*r1/,
    );
    // Same priority, no common device: allowed.
    await model.createGroup(alice(), { name: "osaka", selector: "site=osaka", priority: 10 });
    await model.patch(alice(), "group:osaka", { set: [{ key: "nav.hz", value: 5 }] });
    await rejects(
      model.updateGroup(alice(), "osaka", { selector: "model=amr1" }),
      "TETHER_ERR_CONFIG_PRIORITY",
      /site-tokyo.*r2/,
    );
    // A relabel makes r3 match both site-tokyo and osaka (both priority 10).
    await relabel("r3", { site: "osaka", model: "amr3", extra: "x" });
    await model.updateGroup(alice(), "site-tokyo", { selector: "site=tokyo" }); // unchanged
    await relabel("r3", { site: "tokyo", model: "amr3" });
    await store.db
      .updateTable("config_layers")
      .set({ selector: "model=amr3" })
      .where("name", "=", "osaka")
      .execute();
    const e3 = await effective("r3");
    assert.equal(e3.warnings.length, 1);
    assert.match(
      e3.warnings[0]!,
      /groups osaka and site-tokyo both have priority 10 and match r3; merged in name order \(osaka first\)/,
    );
    assert.equal((e3.values.nav as { hz: number }).hz, 20, "site-tokyo merges after osaka");
    const st = await views.status(projectId, {});
    assert.equal(st.warnings.length, 1);
    // Put things back.
    await store.db
      .updateTable("config_layers")
      .set({ selector: "site=osaka" })
      .where("name", "=", "osaka")
      .execute();
    await relabel("r3", { site: "osaka", model: "amr2" });
  });

  test("a bad group selector, a fact selector, an existing name", async () => {
    await rejects(
      model.createGroup(alice(), { name: "f", selector: "fact.arch=arm64", priority: 1 }),
      "TETHER_ERR_BAD_SELECTOR",
      /labels only/,
    );
    await rejects(
      model.createGroup(alice(), { name: "g", selector: "site=", priority: 1 }),
      "TETHER_ERR_BAD_SELECTOR",
    );
    await rejects(
      model.createGroup(alice(), { name: "osaka", selector: "a=b", priority: 99 }),
      "TETHER_ERR_CONFIG_GROUP_EXISTS",
    );
    await rejects(
      model.patch(alice(), "group:nope", { set: [{ key: "a", value: 1 }] }),
      "TETHER_ERR_CONFIG_GROUP_NOT_FOUND",
    );
  });
});

describe("files", () => {
  test("json and yaml merge across layers; raw is replaced; a lone layer's bytes are kept", async () => {
    const lone = Buffer.from('{"b":1,   "a":2}');
    await model.putFile(alice(), "defaults", "lone.json", lone, {});
    await model.putFile(alice(), "defaults", "nav.json", Buffer.from('{"a":1,"n":{"x":1,"y":2}}'), {});
    await model.putFile(alice(), "group:site-tokyo", "nav.json", Buffer.from('{"n":{"y":3,"x":null}}'), {});
    await model.putFile(alice(), "defaults", "p.yaml", Buffer.from("a: 1\nlist: [1, 2]\n"), {});
    await model.putFile(alice(), "device:r1", "p.yaml", Buffer.from("b: two\n"), {});
    await model.putFile(alice(), "defaults", "map.pgm", Buffer.from("P5 default"), {});
    await model.putFile(alice(), "device:r1", "map.pgm", Buffer.from("P5 r1"), {});
    const e = await effective("r1");
    const f = new Map(e.files.map((x) => [x.path, x]));
    assert.deepEqual([...f.keys()], ["lone.json", "map.pgm", "nav.json", "p.yaml"]);
    assert.equal(f.get("lone.json")!.hash, sha256Hex(lone));
    assert.deepEqual((await model.blob(f.get("lone.json")!.hash))!, lone);
    const nav = (await model.blob(f.get("nav.json")!.hash))!.toString();
    assert.equal(nav, `${JSON.stringify({ a: 1, n: { y: 3 } }, null, 2)}\n`);
    assert.equal(f.get("nav.json")!.layer.ref, "group:site-tokyo");
    assert.equal(
      (await model.blob(f.get("p.yaml")!.hash))!.toString(),
      "a: 1\nlist:\n  - 1\n  - 2\nb: two\n",
    );
    assert.equal((await model.blob(f.get("map.pgm")!.hash))!.toString(), "P5 r1");
    assert.equal(e.hash, configHash(e.values, e.files));
    // Removing a file.
    await model.patch(alice(), "device:r1", { unset: ["file:map.pgm"] });
    const e2 = await effective("r1");
    assert.equal(
      (await model.blob(e2.files.find((x) => x.path === "map.pgm")!.hash))!.toString(),
      "P5 default",
    );
  });

  test("invalid JSON or YAML is refused with the line and column; bad paths; too large", async () => {
    await rejects(
      model.putFile(alice(), "defaults", "bad.json", Buffer.from('{\n  "a": 1,\n  oops\n}'), {}),
      "TETHER_ERR_CONFIG_INVALID",
      /bad\.json is not valid JSON: .* at line 3 column/,
    );
    await rejects(
      model.putFile(alice(), "defaults", "bad.yaml", Buffer.from("a: 1\n b: [\n"), {}),
      "TETHER_ERR_CONFIG_INVALID",
      /bad\.yaml is not valid YAML: .*line \d+ column \d+/,
    );
    await rejects(
      model.putFile(alice(), "defaults", "../etc/passwd", Buffer.from("x"), {}),
      "TETHER_ERR_CONFIG_KEY",
    );
    await rejects(
      model.putFile(alice(), "defaults", "big.bin", Buffer.alloc(16 * 1024 * 1024 + 1), {}),
      "TETHER_ERR_CONFIG_TOO_LARGE",
      /16\.0 MiB per file/,
    );
  });
});

describe("revisions", () => {
  test("history, revision detail, diff with a text diff, rollback", async () => {
    const a = await model.patch(alice(), "group:osaka", {
      set: [{ key: "speed", value: 1 }],
      message: "slow",
    });
    await model.putFile(alice(), "group:osaka", "notes.txt", Buffer.from("one\ntwo\nthree\n"), {});
    const b = await model.patch(bob(), "group:osaka", {
      set: [{ key: "speed", value: 2 }],
      unset: ["nav.hz"],
      message: "fast",
    });
    await model.putFile(alice(), "group:osaka", "notes.txt", Buffer.from("one\nTWO\nthree\n"), {});
    const h = await views.history(projectId, "group:osaka");
    assert.ok(h.length >= 5);
    assert.ok(h[0]!.revision > h[1]!.revision, "newest first");
    const hb = h.find((x) => x.revision === b.revision)!;
    assert.equal(hb.author, "bob");
    assert.equal(hb.message, "fast");
    assert.deepEqual(hb.changed, ["nav.hz", "speed"]);
    assert.equal(h.at(-1)!.kind, "group-create");
    assert.equal((await views.history(projectId, "group:osaka", 1)).length, 1);

    const r = await views.revision(projectId, a.revision);
    assert.deepEqual(r.values, { nav: { hz: 5 }, speed: 1 });

    const last = h[0]!.revision;
    const d = await views.diff(projectId, a.revision, last);
    assert.deepEqual(
      d.entries.map((e) => [e.key, e.op, e.from, e.to]),
      [
        ["nav.hz", "removed", 5, undefined],
        ["speed", "changed", 1, 2],
      ],
    );
    assert.equal(d.files.length, 1);
    assert.equal(d.files[0]!.op, "added");
    const d2 = await views.diff(projectId, last - 1, last);
    assert.match(d2.files[0]!.text!, /-two\n\+TWO/);
    await rejects(
      views.diff(projectId, a.revision, 1),
      "TETHER_ERR_BAD_REQUEST",
      /different layers \(group osaka, project defaults\)/,
    );
    await rejects(views.revision(projectId, 99999), "TETHER_ERR_CONFIG_REVISION_NOT_FOUND");

    const rb = await model.rollback(alice(), a.revision, {});
    const now = await views.layer(projectId, "group:osaka");
    assert.equal(now.revision, rb.revision);
    assert.deepEqual(now.values, { nav: { hz: 5 }, speed: 1 });
    assert.deepEqual(now.files, []);
    const hr = (await views.history(projectId, "group:osaka", 1))[0]!;
    assert.equal(hr.kind, "rollback");
    assert.equal(hr.restored, a.revision);
  });

  test("two editors: the second one's stale baseRevision is a conflict naming who saved first", async () => {
    const v = await views.layer(projectId, "group:model-amr2");
    await model.patch(alice(), "group:model-amr2", {
      set: [{ key: "x", value: 1 }],
      baseRevision: v.revision,
      message: "raise speed",
    });
    const now = (await views.layer(projectId, "group:model-amr2")).revision;
    await rejects(
      model.patch(bob(), "group:model-amr2", { set: [{ key: "x", value: 2 }], baseRevision: v.revision }),
      "TETHER_ERR_CONFIG_CONFLICT",
      new RegExp(
        `group model-amr2 changed since revision ${v.revision} \\(now ${now}, by alice: "raise speed"\\); reload and retry`,
      ),
    );
    // A never-written layer: baseRevision null passes once, then conflicts.
    await model.patch(alice(), "device:r2", { set: [{ key: "k", value: 1 }], baseRevision: null });
    await rejects(
      model.patch(bob(), "device:r2", { set: [{ key: "k", value: 2 }], baseRevision: null }),
      "TETHER_ERR_CONFIG_CONFLICT",
    );
    // An unfinished rollout of the layer refuses other writes.
    activeRollout = { id: "rol_x", layerLabel: "device r2", state: "canary" } as ConfigRollout;
    await rejects(
      model.patch(alice(), "device:r2", { set: [{ key: "k", value: 3 }] }),
      "TETHER_ERR_ROLLOUT_ACTIVE",
      /rol_x/,
    );
    activeRollout = null;
  });

  test("concurrent writes get distinct, consecutive revision numbers", async () => {
    const rs = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        model.patch(alice(), "defaults", { set: [{ key: `c${i}`, value: i }] }),
      ),
    );
    const n = rs.map((r) => r.revision).sort((x, y) => x - y);
    for (let i = 1; i < n.length; i++) assert.equal(n[i], n[i - 1]! + 1);
  });
});

describe("validation", () => {
  test("the key rule, agent settings, and limits", async () => {
    await rejects(
      model.patch(alice(), "defaults", { set: [{ key: "a..b", value: 1 }] }),
      "TETHER_ERR_CONFIG_KEY",
      /empty segment/,
    );
    await rejects(
      model.patch(alice(), "defaults", { set: [{ key: "__proto__.x", value: 1 }] }),
      "TETHER_ERR_CONFIG_KEY",
    );
    await rejects(
      model.patch(alice(), "defaults", { set: [{ key: "a", value: { "b c": 1 } }] }),
      "TETHER_ERR_CONFIG_KEY",
    );
    await rejects(
      model.patch(alice(), "defaults", { set: [{ key: "tether.logs.allow", value: ["x"] }] }),
      "TETHER_ERR_CONFIG_INVALID",
      /device-only/,
    );
    await rejects(
      model.patch(alice(), "defaults", { set: [{ key: "tether.nope", value: 1 }] }),
      "TETHER_ERR_CONFIG_INVALID",
    );
    await rejects(
      model.patch(alice(), "defaults", { set: [{ key: "big", value: "x".repeat(70 * 1024) }] }),
      "TETHER_ERR_CONFIG_TOO_LARGE",
      /project defaults would be .* the limit is 64\.0 KiB per layer/,
    );
    // Merged per device: two layers of 40 KiB each fit alone, not together in r3.
    await model.patch(alice(), "group:osaka", { set: [{ key: "blob1", value: "x".repeat(50 * 1024) }] });
    await model.patch(alice(), "group:model-amr2", { set: [{ key: "blob2", value: "y".repeat(50 * 1024) }] });
    await rejects(
      model.patch(alice(), "device:r3", { set: [{ key: "blob3", value: "z".repeat(50 * 1024) }] }),
      "TETHER_ERR_CONFIG_TOO_LARGE",
      /r3's merged configuration would be/,
    );
    await model.patch(alice(), "group:osaka", { unset: ["blob1"] });
    await model.patch(alice(), "group:model-amr2", { unset: ["blob2"] });
    // Nothing lost: the refused writes left no revision.
    const v = await views.layer(projectId, "device:r3");
    assert.equal(v.revision, null);
  });

  test("the project's JSON Schema: a write that breaks a device is refused with the path; an invalid schema; a schema the fleet breaks", async () => {
    const schema = {
      type: "object",
      properties: { nav: { type: "object", properties: { hz: { type: "number", maximum: 100 } } } },
    };
    await model.setSchema(alice(), schema);
    assert.deepEqual((await model.getSchema(projectId)).schema, schema);
    await rejects(
      model.patch(alice(), "group:site-tokyo", { set: [{ key: "nav.hz", value: 500 }] }),
      "TETHER_ERR_CONFIG_SCHEMA",
      /(r1|r2|r3) would get an invalid configuration: \/nav\/hz must be <= 100/,
    );
    await rejects(
      model.setSchema(alice(), { type: "nonsense" }),
      "TETHER_ERR_CONFIG_INVALID",
      /not a valid JSON Schema/,
    );
    await rejects(
      model.setSchema(alice(), { properties: { nav: { properties: { hz: { maximum: 1 } } } } }),
      "TETHER_ERR_CONFIG_SCHEMA",
      /\/nav\/hz must be <= 1/,
    );
    await model.setSchema(alice(), null);
    assert.equal((await model.getSchema(projectId)).schema, null);
  });
});

describe("secrets", () => {
  test("masked in views, encrypted at rest, plaintext only in the effective configuration", async () => {
    const PLAIN = "hunter2-very-secret";
    await model.patch(alice(), "group:site-tokyo", {
      set: [{ key: "db.password", value: PLAIN, secret: true }],
    });
    await model.putFile(alice(), "group:site-tokyo", "key.pem", Buffer.from(`-----${PLAIN}-----`), {
      secret: true,
    });
    const v = await views.layer(projectId, "group:site-tokyo");
    assert.deepEqual(v.secretKeys, ["db.password"]);
    assert.equal((v.values.db as Record<string, unknown>).password, SECRET_MASK);
    assert.equal(v.files.find((f) => f.path === "key.pem")!.secret, true);
    await rejects(views.file(projectId, "group:site-tokyo", "key.pem"), "TETHER_ERR_FORBIDDEN");
    const e = await effective("r1");
    assert.equal((e.values.db as Record<string, unknown>).password, PLAIN);
    assert.deepEqual(e.secretKeys, ["db.password"]);
    const dv = await views.device(projectId, "r1");
    assert.equal((dv.values.db as Record<string, unknown>).password, SECRET_MASK);
    assert.equal(dv.explain.find((x) => x.key === "db.password")!.value, SECRET_MASK);
    const f = e.files.find((x) => x.path === "key.pem")!;
    assert.equal(f.secret, true);
    assert.equal((await model.blob(f.hash))!.toString(), `-----${PLAIN}-----`);
    // At rest: no table holds the plaintext.
    for (const t of ["config_layers", "config_revisions", "config_blobs", "audit"] as const) {
      const rows = await store.db
        .selectFrom(t as "audit")
        .selectAll()
        .execute();
      for (const r of rows)
        for (const val of Object.values(r)) {
          const s =
            Buffer.isBuffer(val) || val instanceof Uint8Array
              ? Buffer.from(val).toString("latin1")
              : String(val);
          assert.ok(!s.includes(PLAIN), `${t} holds the plaintext`);
        }
    }
    assert.equal(statSync(join(dataDir, "config-secrets.key")).mode & 0o777, 0o600);
    // History names the key, never its value; diff marks it secret without values.
    const h = (await views.history(projectId, "group:site-tokyo", 2))[1]!;
    assert.deepEqual(h.changed, ["db.password"]);
    const d = await views.diff(
      projectId,
      h.revision - 0,
      (await views.history(projectId, "group:site-tokyo", 1))[0]!.revision,
    );
    for (const x of d.entries) if (x.secret) assert.ok(!("from" in x) && !("to" in x));
    // A later layer's plain value over the key takes the secret flag away.
    await model.patch(alice(), "device:r1", { set: [{ key: "db.password", value: "plain" }] });
    assert.deepEqual((await effective("r1")).secretKeys, []);
    await model.patch(alice(), "device:r1", { unset: ["db.password"] });
  });
});

describe("retarget and group lifecycle", () => {
  test("retarget gives a device a newer revision; leaving or deleting a group keeps its revision moving forward", async () => {
    const before = await effective("r2");
    const rev = await model.retarget(projectId, "r2", "alice", "labels changed");
    const after = await effective("r2");
    assert.equal(after.revision, rev);
    assert.ok(rev > before.revision!);
    const h = await views.revisionOf(await model.revisionRow(projectId, rev));
    assert.equal(h.kind, "retarget");
    assert.equal(h.layer, null);

    // r3 leaves group osaka (selector change): its revision moves to the update's.
    const e3 = await effective("r3");
    await model.updateGroup(alice(), "osaka", { selector: "site=kyoto" });
    const u = changes.at(-1)!;
    assert.ok(u.deviceIds.includes("r3"));
    const e3b = await effective("r3");
    assert.equal(e3b.revision, u.revision);
    assert.notEqual(e3b.hash, e3.hash);

    // Deleting a group: a revision; its history stays readable.
    await model.updateGroup(alice(), "osaka", { selector: "site=osaka" });
    await model.deleteGroup(alice(), "osaka", "bye");
    const del = changes.at(-1)!;
    assert.deepEqual(del.deviceIds, ["r3"]);
    assert.equal((await effective("r3")).revision, del.revision);
    await rejects(views.layer(projectId, "group:osaka"), "TETHER_ERR_CONFIG_GROUP_NOT_FOUND");
    const hist = await views.history(projectId, "group:osaka");
    assert.equal(hist[0]!.kind, "group-delete");
    const audit = await store.db
      .selectFrom("audit")
      .select(["action", "detail"])
      .where("action", "like", "config.%")
      .execute();
    assert.ok(audit.some((a) => a.action === "config.group.delete"));
    assert.ok(audit.some((a) => a.action === "config.change"));
  });

  test("a held layer (rollout) uses its base revision's content", async () => {
    const v = await views.layer(projectId, "group:site-tokyo");
    const base = v.revision!;
    const c = await model.patch(alice(), "group:site-tokyo", { set: [{ key: "held", value: "new" }] });
    const d = await new Devices(store.db).get("r2");
    const row = await store.db
      .selectFrom("config_layers")
      .select("id")
      .where("name", "=", "site-tokyo")
      .executeTakeFirstOrThrow();
    const m = await model.effectiveMany(projectId, [d!], () => new Map([[row.id, base]]));
    assert.equal(m.get("r2")!.values.held, undefined);
    const free = await effective("r2");
    assert.equal(free.values.held, "new");
    assert.equal(free.revision, c.revision);
  });
});
