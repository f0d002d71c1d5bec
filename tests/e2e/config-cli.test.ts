// @matrix: once
/**
 * `tether config` end to end (issue 14, docs/protocol.md §18): the built CLI run exactly as the
 * issue writes its forms, against a real server process and a real agent. A group and a device
 * layer over the defaults; the agent writes the merged result (a secret included) and reports
 * it; get --explain names the layer of each key; history, diff and rollback; a pushed file
 * reaches the device; a canary rollout is listed, followed and aborted; bad keys are usage
 * errors before any request. Every wait is on a condition (the agent's file, the API's state).
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { buildCliBundle, Cli, expectExit, stopClis } from "../support/cli-driver.js";
import {
  type AgentHandle,
  cleanupTempDirs,
  enrollOnline,
  type ServerHandle,
  startServer,
  tempDir,
  waitFor,
} from "./harness.js";

let server: ServerHandle;
let cli: Cli;
let agent: AgentHandle;
/** A second device of the group: the rest of a canary rollout. */
let other: AgentHandle;
const work = tempDir("config-cli-work-");

before(async () => {
  const [entry, srv] = await Promise.all([Promise.resolve().then(buildCliBundle), startServer()]);
  server = srv;
  cli = new Cli(server, { entry });
  [agent, other] = (
    await Promise.all([
      enrollOnline(server, { name: "robot-1", labels: { site: "tokyo" } }),
      enrollOnline(server, { name: "robot-2", labels: { site: "tokyo" } }),
    ])
  ).map((e) => e.agent);
});
after(async () => {
  stopClis();
  await Promise.all([agent?.stop(), other?.stop()]);
  await server?.stop();
  await cleanupTempDirs();
});

const effective = () => {
  const f = join(agent.dataDir, "config", "effective.json");
  return existsSync(f) ? JSON.parse(readFileSync(f, "utf8")) : undefined;
};

/** robot-1's configuration status through the API (waits poll this, not the CLI). */
async function robot1(): Promise<{ status: string; desired: number | null; reported: number | null }> {
  const r = await server.api.call<{
    devices: { status: string; desired: number | null; reported: number | null }[];
  }>("GET", "/api/v1/config/status?device=robot-1");
  return r.devices[0]!;
}

/** Wait until robot-1 reported applying revision `rev` or a newer one. */
const appliedAt = (rev: number, what: string) =>
  waitFor(async () => {
    const s = await robot1();
    return s.status === "in-sync" && (s.reported ?? 0) >= rev ? s : undefined;
  }, what);

/** The revision number a write printed ("…: revision 14; …"). */
const revOf = (stdout: string) => {
  const m = /: revision (\d+);/.exec(stdout);
  assert.ok(m, `no revision in ${JSON.stringify(stdout)}`);
  return Number(m[1]);
};

test("layers merge on the device; explain, status, history, diff, rollback, push-file, a canary rollout", async () => {
  const run = async (args: string[], code = 0) => {
    const r = await cli.run(args);
    expectExit(r, code, args.join(" "));
    return r;
  };

  // Bad input first: nothing is written.
  const badKey = await run(["config", "set", "--defaults", "nav..hz=1"], 2);
  assert.match(badKey.stderr, /invalid key "nav\.\.hz"/);
  const noLayer = await run(["config", "set", "nav.hz=1"], 2);
  assert.match(noLayer.stderr, /--defaults \| --group NAME \| --device DEVICE/);

  const g = await run([
    "config",
    "groups",
    "create",
    "site-tokyo",
    "--selector",
    "site=tokyo",
    "--priority",
    "10",
  ]);
  assert.match(
    g.stdout,
    /created group site-tokyo \(selector site=tokyo, priority 10\); it matches 2 devices\n/,
  );
  const gl = await run(["config", "groups", "list"]);
  assert.match(gl.stdout, /site-tokyo +site=tokyo +10 +2/);

  const d1 = await run(["config", "set", "--defaults", "nav.hz=10", "nav.mode=auto"]);
  assert.match(d1.stdout, /^set nav\.hz, nav\.mode in project defaults: revision \d+; 2 devices affected\n$/);
  await run(["config", "set", "--defaults", "version=1.10", "--string"]);
  const g1 = await run(["config", "set", "--group", "site-tokyo", "nav.hz=20", "-m", "faster in Tokyo"]);
  const revG1 = revOf(g1.stdout);
  const revDev = revOf(
    (await run(["config", "set", "--device", "robot-1", "api.token=s3cret", "--secret"])).stdout,
  );

  // The agent writes the merge: the group's nav.hz over the defaults', the secret in clear.
  const eff = await waitFor(() => {
    const e = effective();
    return e?.api?.token === "s3cret" && e?.nav?.hz === 20 ? e : undefined;
  }, "robot-1's effective.json with the merged values");
  assert.deepEqual(eff, { api: { token: "s3cret" }, nav: { hz: 20, mode: "auto" }, version: "1.10" });

  const [ex, jsr] = await Promise.all([
    run(["config", "get", "robot-1", "--explain"]),
    run(["config", "get", "robot-1", "--json"]),
  ]);
  assert.match(ex.stdout, /api\.token +•••••• +device robot-1 /);
  assert.match(ex.stdout, /nav\.hz +20 +group site-tokyo +\d+ +project defaults: 10\n/);
  assert.match(ex.stdout, /version +"1\.10" +project defaults /);
  assert.doesNotMatch(ex.stdout, /s3cret/);
  const js = JSON.parse(jsr.stdout);
  assert.equal(js.values.api.token, "••••••");

  await appliedAt(revDev, "robot-1 in sync");
  const [st, stj] = await Promise.all([
    run(["config", "status", "--selector", "site=tokyo"]),
    run(["config", "status", "robot-1", "--json"]),
  ]);
  assert.equal(JSON.parse(stj.stdout).devices[0].status, "in-sync");
  assert.match(st.stdout, /robot-1 +yes +in-sync +(\d+) +\1 /);
  assert.match(st.stdout, /robot-2 +yes +\S+ +\d+ /);
  assert.match(st.stdout, /2 devices: /);

  // History, diff and rollback of the group layer.
  const g2 = await run(["config", "set", "--group", "site-tokyo", "nav.hz=25"]);
  const revG2 = revOf(g2.stdout);
  const [h, hjr, df] = await Promise.all([
    run(["config", "history", "--group", "site-tokyo"]),
    run(["config", "history", "--group", "site-tokyo", "--limit", "1", "--json"]),
    run(["config", "diff", String(revG1), String(revG2)]),
  ]);
  assert.match(
    h.stdout,
    new RegExp(`^REVISION .*\\n${revG2} .* change +nav\\.hz +-\\n${revG1} .* faster in Tokyo\\n`),
  );
  const hj = JSON.parse(hjr.stdout);
  assert.equal(hj.length, 1);
  assert.equal(df.stdout, `group site-tokyo: revision ${revG1} → ${revG2}\n~ nav.hz: 20 → 25\n`);
  const rb = await run(["config", "rollback", String(revG1), "-m", "back to 20"]);
  assert.match(rb.stdout, new RegExp(`^restored revision ${revG1} of group site-tokyo: revision \\d+;`));
  await appliedAt(revOf(rb.stdout), "the rollback on robot-1");
  assert.equal(effective()?.nav?.hz, 20);

  // A file pushed to the group lands under config/files/.
  const local = join(work, "params.yaml");
  writeFileSync(local, "pid:\n  p: 1.5\n");
  const pf = await run(["config", "push-file", "--group", "site-tokyo", "nav/params.yaml", "--from", local]);
  assert.match(pf.stderr, /uploading .*params\.yaml \(14 B\) as nav\/params\.yaml/);
  const onDevice = join(agent.dataDir, "config", "files", "nav", "params.yaml");
  await waitFor(
    () => existsSync(onDevice) && readFileSync(onDevice, "utf8") === "pid:\n  p: 1.5\n",
    "nav/params.yaml on robot-1",
  );
  const sh = await run(["config", "show", "--group", "site-tokyo"]);
  assert.match(sh.stdout, /nav\/params\.yaml +14 B +yaml/);

  // A canary rollout: listed, followed, aborted (the layer goes back for every device).
  const c = await run([
    "config",
    "set",
    "--group",
    "site-tokyo",
    "nav.hz=30",
    "--canary",
    "1",
    "--max-failures",
    "0",
  ]);
  const id = /rollout (rol_[a-z0-9]{20}):/.exec(c.stdout)?.[1];
  assert.ok(id, c.stdout);
  const canaryRev = revOf(c.stdout);
  await appliedAt(canaryRev, "the canary robot-1 applied the change");
  assert.equal(effective()?.nav?.hz, 30);
  const [rl, rs] = await Promise.all([
    run(["config", "rollout", "list"]),
    run(["config", "rollout", "status", id]),
  ]);
  assert.match(rl.stdout, new RegExp(`${id} +group site-tokyo `));
  assert.match(rs.stdout, /progress: +1 of 2 released/);
  assert.match(rs.stdout, /robot-1 +canary /);
  const conflict = await run(["config", "set", "--group", "site-tokyo", "nav.hz=31"], 1);
  assert.match(conflict.stderr, /rollout/);
  const ab = await run(["config", "rollout", "abort", id]);
  assert.match(ab.stdout, new RegExp(`^aborted rollout ${id} of group site-tokyo: now aborted`));
  await appliedAt(canaryRev + 1, "robot-1 back after the abort");
  assert.equal(effective()?.nav?.hz, 20);
  const all = JSON.parse((await run(["config", "rollout", "list", "--all", "--json"])).stdout);
  assert.equal(all.find((r: { id: string }) => r.id === id)?.state, "aborted");

  // Removing keys and the group: the device falls back to the defaults.
  await run(["config", "unset", "--device", "robot-1", "api.token"]);
  await run(["config", "groups", "delete", "site-tokyo"]);
  await waitFor(() => {
    const e = effective();
    return e && !e.api && e.nav?.hz === 10 ? e : undefined;
  }, "robot-1 on the defaults only");
  const gone = await run(["config", "history", "--group", "nope-group"], 4);
  assert.match(gone.stderr, /nope-group/);
});
