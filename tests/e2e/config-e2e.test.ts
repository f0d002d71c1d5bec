// @matrix: store
// Issue 14, "done when": layered remote configuration end to end, with a real server and two
// real agents. Defaults, two groups (site-tokyo priority 10, model-amr2 priority 20) and a device
// layer merge into each agent's config/effective.json and config/files/ (a JSON file merged
// across layers, a raw file replaced by the most specific layer); each agent reports the
// revision; explain names the layer of each key; history, diff and rollback work and the agents
// follow the rollback; a stale baseRevision is a conflict; a staged rollout whose canary's apply
// hook fails pauses and the other device never gets the change, and abort restores; an offline
// device misses three revisions and applies only the newest on return; a relabel re-targets a
// device; tether.logs.rate set remotely reaches the agent's logs module, tether.logs.allow is
// refused at write.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import {
  agentLogLines,
  type ConfigAgent,
  deviceView,
  effectiveOf,
  enrollConfigAgent,
  hookFlags,
  hookRuns,
  hookScript,
  managedFile,
  patchLayer,
  putFile,
  restartConfigAgent,
  stopInProcessAgents,
  waitInSync,
} from "../support/config-e2e.js";
import { type InProcessServer, startInProcessServer } from "../support/in-process-server.js";
import { cleanupTempDirs, tempDir, waitFor } from "./harness.js";

let server: InProcessServer;
let a: ConfigAgent; // robot-a: site=tokyo, model=amr2
let b: ConfigAgent; // robot-b: site=tokyo
let logA: string;
let logB: string;
let token: string;

/** The revision each device should be at (the last write that changed it). */
const at = { a: 0, b: 0 };

before(async () => {
  server = await startInProcessServer({ dataDir: join(tempDir("tether-config-e2e-"), "server") });
  token = readFileSync(join(server.dataDir, "admin.token"), "utf8").trim();
  const hook = hookScript();
  const dir = tempDir("tether-config-hooklog-");
  logA = join(dir, "a.log");
  logB = join(dir, "b.log");
  [a, b] = await Promise.all([
    enrollConfigAgent(server, "robot-a", { site: "tokyo", model: "amr2" }, hookFlags(hook.cmd(logA))),
    enrollConfigAgent(server, "robot-b", { site: "tokyo" }, hookFlags(hook.cmd(logB))),
  ]);
});

after(async () => {
  await stopInProcessAgents();
  await server?.srv.close();
  await cleanupTempDirs();
});

const api = () => server.api;
const adminToken = () => token;

test("layers merge into each agent's effective.json and files; the agents report the revision; explain names the layers", async () => {
  // Groups first (site-tokyo matches both, model-amr2 only robot-a).
  const g1 = await api().request("POST", "/api/v1/config/groups", {
    name: "site-tokyo",
    selector: "site=tokyo",
    priority: 10,
  });
  assert.equal(g1.status, 201, JSON.stringify(g1.body));
  assert.equal(g1.body.devices, 2);
  const g2 = await api().request("POST", "/api/v1/config/groups", {
    name: "model-amr2",
    selector: "model=amr2",
    priority: 20,
  });
  assert.equal(g2.status, 201, JSON.stringify(g2.body));
  assert.equal(g2.body.devices, 1);

  // Defaults: values, a JSON file and a raw file.
  await patchLayer(api(), "defaults", {
    set: [
      { key: "nav.hz", value: 10 },
      { key: "nav.mode", value: "normal" },
      { key: "log.level", value: "info" },
    ],
    message: "defaults",
  });
  const fp = await putFile(server, adminToken(), "defaults", "params.json", '{"a": 1, "b": {"c": 1}}');
  assert.ok(fp.status >= 200 && fp.status < 300, JSON.stringify(fp.body));
  const fm = await putFile(server, adminToken(), "defaults", "motd.txt", "default motd\n");
  assert.ok(fm.status >= 200 && fm.status < 300, JSON.stringify(fm.body));

  // model-amr2: its own values and a raw file that replaces the default one.
  await patchLayer(api(), "group:model-amr2", {
    set: [
      { key: "nav.hz", value: 30 },
      { key: "nav.max_speed", value: 1.5 },
    ],
  });
  const fm2 = await putFile(server, adminToken(), "group:model-amr2", "motd.txt", "amr2 motd\n");
  assert.ok(fm2.status >= 200 && fm2.status < 300, JSON.stringify(fm2.body));

  // site-tokyo: a value and a JSON file that merges with the default one.
  const fp2 = await putFile(server, adminToken(), "group:site-tokyo", "params.json", '{"b": {"d": 2}}');
  assert.ok(fp2.status >= 200 && fp2.status < 300, JSON.stringify(fp2.body));
  const s1 = await patchLayer(api(), "group:site-tokyo", {
    set: [
      { key: "nav.hz", value: 20 },
      { key: "tz", value: "Asia/Tokyo" },
    ],
    message: "tokyo basics",
  });
  assert.equal(s1.affected, 2);
  at.b = s1.revision;

  // robot-a's own layer: overrides the group's max_speed, deletes the inherited log.level.
  const d1 = await patchLayer(api(), "device:robot-a", {
    baseRevision: null,
    set: [
      { key: "nav.max_speed", value: 1.2 },
      { key: "log.level", value: null },
    ],
    message: "robot-a tuned by hand",
  });
  assert.equal(d1.affected, 1);
  assert.ok(d1.revision > s1.revision);
  at.a = d1.revision;

  const va = await waitInSync(api(), "robot-a", at.a);
  const vb = await waitInSync(api(), "robot-b", at.b);
  await waitFor(() => effectiveOf(a)?.nav?.max_speed === 1.2, "robot-a's effective.json");

  const ea = effectiveOf(a);
  assert.deepEqual(ea.nav, { hz: 30, mode: "normal", max_speed: 1.2 });
  assert.equal(ea.tz, "Asia/Tokyo");
  assert.equal(ea.log?.level, undefined, "null in the device layer deletes the inherited key");
  const eb = effectiveOf(b);
  assert.deepEqual(eb, { nav: { hz: 20, mode: "normal" }, log: { level: "info" }, tz: "Asia/Tokyo" });

  // The JSON file merged across defaults and site-tokyo (re-serialized); the raw file replaced.
  const merged = `${JSON.stringify({ a: 1, b: { c: 1, d: 2 } }, null, 2)}\n`;
  assert.equal(managedFile(a, "params.json"), merged);
  assert.equal(managedFile(b, "params.json"), merged);
  assert.equal(managedFile(a, "motd.txt"), "amr2 motd\n");
  assert.equal(managedFile(b, "motd.txt"), "default motd\n");

  // The hook ran with the revision it applied.
  assert.equal(hookRuns(logA).at(-1), at.a);
  assert.equal(hookRuns(logB).at(-1), at.b);

  // The server's view matches what the agents wrote; explain names the layer of each key.
  assert.deepEqual(va.values.nav, ea.nav);
  assert.deepEqual(
    va.layers.map((l: any) => l.layer),
    ["defaults", "group:site-tokyo", "group:model-amr2", "device:robot-a"],
  );
  assert.deepEqual(
    vb.layers.map((l: any) => l.layer),
    ["defaults", "group:site-tokyo"],
  );
  const ex = Object.fromEntries(va.explain.map((e: any) => [e.key, e]));
  assert.equal(ex["nav.hz"].layer, "group:model-amr2");
  assert.equal(ex["nav.hz"].value, 30);
  assert.deepEqual(
    ex["nav.hz"].overrides.map((o: any) => [o.layer, o.value]),
    [
      ["group:site-tokyo", 20],
      ["defaults", 10],
    ],
  );
  assert.equal(ex["nav.max_speed"].layer, "device:robot-a");
  assert.deepEqual(
    ex["nav.max_speed"].overrides.map((o: any) => [o.layer, o.value]),
    [["group:model-amr2", 1.5]],
  );
  assert.equal(ex["nav.mode"].layer, "defaults");
  assert.equal(ex.tz.layer, "group:site-tokyo");
  assert.equal(ex["log.level"], undefined, "a deleted key is not explained as set");
  const files = Object.fromEntries(va.files.map((f: any) => [f.path, f]));
  assert.equal(files["motd.txt"].layer, "group:model-amr2");
  assert.equal(files["params.json"].kind, "json");
});

test("history, diff and rollback; the agents follow the rollback; a stale baseRevision is a conflict", async () => {
  const layer = await api().call("GET", "/api/v1/config/layers/group:site-tokyo");
  const before = layer.revision as number;
  const s2 = await patchLayer(api(), "group:site-tokyo", {
    baseRevision: before,
    set: [{ key: "nav.hz", value: 25 }],
    message: "raise hz",
  });
  at.b = s2.revision;
  await waitInSync(api(), "robot-b", at.b);
  assert.equal(effectiveOf(b).nav.hz, 25);

  const hist = await api().call("GET", "/api/v1/config/layers/group:site-tokyo/history");
  assert.equal(hist[0].revision, s2.revision, "newest first");
  assert.equal(hist[0].message, "raise hz");
  assert.equal(hist[0].kind, "change");
  assert.deepEqual(hist[0].changed, ["nav.hz"]);
  assert.ok(hist.some((h: any) => h.revision === before));
  assert.ok(hist.every((h: any) => h.layer === "group:site-tokyo" || h.kind === "group-create"));

  const diff = await api().call("GET", `/api/v1/config/diff?from=${before}&to=${s2.revision}`);
  assert.deepEqual(
    diff.entries.map((e: any) => [e.key, e.op, e.from, e.to]),
    [["nav.hz", "changed", 20, 25]],
  );
  // Two revisions of different layers: refused, naming both.
  const cross = await api().request("GET", `/api/v1/config/diff?from=${at.a}&to=${s2.revision}`);
  assert.equal(cross.status, 400, JSON.stringify(cross.body));
  assert.equal(cross.body.error.code, "TETHER_ERR_BAD_REQUEST");
  assert.match(cross.body.error.message, /different layers/);

  // Rollback to `before`: a new revision of kind rollback; robot-b follows it.
  const rb = await api().call("POST", "/api/v1/config/rollback", { revision: before, message: "too fast" });
  assert.ok(rb.revision > s2.revision);
  at.b = rb.revision;
  await waitInSync(api(), "robot-b", at.b);
  assert.equal(effectiveOf(b).nav.hz, 20);
  assert.equal(hookRuns(logB).at(-1), rb.revision);
  const hist2 = await api().call("GET", "/api/v1/config/layers/group:site-tokyo/history?limit=1");
  assert.equal(hist2.length, 1);
  assert.equal(hist2[0].kind, "rollback");
  assert.equal(hist2[0].restored, before);
  // robot-a follows too (site-tokyo is one of its layers), its nav.hz still from model-amr2.
  const va = await waitFor(async () => {
    const v = await deviceView(api(), "robot-a");
    return v.status === "in-sync" && v.reported === v.desired && v.desired >= rb.revision ? v : undefined;
  }, "robot-a in-sync after the rollback");
  at.a = va.desired;
  assert.equal(effectiveOf(a).nav.hz, 30);

  // Two operators edit the layer: the second one's base is stale.
  const stale = await api().request("PATCH", "/api/v1/config/layers/group:site-tokyo", {
    baseRevision: s2.revision,
    set: [{ key: "nav.hz", value: 99 }],
  });
  assert.equal(stale.status, 409, JSON.stringify(stale.body));
  assert.equal(stale.body.error.code, "TETHER_ERR_CONFIG_CONFLICT");
  assert.match(stale.body.error.message, new RegExp(`since revision ${s2.revision}.*now ${rb.revision}`));
  const after = await api().call("GET", "/api/v1/config/layers/group:site-tokyo");
  assert.equal(after.revision, rb.revision, "nothing saved");
  assert.equal(after.values.nav.hz, 20);
});

test("a staged rollout pauses when the canary's hook fails; the other device never gets it; abort restores", async () => {
  const defaults = await api().call("GET", "/api/v1/config/layers/defaults");
  const ch = await patchLayer(api(), "defaults", {
    baseRevision: defaults.revision,
    set: [{ key: "nav.mode", value: "broken" }],
    message: "try the new mode",
    rollout: { canary: "1", maxFailures: 0 },
  });
  const R = ch.revision as number;
  assert.ok(ch.rollout, JSON.stringify(ch));
  assert.match(ch.rollout.id, /^rol_[a-z0-9]{20}$/);
  assert.equal(ch.rollout.counts.total, 2);
  assert.equal(ch.rollout.counts.canary, 1);

  // The canary (robot-a, first by name) applies it, its hook exits 3: failed, and the rollout pauses.
  const paused = await waitFor(async () => {
    const r = await api().call("GET", `/api/v1/config/rollouts/${ch.rollout.id}`);
    return r.state === "paused" ? r : undefined;
  }, "the rollout pauses");
  assert.match(paused.reason, /fail/);
  assert.equal(paused.counts.failed, 1);
  const canary = paused.devices.find((d: any) => d.name === "robot-a");
  assert.equal(canary.stage, "canary");
  const va = await deviceView(api(), "robot-a");
  assert.equal(va.status, "failed");
  assert.equal(va.desired, R);
  assert.match(`${va.error} ${va.hookOutput}`, /3/);
  assert.match(va.hookOutput ?? "", /nav\.mode is broken/);
  assert.equal(effectiveOf(a).nav.mode, "broken", "the files stay written when the hook fails");
  assert.ok(hookRuns(logA).includes(R));

  // robot-b is held back: still at its old revision, its files untouched.
  const vb = await deviceView(api(), "robot-b");
  assert.equal(vb.heldBy, ch.rollout.id);
  assert.equal(vb.reported, at.b);
  assert.equal(effectiveOf(b).nav.mode, "normal");
  const rest = paused.devices.find((d: any) => d.name === "robot-b");
  assert.equal(rest.released, false);

  // Other writes to the layer wait for the rollout to finish.
  const busy = await api().request("PATCH", "/api/v1/config/layers/defaults", {
    set: [{ key: "nav.extra", value: 1 }],
  });
  assert.equal(busy.status, 409, JSON.stringify(busy.body));
  assert.equal(busy.body.error.code, "TETHER_ERR_ROLLOUT_ACTIVE");

  // Abort: the layer goes back as a new revision; both converge (the hook passes again).
  const aborted = await api().call("POST", `/api/v1/config/rollouts/${ch.rollout.id}/abort`, {});
  assert.equal(aborted.state, "aborted");
  const hist = await api().call("GET", "/api/v1/config/layers/defaults/history?limit=1");
  assert.equal(hist[0].kind, "rollout-abort");
  const abortRev = hist[0].revision as number;
  assert.ok(abortRev > R);
  await waitInSync(api(), "robot-a", abortRev);
  at.a = abortRev;
  assert.equal(effectiveOf(a).nav.mode, "normal");
  const vb2 = await waitFor(async () => {
    const v = await deviceView(api(), "robot-b");
    return v.status === "in-sync" && v.heldBy === null && v.reported === v.desired ? v : undefined;
  }, "robot-b in-sync, not held");
  at.b = vb2.desired;
  assert.equal(effectiveOf(b).nav.mode, "normal");
  // robot-b's hook never ran for R: it never got the change.
  assert.ok(!hookRuns(logB).includes(R), `robot-b hook runs ${hookRuns(logB)} include ${R}`);
});

test("an offline device misses three revisions and on return applies only the newest", async () => {
  await b.agent.stop();
  await waitFor(async () => !(await api().call("GET", "/api/v1/devices/robot-b")).online, "robot-b offline");
  const runsBefore = hookRuns(logB);
  const revs: number[] = [];
  for (const hz of [41, 42, 43]) {
    const c = await patchLayer(api(), "group:site-tokyo", {
      set: [{ key: "nav.speed_limit", value: hz }],
      message: `limit ${hz}`,
    });
    revs.push(c.revision);
  }
  const vb = await deviceView(api(), "robot-b");
  assert.equal(vb.desired, revs[2]);
  assert.equal(vb.status, "pending");
  assert.equal(vb.online, false);

  await restartConfigAgent(server, b);
  await waitInSync(api(), "robot-b", revs[2]!);
  at.b = revs[2]!;
  assert.equal(effectiveOf(b).nav.speed_limit, 43);
  // The hook ran once, for the newest; the intermediate revisions were never applied.
  await waitFor(() => hookRuns(logB).length > runsBefore.length, "robot-b's hook ran");
  assert.deepEqual(hookRuns(logB).slice(runsBefore.length), [revs[2]]);
  // The restarted agent applied one configuration: the newest.
  assert.deepEqual(
    agentLogLines(b, "config: applied").map((l) => [l.rev, l.status]),
    [[revs[2], "applied"]],
  );
  // robot-a, online throughout, is at the newest too.
  await waitInSync(api(), "robot-a", revs[2]!);
  at.a = revs[2]!;
});

test("a relabel re-targets a device", async () => {
  await api().call("PATCH", "/api/v1/devices/robot-b", { labels: { model: "amr2" } });
  const vb = await waitFor(async () => {
    const v = await deviceView(api(), "robot-b");
    return v.desired > at.b && v.status === "in-sync" && v.reported === v.desired ? v : undefined;
  }, "robot-b re-targeted and in-sync");
  assert.deepEqual(
    vb.layers.map((l: any) => l.layer),
    ["defaults", "group:site-tokyo", "group:model-amr2"],
  );
  const eb = effectiveOf(b);
  assert.equal(eb.nav.hz, 30);
  assert.equal(eb.nav.max_speed, 1.5);
  assert.equal(managedFile(b, "motd.txt"), "amr2 motd\n");
  assert.equal(hookRuns(logB).at(-1), vb.desired);
  // The hook was told what changed.
  const changed = readFileSync(`${logB}.changed.${vb.desired}`, "utf8").split("\n").filter(Boolean);
  assert.ok(changed.includes("nav.hz"), changed.join(","));
  assert.ok(changed.includes("file:motd.txt"), changed.join(","));
  at.b = vb.desired;
  // And back: model label removed, the group no longer applies.
  await api().call("PATCH", "/api/v1/devices/robot-b", { labels: { model: null } });
  await waitFor(async () => effectiveOf(b)?.nav?.max_speed === undefined, "robot-b out of model-amr2");
  assert.equal(managedFile(b, "motd.txt"), "default motd\n");
});

test("tether.logs.rate set remotely reaches the agent; tether.logs.allow is refused at write", async () => {
  const refused = await api().request("PATCH", "/api/v1/config/layers/device:robot-b", {
    set: [{ key: "tether.logs.allow", value: ["/var/log/*.log"] }],
  });
  assert.equal(refused.status, 400, JSON.stringify(refused.body));
  assert.equal(refused.body.error.code, "TETHER_ERR_CONFIG_INVALID");
  assert.match(refused.body.error.message, /tether\.logs\.allow is device-only/);
  const wrongType = await api().request("PATCH", "/api/v1/config/layers/defaults", {
    set: [{ key: "tether.logs.rate", value: "fast" }],
  });
  assert.equal(wrongType.status, 400, JSON.stringify(wrongType.body));
  assert.match(wrongType.body.error.message, /tether\.logs\.rate/);

  const c = await patchLayer(api(), "device:robot-b", { set: [{ key: "tether.logs.rate", value: 7 }] });
  await waitInSync(api(), "robot-b", c.revision);
  const line = await waitFor(
    () => agentLogLines(b, "logs: settings applied").find((l) => l.from?.rate === "remote"),
    "the logs module applies the remote rate",
  );
  assert.equal(line.from.rate, "remote");
  assert.equal(effectiveOf(b).tether.logs.rate, 7);
  // robot-a did not get it (device layer of robot-b only).
  assert.equal(
    agentLogLines(a, "logs: settings applied").some((l) => l.from?.rate === "remote"),
    false,
  );
});
