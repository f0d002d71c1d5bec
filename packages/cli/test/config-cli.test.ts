// @matrix: once
/**
 * `tether config` against a fake API over real HTTP (the server's model, delivery and rollouts
 * are tested with the server): the requests each form sends (set/unset read the layer first and
 * send its revision as baseRevision; push-file uploads the bytes with its options in the query),
 * every bad argument refused before any request (exit 2), a conflict (exit 1 with the server's
 * sentence), and the human output: tables, the explain view, status with warnings and counts,
 * diffs with secrets never shown, rollout progress.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, beforeEach, test } from "node:test";
import type {
  ConfigChange,
  ConfigDeviceView,
  ConfigLayerView,
  ConfigRollout,
  ConfigRolloutDetail,
  ConfigStatusView,
} from "@tether/sdk";
import { run } from "../src/cli.js";
import { layerRef, parseAssignments, rolloutSpec } from "../src/commands/config.js";
import { CliError } from "../src/io.js";
import { type FakeApi, json, startFakeApi, testIo } from "./logs-fake-api.js";

let api: FakeApi;
let dir: string;

before(async () => {
  api = await startFakeApi();
  dir = mkdtempSync(join(tmpdir(), "tether-config-cli-"));
});
after(async () => {
  await api?.close();
  rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => {
  api.requests.length = 0;
});

async function tether(args: string[]) {
  const io = testIo(api.env);
  const code = await run(args, io);
  return { code, stdout: io.out(), stderr: io.err() };
}

const NOW = new Date().toISOString();
const ROL = "rol_abcdefghij0123456789";

function layer(ref: string, o: Partial<ConfigLayerView> = {}): ConfigLayerView {
  const kind = ref === "defaults" ? "defaults" : (ref.split(":")[0] as "group" | "device");
  return {
    layer: ref,
    kind,
    layerLabel: ref === "defaults" ? "project defaults" : ref.replace(":", " "),
    revision: 12,
    updatedAt: NOW,
    updatedBy: "alice",
    values: {},
    secretKeys: [],
    files: [],
    rollout: null,
    ...o,
  };
}

function rollout(o: Partial<ConfigRollout> = {}): ConfigRollout {
  return {
    id: ROL,
    layer: "group:site-tokyo",
    layerLabel: "group site-tokyo",
    revision: 13,
    baseRevision: 12,
    state: "canary",
    reason: null,
    canary: "10%",
    waitMs: 600_000,
    maxFailures: 2,
    releaseAt: null,
    counts: { total: 10, canary: 1, released: 1, applied: 0, failed: 0, pending: 10 },
    createdBy: "alice",
    createdAt: NOW,
    updatedAt: NOW,
    ...o,
  };
}

function change(ref: string, o: Partial<ConfigChange> = {}): ConfigChange {
  return {
    revision: 13,
    layer: ref,
    layerLabel: ref === "defaults" ? "project defaults" : ref.replace(":", " "),
    affected: 3,
    rollout: null,
    ...o,
  };
}

test("set: reads the layer, sends its revision as baseRevision with the parsed values", async () => {
  api.on("GET", "/api/v1/config/layers/group:site-tokyo", (_r, res) =>
    json(res, 200, layer("group:site-tokyo")),
  );
  api.on("PATCH", "/api/v1/config/layers/group:site-tokyo", (_r, res) =>
    json(res, 200, change("group:site-tokyo")),
  );
  const r = await tether([
    "config",
    "set",
    "--group",
    "site-tokyo",
    "nav.hz=20",
    "nav.name=fast lane",
    'nav.pid={"p":1.5}',
    "-m",
    "raise speed",
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(
    api.requests.map((q) => `${q.method} ${q.path}`),
    ["GET /api/v1/config/layers/group:site-tokyo", "PATCH /api/v1/config/layers/group:site-tokyo"],
  );
  assert.deepEqual(api.requests[1].body, {
    baseRevision: 12,
    set: [
      { key: "nav.hz", value: 20 },
      { key: "nav.name", value: "fast lane" },
      { key: "nav.pid", value: { p: 1.5 } },
    ],
    message: "raise speed",
  });
  assert.equal(
    r.stdout,
    "set nav.hz, nav.name, nav.pid in group site-tokyo: revision 13; 3 devices affected\n",
  );

  // --string keeps 1.10 a string; --secret marks each key; a never-written layer sends null.
  api.on("GET", "/api/v1/config/layers/defaults", (_r, res) =>
    json(res, 200, layer("defaults", { revision: null })),
  );
  api.on("PATCH", "/api/v1/config/layers/defaults", (_r, res) => json(res, 200, change("defaults")));
  const s = await tether(["config", "set", "--defaults", "version=1.10", "--string", "--secret"]);
  assert.equal(s.code, 0, s.stderr);
  assert.deepEqual(api.requests[3].body, {
    baseRevision: null,
    set: [{ key: "version", value: "1.10", secret: true }],
  });
  const j = await tether(["config", "set", "--defaults", "a=1", "--json"]);
  assert.equal(JSON.parse(j.stdout).revision, 13);
});

test("set/unset: bad arguments are usage errors (exit 2) before any request", async () => {
  const cases: [string[], RegExp][] = [
    [["set", "nav.hz=1"], /name the layer: \(--defaults \| --group NAME \| --device DEVICE\)/],
    [["set", "--defaults", "--group", "g", "a=1"], /--defaults and --group cannot be combined/],
    [["set", "--group", "Bad_Name", "a=1"], /bad group name "Bad_Name"/],
    [["set", "--defaults", "nav..hz=1"], /invalid key "nav\.\.hz": empty segment/],
    [["set", "--defaults", "na v=1"], /invalid key "na v"/],
    [["set", "--defaults", "__proto__.x=1"], /reserved/],
    [["set", "--defaults", "novalue"], /expected KEY=VALUE/],
    [["set", "--defaults", "a=1", "a=2"], /a is given twice/],
    [["set", "--defaults", "a=1", "--canary", "0"], /--canary must be a number of devices/],
    [["set", "--defaults", "a=1", "--canary", "150%"], /--canary must be/],
    [["set", "--defaults", "a=1", "--wait", "10m"], /--wait need --canary/],
    [["set", "--defaults", "a=1", "--canary", "2", "--wait", "soon"], /--wait must be a duration/],
    [
      ["set", "--defaults", "a=1", "--canary", "2", "--max-failures", "-1"],
      /--max-failures must be an integer >= 0/,
    ],
    [["unset", "--defaults", "a.-b"], /invalid key "a\.-b"/],
    [["unset", "--defaults", "file:../etc/passwd"], /invalid file path/],
    [["unset", "--defaults", "file:/abs"], /invalid file path "\/abs": absolute/],
    [["set", "--defaults"], /missing required argument/],
  ];
  for (const [args, why] of cases) {
    const r = await tether(["config", ...args]);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, why, args.join(" "));
  }
  assert.equal(api.requests.length, 0);
  // The pure helpers.
  assert.equal(layerRef({ device: "robot-7" }), "device:robot-7");
  assert.throws(() => layerRef({}), CliError);
  assert.deepEqual(rolloutSpec({ canary: "5" }), { canary: "5" });
  assert.deepEqual(rolloutSpec({ canary: "10%", wait: "1h", maxFailures: "0" }), {
    canary: "10%",
    waitMs: 3_600_000,
    maxFailures: 0,
  });
  assert.deepEqual(parseAssignments(["x=null", "y=[1,2]", "z=true"]), [
    { key: "x", value: null },
    { key: "y", value: [1, 2] },
    { key: "z", value: true },
  ]);
});

test("a conflicting edit is exit 1 with the server's sentence; an unknown group exit 4", async () => {
  api.on("GET", "/api/v1/config/layers/group:site-tokyo", (_r, res) =>
    json(res, 200, layer("group:site-tokyo")),
  );
  const msg = 'group site-tokyo changed since revision 12 (now 14, by bob: "raise speed"); reload and retry';
  api.on("PATCH", "/api/v1/config/layers/group:site-tokyo", (_r, res) =>
    json(res, 409, { error: { code: "TETHER_ERR_CONFIG_CONFLICT", message: msg } }),
  );
  const r = await tether(["config", "unset", "--group", "site-tokyo", "nav.hz", "file:nav/params.yaml"]);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, `tether: ${msg}\n`);
  assert.deepEqual(api.requests[1].body, { baseRevision: 12, unset: ["nav.hz", "file:nav/params.yaml"] });
  api.on("GET", "/api/v1/config/layers/group:nope", (_r, res) =>
    json(res, 404, { error: { code: "TETHER_ERR_CONFIG_GROUP_NOT_FOUND", message: "no group nope" } }),
  );
  const nf = await tether(["config", "set", "--group", "nope", "a=1"]);
  assert.equal(nf.code, 4);
  assert.equal(nf.stderr, "tether: no group nope\n");
});

test("a staged rollout: the spec in the body, the rollout id and how to follow it printed", async () => {
  api.on("GET", "/api/v1/config/layers/group:site-tokyo", (_r, res) =>
    json(res, 200, layer("group:site-tokyo")),
  );
  api.on("PATCH", "/api/v1/config/layers/group:site-tokyo", (_r, res) =>
    json(res, 200, change("group:site-tokyo", { affected: 10, rollout: rollout() })),
  );
  const r = await tether([
    "config",
    "set",
    "--group",
    "site-tokyo",
    "nav.hz=25",
    "--canary",
    "10%",
    "--wait",
    "10m",
    "--max-failures",
    "2",
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(api.requests[1].body.rollout, { canary: "10%", waitMs: 600_000, maxFailures: 2 });
  assert.match(r.stdout, /revision 13; 10 devices to update\n/);
  assert.match(r.stdout, new RegExp(`rollout ${ROL}: canary 10% first \\(1 device\\), the rest 10m after`));
  assert.match(r.stdout, new RegExp(`follow it: tether config rollout status ${ROL}\n`));
});

test("show: a layer's own values, secrets masked, files listed", async () => {
  api.on("GET", "/api/v1/config/layers/device:robot-7", (_r, res) =>
    json(
      res,
      200,
      layer("device:robot-7", {
        values: { nav: { hz: 20 }, api: { token: "••••••" }, name: "r7" },
        secretKeys: ["api.token"],
        files: [{ path: "nav/params.yaml", hash: "a".repeat(64), size: 2048, kind: "yaml", secret: false }],
      }),
    ),
  );
  const r = await tether(["config", "show", "--device", "robot-7"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^layer: +device robot-7\nrevision: +12\n/);
  assert.match(r.stdout, /KEY +VALUE\napi\.token +••••••\nname +"r7"\nnav\.hz +20\n/);
  assert.match(r.stdout, /nav\/params\.yaml +2\.0 KiB +yaml +aaaaaaaaaaaa\n/);
  const j = await tether(["config", "show", "--device", "robot-7", "--json"]);
  assert.deepEqual(JSON.parse(j.stdout).secretKeys, ["api.token"]);
});

test("groups create, list (merge order) and delete; a fact selector is refused before any request", async () => {
  const group = (name: string, selector: string, priority: number) => ({
    name,
    selector,
    priority,
    revision: null,
    devices: 2,
    createdAt: NOW,
  });
  api.on("POST", "/api/v1/config/groups", (r, res) =>
    json(res, 201, group(r.body.name, r.body.selector, r.body.priority)),
  );
  api.on("GET", "/api/v1/config/groups", (_r, res) =>
    json(res, 200, [group("model-amr2", "model=amr2", 20), group("site-tokyo", "site=tokyo", 10)]),
  );
  api.on("DELETE", "/api/v1/config/groups/site-tokyo", (_r, res) => {
    res.writeHead(204);
    res.end();
  });
  const c = await tether([
    "config",
    "groups",
    "create",
    "site-tokyo",
    "--selector",
    "site=tokyo",
    "--priority",
    "10",
  ]);
  assert.equal(c.code, 0, c.stderr);
  assert.deepEqual(api.requests[0].body, { name: "site-tokyo", selector: "site=tokyo", priority: 10 });
  assert.equal(
    c.stdout,
    "created group site-tokyo (selector site=tokyo, priority 10); it matches 2 devices\n",
  );
  const l = await tether(["config", "groups", "list"]);
  assert.equal(l.code, 0, l.stderr);
  assert.match(
    l.stdout,
    /^NAME +SELECTOR +PRIORITY +DEVICES +REVISION\nsite-tokyo +site=tokyo +10 +2 +-\nmodel-amr2/,
  );
  const d = await tether(["config", "groups", "delete", "site-tokyo", "-m", "closed"]);
  assert.equal(d.code, 0, d.stderr);
  assert.equal(api.requests.at(-1)?.query.get("message"), "closed");
  const n = api.requests.length;
  for (const [args, why] of [
    [["create", "g1", "--selector", "fact.arch=arm64", "--priority", "1"], /labels only, not fact\.arch/],
    [["create", "g1", "--selector", "site=", "--priority", "1"], /bad --selector/],
    [["create", "g1", "--selector", "site=a", "--priority", "high"], /--priority must be an integer/],
    [["create", "G1", "--selector", "site=a", "--priority", "1"], /bad group name/],
    [["create", "g1", "--selector", "site=a"], /required option '-p, --priority <n>'/],
  ] as const) {
    const r = await tether(["config", "groups", ...args]);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, why);
  }
  assert.equal(api.requests.length, n);
});

const deviceView: ConfigDeviceView = {
  device: { id: "dev_1", name: "robot-7" },
  online: true,
  status: "failed",
  desired: 15,
  reported: 14,
  reportedAt: NOW,
  error: "apply hook exited with code 3",
  hookOutput: "restart failed\n",
  drift: ["files/nav.yaml"],
  heldBy: null,
  values: { nav: { hz: 25, max_speed: 1.5 }, api: { token: "••••••" } },
  files: [
    {
      path: "nav.yaml",
      hash: "b".repeat(64),
      size: 100,
      kind: "yaml",
      secret: false,
      layer: "group:site-tokyo",
      layerLabel: "group site-tokyo",
    },
  ],
  layers: [
    { layer: "defaults", layerLabel: "project defaults", revision: 3 },
    { layer: "group:site-tokyo", layerLabel: "group site-tokyo", revision: 15 },
    { layer: "device:robot-7", layerLabel: "device robot-7", revision: 9 },
  ],
  explain: [
    {
      key: "api.token",
      value: "••••••",
      secret: true,
      layer: "device:robot-7",
      layerLabel: "device robot-7",
      revision: 9,
      overrides: [{ layer: "defaults", layerLabel: "project defaults", value: "••••••" }],
    },
    {
      key: "nav.hz",
      value: 25,
      secret: false,
      layer: "group:site-tokyo",
      layerLabel: "group site-tokyo",
      revision: 15,
      overrides: [{ layer: "defaults", layerLabel: "project defaults", value: 10 }],
    },
    {
      key: "nav.max_speed",
      value: 1.5,
      secret: false,
      layer: "defaults",
      layerLabel: "project defaults",
      revision: 3,
      overrides: [],
    },
  ],
  warnings: [],
};

test("get: status, error, drift and values; --explain names the layer of each key and what it overrides", async () => {
  api.on("GET", "/api/v1/config/devices/robot-7", (_r, res) => json(res, 200, deviceView));
  const r = await tether(["config", "get", "robot-7"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^robot-7: failed, desired 15, reported 14\nerror: apply hook exited with code 3\n/);
  assert.match(r.stdout, /hook output:\nrestart failed\n/);
  assert.match(r.stdout, /drift: changed by hand on the device: files\/nav\.yaml\n/);
  assert.match(
    r.stdout,
    /layers: project defaults \(r3\), group site-tokyo \(r15\), device robot-7 \(r9\)\n/,
  );
  assert.match(r.stdout, /KEY +VALUE\napi\.token +••••••\nnav\.hz +25\nnav\.max_speed +1\.5\n/);
  assert.match(r.stdout, /nav\.yaml +100 B +yaml +group site-tokyo\n/);
  const e = await tether(["config", "get", "robot-7", "--explain"]);
  assert.equal(e.code, 0, e.stderr);
  assert.match(e.stdout, /KEY +VALUE +SET BY +REVISION +OVERRIDES\n/);
  assert.match(e.stdout, /api\.token +•••••• +device robot-7 +9 +project defaults: ••••••\n/);
  assert.match(e.stdout, /nav\.hz +25 +group site-tokyo +15 +project defaults: 10\n/);
  assert.match(e.stdout, /nav\.max_speed +1\.5 +project defaults +3 +-\n/);
  const j = await tether(["config", "get", "robot-7", "--explain", "--json"]);
  assert.equal(JSON.parse(j.stdout).explain.length, 3);
});

test("status: a row per device, counts and warnings; exit 0 even with failures; --selector passed", async () => {
  const view: ConfigStatusView = {
    devices: [
      { ...deviceView, values: undefined, files: undefined } as any,
      {
        device: { id: "dev_2", name: "robot-8" },
        online: false,
        status: "pending",
        desired: 15,
        reported: 12,
        reportedAt: null,
        error: null,
        hookOutput: null,
        drift: [],
        heldBy: ROL,
      },
    ].map(({ values: _v, files: _f, layers: _l, explain: _e, warnings: _w, ...d }: any) => d),
    counts: { failed: 1, pending: 1, "in-sync": 0 },
    warnings: [
      "groups site-tokyo and model-amr2 both have priority 10 and match robot-7; merged in name order (model-amr2 first)",
    ],
  };
  api.on("GET", "/api/v1/config/status", (_r, res) => json(res, 200, view));
  const r = await tether(["config", "status", "--selector", "site=tokyo"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(api.requests[0].query.get("selector"), "site=tokyo");
  assert.match(r.stdout, /^DEVICE +ONLINE +STATUS +DESIRED +REPORTED +DRIFT +ERROR\n/);
  assert.match(r.stdout, /robot-7 +yes +failed +15 +14 +files\/nav\.yaml +apply hook exited with code 3\n/);
  assert.match(r.stdout, new RegExp(`robot-8 +no +pending +15 +12 +- +held by ${ROL}\n`));
  assert.match(r.stdout, /2 devices: 1 failed, 1 pending\n/);
  assert.match(r.stdout, /warning: groups site-tokyo and model-amr2 both have priority 10/);
  const one = await tether(["config", "status", "robot-7", "--json"]);
  assert.equal(one.code, 0);
  assert.equal(api.requests.at(-1)?.query.get("device"), "robot-7");
  assert.equal(JSON.parse(one.stdout).devices.length, 2);
  const both = await tether(["config", "status", "robot-7", "--selector", "a=b"]);
  assert.equal(both.code, 2);
});

test("history, diff (secrets never shown) and rollback (reads the revision's layer for its base)", async () => {
  api.on("GET", "/api/v1/config/layers/group:site-tokyo/history", (_r, res) =>
    json(res, 200, [
      {
        revision: 15,
        layer: "group:site-tokyo",
        layerLabel: "group site-tokyo",
        kind: "change",
        author: "alice",
        at: NOW,
        message: "raise speed",
        changed: ["nav.hz"],
        restored: null,
      },
      {
        revision: 16,
        layer: "group:site-tokyo",
        layerLabel: "group site-tokyo",
        kind: "rollback",
        author: "bob",
        at: NOW,
        message: "",
        changed: ["nav.hz"],
        restored: 12,
      },
    ]),
  );
  const h = await tether(["config", "history", "--group", "site-tokyo", "--limit", "5"]);
  assert.equal(h.code, 0, h.stderr);
  assert.equal(api.requests[0].query.get("limit"), "5");
  assert.match(
    h.stdout,
    /^REVISION +TIME +AUTHOR +KIND +CHANGED +MESSAGE\n15 +\S+ \S+ +alice +change +nav\.hz +raise speed\n/,
  );
  assert.match(h.stdout, /16 .* bob +rollback to 12 +nav\.hz +-\n/);
  const big = await tether(["config", "history", "--defaults", "--limit", "5000"]);
  assert.equal(big.code, 2);

  api.on("GET", "/api/v1/config/diff", (_r, res) =>
    json(res, 200, {
      layer: "group:site-tokyo",
      layerLabel: "group site-tokyo",
      from: 12,
      to: 15,
      entries: [
        { key: "nav.hz", op: "changed", from: 20, to: 25, secret: false },
        { key: "nav.new", op: "added", to: "x", secret: false },
        { key: "nav.old", op: "removed", from: true, secret: false },
        { key: "api.token", op: "changed", secret: true },
      ],
      files: [{ path: "nav.yaml", op: "changed", secret: false, text: "-hz: 20\n+hz: 25\n" }],
    }),
  );
  const d = await tether(["config", "diff", "12", "15"]);
  assert.equal(d.code, 0, d.stderr);
  assert.deepEqual(
    [api.requests.at(-1)?.query.get("from"), api.requests.at(-1)?.query.get("to")],
    ["12", "15"],
  );
  assert.equal(
    d.stdout,
    'group site-tokyo: revision 12 → 15\n~ nav.hz: 20 → 25\n+ nav.new = "x"\n- nav.old (was true)\n~ api.token (secret, changed)\n~ file nav.yaml (changed)\n-hz: 20\n+hz: 25\n',
  );
  const bad = await tether(["config", "diff", "12", "latest"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /REV_B must be a revision number/);

  api.on("GET", "/api/v1/config/revisions/12", (_r, res) =>
    json(res, 200, {
      revision: 12,
      layer: "group:site-tokyo",
      layerLabel: "group site-tokyo",
      kind: "change",
      author: "alice",
      at: NOW,
      message: "",
      changed: ["nav.hz"],
      restored: null,
      values: { nav: { hz: 20 } },
      secretKeys: [],
      files: [],
    }),
  );
  api.on("GET", "/api/v1/config/layers/group:site-tokyo", (_r, res) =>
    json(res, 200, layer("group:site-tokyo", { revision: 15 })),
  );
  api.on("POST", "/api/v1/config/rollback", (_r, res) =>
    json(res, 200, change("group:site-tokyo", { revision: 16 })),
  );
  api.requests.length = 0;
  const rb = await tether(["config", "rollback", "12", "-m", "back"]);
  assert.equal(rb.code, 0, rb.stderr);
  assert.deepEqual(
    api.requests.map((q) => `${q.method} ${q.path}`),
    [
      "GET /api/v1/config/revisions/12",
      "GET /api/v1/config/layers/group:site-tokyo",
      "POST /api/v1/config/rollback",
    ],
  );
  assert.deepEqual(api.requests[2].body, { revision: 12, baseRevision: 15, message: "back" });
  assert.equal(rb.stdout, "restored revision 12 of group site-tokyo: revision 16; 3 devices affected\n");
});

test("push-file: uploads the bytes with its options, prints the size; too large or missing: exit 2", async () => {
  api.on("GET", "/api/v1/config/layers/group:site-tokyo", (_r, res) =>
    json(res, 200, layer("group:site-tokyo")),
  );
  api.on("PUT", "/api/v1/config/layers/group:site-tokyo/files", (_r, res) =>
    json(res, 200, change("group:site-tokyo", { revision: 14 })),
  );
  const file = join(dir, "params.json");
  writeFileSync(file, '{"hz": 20}\n');
  const r = await tether([
    "config",
    "push-file",
    "--group",
    "site-tokyo",
    "nav/params.json",
    "--from",
    file,
    "--secret",
    "-m",
    "tuned",
    "--canary",
    "1",
  ]);
  assert.equal(r.code, 0, r.stderr);
  const put = api.requests[1];
  assert.equal(put.headers["content-type"], "application/octet-stream");
  assert.deepEqual(put.body, { hz: 20 });
  assert.deepEqual(Object.fromEntries(put.query), {
    path: "nav/params.json",
    secret: "1",
    baseRevision: "12",
    message: "tuned",
    canary: "1",
  });
  assert.match(r.stderr, /^uploading .*params\.json \(11 B\) as nav\/params\.json\n$/);
  assert.equal(
    r.stdout,
    "pushed nav/params.json (11 B, secret) to group site-tokyo: revision 14; 3 devices affected\n",
  );

  const huge = join(dir, "huge.bin");
  writeFileSync(huge, "");
  truncateSync(huge, 16 * 1024 * 1024 + 1);
  const n = api.requests.length;
  for (const [args, why] of [
    [["--from", huge, "big.bin"], /huge\.bin is 16\.0 MiB: a configuration file is at most 16\.0 MiB/],
    [["--from", join(dir, "none"), "a.bin"], /cannot read --from .*none: ENOENT/],
    [["--from", file, "../a.bin"], /invalid file path/],
    [["a.bin"], /required option '--from <local-file>'/],
  ] as const) {
    const x = await tether(["config", "push-file", "--group", "site-tokyo", ...args]);
    assert.equal(x.code, 2, `${args.join(" ")}: ${x.stderr}`);
    assert.match(x.stderr, why);
  }
  assert.equal(api.requests.length, n);
});

test("rollout list, status (progress, state and reason), pause/resume/abort; a bad id is exit 4", async () => {
  const paused = rollout({
    state: "paused",
    reason: "3 devices failed, more than --max-failures 2",
    counts: { total: 10, canary: 1, released: 4, applied: 1, failed: 3, pending: 6 },
  });
  api.on("GET", "/api/v1/config/rollouts", (_r, res) => json(res, 200, [paused]));
  const detail: ConfigRolloutDetail = {
    ...paused,
    devices: [
      { id: "dev_1", name: "robot-1", stage: "canary", released: true, status: "in-sync", error: null },
      {
        id: "dev_2",
        name: "robot-2",
        stage: "rest",
        released: true,
        status: "failed",
        error: "hook exited 1",
      },
    ],
  };
  api.on("GET", `/api/v1/config/rollouts/${ROL}`, (_r, res) => json(res, 200, detail));
  api.on("POST", `/api/v1/config/rollouts/${ROL}/resume`, (_r, res) =>
    json(res, 200, rollout({ state: "rolling" })),
  );
  const l = await tether(["config", "rollout", "list", "--all"]);
  assert.equal(l.code, 0, l.stderr);
  assert.equal(api.requests[0].query.get("all"), "1");
  assert.match(
    l.stdout,
    new RegExp(
      `${ROL} +group site-tokyo +13 +paused \\(3 devices failed, more than --max-failures 2\\) +4 of 10 released \\(canary 1\\); 1 applied, 3 failed, 6 pending`,
    ),
  );
  const s = await tether(["config", "rollout", "status", ROL]);
  assert.equal(s.code, 0, s.stderr);
  assert.match(s.stdout, /state: +paused \(3 devices failed, more than --max-failures 2\)\n/);
  assert.match(s.stdout, /progress: +4 of 10 released \(canary 1\); 1 applied, 3 failed, 6 pending\n/);
  assert.match(s.stdout, /robot-2 +rest +yes +failed +hook exited 1\n/);
  const res = await tether(["config", "rollout", "resume", ROL]);
  assert.equal(res.code, 0, res.stderr);
  assert.match(res.stdout, new RegExp(`^resumed rollout ${ROL} of group site-tokyo: now rolling;`));
  const bad = await tether(["config", "rollout", "abort", "rol_nope"]);
  assert.equal(bad.code, 4);
  assert.match(bad.stderr, /no rollout rol_nope/);
});

test("schema set/show/clear; every subcommand has --help", async () => {
  let stored: unknown = null;
  api.on("PUT", "/api/v1/config/schema", (r, res) => {
    stored = r.body.schema;
    json(res, 200, { schema: stored, updatedAt: NOW, updatedBy: "admin" });
  });
  api.on("GET", "/api/v1/config/schema", (_r, res) =>
    json(res, 200, { schema: stored, updatedAt: NOW, updatedBy: "admin" }),
  );
  const file = join(dir, "schema.json");
  writeFileSync(file, JSON.stringify({ type: "object", properties: { nav: { type: "object" } } }));
  const s = await tether(["config", "schema", "set", file]);
  assert.equal(s.code, 0, s.stderr);
  assert.deepEqual(stored, { type: "object", properties: { nav: { type: "object" } } });
  const show = await tether(["config", "schema", "show"]);
  assert.match(show.stdout, /"type": "object"/);
  writeFileSync(file, "{ nope");
  const bad = await tether(["config", "schema", "set", file]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /is not valid JSON/);

  for (const sub of [
    ["set"],
    ["unset"],
    ["show"],
    ["get"],
    ["status"],
    ["history"],
    ["diff"],
    ["rollback"],
    ["push-file"],
    ["groups", "create"],
    ["groups", "list"],
    ["groups", "delete"],
    ["rollout", "list"],
    ["rollout", "status"],
    ["rollout", "pause"],
    ["rollout", "resume"],
    ["rollout", "abort"],
    ["schema", "show"],
    ["schema", "set"],
    ["schema", "clear"],
  ]) {
    const h = await tether(["config", ...sub, "--help"]);
    assert.equal(h.code, 0, sub.join(" "));
    assert.match(h.stdout, new RegExp(`Usage: tether config ${sub.join(" ")}`), sub.join(" "));
  }
  const top = await tether(["config", "--help"]);
  assert.match(top.stdout, /KEY is a dotted path/);
});
