// @matrix: once
// The agent's apply engine for remote configuration (docs/protocol.md §18.5), in process with a
// fake link and a fake file fetch: atomic files under <dataDir>/config, never an older revision,
// the apply hook (success, failure, a hang killed), a full disk while staging keeps the old
// configuration, hand edits reported as drift and never read back, a restart keeps what is in
// force (and its tether.* settings, offline), sealed secret files opened, bad content refused.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { configHash, generateX25519, sealForDevice, sha256Hex, type UpBody } from "@tether/protocol";
import pino from "pino";
import type { JournalRecord } from "../src/control/journal-record.js";
import { type ConfigApply, ConfigManager, type ConfigOptions } from "../src/capabilities/config/manager.js";
import { resolveConfigSettings } from "../src/capabilities/config/settings.js";

type Report = UpBody<"config.report">;

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), "tether-config-apply-"));
  dirs.push(d);
  return d;
};

const deviceKey = generateX25519();

interface FileSpec {
  path: string;
  content: string | Buffer;
  inline?: boolean;
  secret?: boolean;
}

/** Blobs the fake server holds, by hash; `sealed` ones are sealed to the device key when fetched. */
class FakeServer {
  blobs = new Map<string, { data: Buffer; sealed: boolean }>();
  fetched: string[] = [];
  /** Serve this content instead of the real one (a corrupted blob). */
  corrupt = new Map<string, Buffer>();

  apply(rev: number, values: Record<string, unknown>, files: FileSpec[] = []): ConfigApply {
    const out: ConfigApply["files"] = files.map((f) => {
      const data = Buffer.from(f.content);
      const hash = sha256Hex(data);
      const secret = !!f.secret;
      if (f.inline && !secret)
        return { path: f.path, hash, size: data.length, secret, d: data.toString("base64") };
      this.blobs.set(hash, { data, sealed: secret });
      return { path: f.path, hash, size: data.length, secret };
    });
    return { rev, hash: configHash(values, out), values, files: out };
  }

  fetch = async (hash: string, dest: string, max: number) => {
    this.fetched.push(hash);
    const b = this.blobs.get(hash);
    if (!b) throw Object.assign(new Error("HTTP 404 (TETHER_ERR_CONFIG_BLOB_NOT_FOUND)"), { status: 404 });
    let data = this.corrupt.get(hash) ?? b.data;
    if (b.sealed) data = sealForDevice(deviceKey.publicKey, data, hash);
    if (data.length > max) throw Object.assign(new Error("too large"), { status: 200 });
    await writeFile(dest, data);
    return { sealed: b.sealed, bytes: data.length };
  };
}

function agent(dataDir: string, server: FakeServer, o: Partial<ConfigOptions> = {}) {
  const reports: Report[] = [];
  const settings: Record<string, unknown>[] = [];
  let mid = 0;
  const take = (recs: JournalRecord[]) => {
    for (const r of recs) if (r.k === "out") reports.push((r as { b: Report }).b);
  };
  const link = {
    outgoing: (t: string, b: unknown) => ({ k: "out" as const, mid: ++mid, t, b }),
    commit: async (recs: JournalRecord[]) => take(recs),
  };
  const m = new ConfigManager(link as never, pino({ level: "silent" }), (s) => settings.push(s), {
    dataDir,
    noiseKey: deviceKey,
    fetchBlob: server.fetch,
    driftIntervalMs: 3_600_000,
    killGraceMs: 200,
    retryDelaysMs: [],
    ...o,
  });
  m.start();
  /** Deliver like the control channel: records with "seen", then `after`, then wait for the work. */
  const deliver = async (b: ConfigApply) => {
    const r = await m.handle(b);
    if (Array.isArray(r)) take(r);
    else if (r) {
      take(r.records);
      r.after?.();
    }
    await m.idle();
    return reports.at(-1) as Report;
  };
  return { m, reports, settings, deliver };
}

const read = (dir: string, p: string) => readFileSync(join(dir, "config", p), "utf8");
const hookSettings = (applyHook: string, hookTimeoutMs = 10_000) => {
  const flags = { applyHook, hookTimeoutMs };
  return { flags, file: {}, resolved: resolveConfigSettings({ flags }), warnings: [] };
};

test("writes effective.json and files atomically, removes files no longer managed, reports applied", async () => {
  const dir = tmp();
  const srv = new FakeServer();
  const a = agent(dir, srv);
  const v1 = { nav: { hz: 20 }, name: "amr" };
  const r1 = await a.deliver(
    srv.apply(1, v1, [
      { path: "nav/params.yaml", content: "speed: 2\n", inline: true },
      { path: "big.bin", content: Buffer.alloc(40_000, 7) },
    ]),
  );
  assert.equal(r1.status, "applied", r1.error ?? "");
  assert.equal(r1.rev, 1);
  assert.equal(read(dir, "effective.json"), `${JSON.stringify(v1, null, 2)}\n`);
  assert.equal(read(dir, "files/nav/params.yaml"), "speed: 2\n");
  assert.equal(readFileSync(join(dir, "config/files/big.bin")).length, 40_000);
  assert.equal(srv.fetched.length, 1, "only the non-inline file is fetched");
  assert.deepEqual(
    readdirSync(join(dir, "config")).filter((f) => f.startsWith(".staging")),
    [],
    "no staging directory left behind",
  );
  const state = JSON.parse(readFileSync(join(dir, "config-state.json"), "utf8"));
  assert.equal(state.rev, 1);
  assert.deepEqual(state.values, v1);

  // rev 2: a value changes, big.bin goes, params stays (not fetched again).
  const r2 = await a.deliver(
    srv.apply(2, { nav: { hz: 30 } }, [{ path: "nav/params.yaml", content: "speed: 2\n" }]),
  );
  assert.equal(r2.status, "applied", r2.error ?? "");
  assert.equal(existsSync(join(dir, "config/files/big.bin")), false);
  assert.equal(read(dir, "files/nav/params.yaml"), "speed: 2\n");
  assert.equal(srv.fetched.length, 1, "an unchanged file is neither fetched nor rewritten");
  assert.deepEqual(JSON.parse(read(dir, "effective.json")), { nav: { hz: 30 } });
  a.m.stop();
});

test("never applies an older revision; the same revision again is re-reported", async () => {
  const dir = tmp();
  const srv = new FakeServer();
  const a = agent(dir, srv);
  const five = srv.apply(5, { a: 5 });
  assert.equal((await a.deliver(five)).status, "applied");
  const old = await a.deliver(srv.apply(3, { a: 3 }));
  assert.equal(old.status, "ignored");
  assert.equal(old.rev, 3);
  assert.match(old.error ?? "", /older than revision 5/);
  assert.deepEqual(JSON.parse(read(dir, "effective.json")), { a: 5 });
  const again = await a.deliver(five);
  assert.equal(again.status, "applied");
  assert.equal(again.rev, 5);
  assert.deepEqual(a.m.inForce?.values, { a: 5 });
  a.m.stop();
});

test("the apply hook gets the revision, the directory and the changed keys; its exit is reported", async () => {
  const dir = tmp();
  const srv = new FakeServer();
  const out = join(dir, "hook-out.txt");
  const a = agent(dir, srv, {
    settings: hookSettings(
      `echo "rev=$TETHER_CONFIG_REVISION dir=$TETHER_CONFIG_DIR" > ${out}; cat "$TETHER_CONFIG_CHANGED" >> ${out}; test -f "$TETHER_CONFIG_DIR/effective.json" && echo hook-ok`,
    ),
  });
  await a.deliver(srv.apply(1, { nav: { hz: 1 }, keep: true }));
  const r = await a.deliver(
    srv.apply(2, { nav: { hz: 2 }, keep: true }, [{ path: "a.json", content: "{}", inline: true }]),
  );
  assert.equal(r.status, "applied", r.error ?? "");
  assert.deepEqual(r.hook && { code: r.hook.code, timedOut: r.hook.timedOut, output: r.hook.output }, {
    code: 0,
    timedOut: false,
    output: "hook-ok\n",
  });
  assert.equal(readFileSync(out, "utf8"), `rev=2 dir=${join(dir, "config")}\nnav.hz\nfile:a.json\n`);

  // A failing hook: reported failed with its code and output; the files stay written.
  const b = agent(dir, srv, { settings: hookSettings("echo boom >&2; exit 3") });
  a.m.stop();
  const f = await b.deliver(srv.apply(3, { nav: { hz: 3 } }));
  assert.equal(f.status, "failed");
  assert.equal(f.hook?.code, 3);
  assert.equal(f.hook?.output, "boom\n");
  assert.match(f.error ?? "", /exited with code 3/);
  assert.deepEqual(JSON.parse(read(dir, "effective.json")), { nav: { hz: 3 } });
  assert.equal(b.m.inForce?.rev, 3, "applied-but-failed: the revision is in force");
  b.m.stop();
});

test("a hook that hangs (ignoring SIGTERM) is killed at its timeout and reported", async () => {
  const dir = tmp();
  const srv = new FakeServer();
  const a = agent(dir, srv, { settings: hookSettings(`trap "" TERM; echo started; sleep 30`, 300) });
  const r = await a.deliver(srv.apply(1, { x: 1 }));
  assert.equal(r.status, "failed");
  assert.equal(r.hook?.timedOut, true);
  assert.equal(r.hook?.signal, "SIGKILL");
  assert.equal(r.hook?.output, "started\n");
  assert.match(r.error ?? "", /did not finish within 0\.3 s \(tether\.config\.hookTimeout\) and was killed/);
  // The next revision is applied normally (a remote hookTimeout below 1 s is refused, ours stays).
  a.m.applySettings({ hookTimeout: 0.5 });
  assert.equal(a.m.hookSettings.hookTimeoutMs, 300);
  a.m.stop();
});

test("a full disk while staging leaves the old configuration in force and reports failed", async () => {
  const dir = tmp();
  const srv = new FakeServer();
  let full = false;
  const { nodeConfigFs } = await import("../src/capabilities/config/fs-port.js");
  const a = agent(dir, srv, {
    fs: {
      writeFile: async (p, d) => {
        if (full && p.includes(".staging-") && p.endsWith("params.yaml"))
          throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
        return nodeConfigFs.writeFile(p, d);
      },
    },
  });
  await a.deliver(srv.apply(1, { v: 1 }, [{ path: "params.yaml", content: "a: 1\n", inline: true }]));
  full = true;
  const r = await a.deliver(
    srv.apply(2, { v: 2 }, [{ path: "params.yaml", content: "a: 2\n", inline: true }]),
  );
  assert.equal(r.status, "failed");
  assert.match(r.error ?? "", /ENOSPC.*the previous configuration stays in force/);
  assert.deepEqual(JSON.parse(read(dir, "effective.json")), { v: 1 });
  assert.equal(read(dir, "files/params.yaml"), "a: 1\n");
  assert.equal(a.m.inForce?.rev, 1);
  assert.equal(existsSync(join(dir, "config/.staging-2")), false);
  // Space again: the next delivery applies.
  full = false;
  const ok = await a.deliver(
    srv.apply(3, { v: 3 }, [{ path: "params.yaml", content: "a: 3\n", inline: true }]),
  );
  assert.equal(ok.status, "applied");
  assert.equal(read(dir, "files/params.yaml"), "a: 3\n");
  a.m.stop();
});

test("hand edits are reported as drift, never read back, and rewritten by the same revision", async () => {
  const dir = tmp();
  const srv = new FakeServer();
  const a = agent(dir, srv);
  const one = srv.apply(1, { speed: 1 }, [{ path: "p.txt", content: "x\n", inline: true }]);
  await a.deliver(one);
  const before = a.reports.length;
  await a.m.checkDrift();
  assert.equal(a.reports.length, before, "no drift, no report");
  writeFileSync(join(dir, "config/effective.json"), '{"speed": 99}\n');
  writeFileSync(join(dir, "config/files/p.txt"), "edited\n");
  await a.m.checkDrift();
  const d = a.reports.at(-1) as Report;
  assert.equal(d.status, "drift");
  assert.deepEqual(d.drift, ["effective.json", "files/p.txt"]);
  assert.equal(d.rev, 1);
  await a.m.checkDrift();
  assert.equal(a.reports.length, before + 1, "the same drift is reported once");
  a.m.stop();

  // A restart keeps the configuration from its own state, not from the edited file.
  const b = agent(dir, srv);
  assert.deepEqual(b.m.inForce?.values, { speed: 1 });
  assert.deepEqual(b.settings.at(-1), { metrics: {}, logs: {}, config: {} });
  // The same revision again rewrites what drifted and reports applied.
  const r = await b.deliver(one);
  assert.equal(r.status, "applied");
  assert.deepEqual(JSON.parse(read(dir, "effective.json")), { speed: 1 });
  assert.equal(read(dir, "files/p.txt"), "x\n");
  b.m.stop();
});

test("a restart keeps the applied configuration and re-applies its tether.* settings offline", async () => {
  const dir = tmp();
  const srv = new FakeServer();
  const a = agent(dir, srv);
  const values = {
    tether: { logs: { rate: 5 }, metrics: { interval: 30 }, config: { hookTimeout: 9 } },
    app: 1,
  };
  await a.deliver(srv.apply(7, values));
  assert.deepEqual(a.settings.at(-1), {
    metrics: { interval: 30 },
    logs: { rate: 5 },
    config: { hookTimeout: 9 },
  });
  a.m.stop();
  const b = agent(dir, srv);
  assert.equal(b.m.inForce?.rev, 7);
  assert.deepEqual(b.settings, [
    { metrics: { interval: 30 }, logs: { rate: 5 }, config: { hookTimeout: 9 } },
  ]);
  b.m.stop();
});

test("an apply interrupted by a crash is finished at the next start; an older pending one is superseded", async () => {
  const dir = tmp();
  const srv = new FakeServer();
  const a = agent(dir, srv);
  // Recorded (the handler ran and "seen" was written) but the agent died before the work.
  const r = await a.m.handle(srv.apply(4, { n: 4 }));
  assert.ok(r && !Array.isArray(r) && r.records.length === 0);
  const r2 = await a.m.handle(srv.apply(6, { n: 6 }));
  assert.ok(r2 && !Array.isArray(r2));
  const superseded = (r2.records[0] as { b: Report }).b;
  assert.equal(superseded.status, "ignored");
  assert.equal(superseded.rev, 4);
  a.m.stop();
  const b = agent(dir, srv);
  await b.m.idle();
  const rep = b.reports.at(-1) as Report;
  assert.equal(rep.status, "applied");
  assert.equal(rep.rev, 6);
  assert.deepEqual(JSON.parse(read(dir, "effective.json")), { n: 6 });
  assert.equal(existsSync(join(dir, "config-pending.json")), false);
  b.m.stop();
});

test("a sealed secret file is opened with the device key; bad content is refused", async () => {
  const dir = tmp();
  const srv = new FakeServer();
  const a = agent(dir, srv);
  const ok = await a.deliver(
    srv.apply(1, {}, [{ path: "certs/key.pem", content: "SECRET KEY\n", secret: true }]),
  );
  assert.equal(ok.status, "applied", ok.error ?? "");
  assert.equal(read(dir, "files/certs/key.pem"), "SECRET KEY\n");

  // Served content that does not hash to the entry's hash: refused, the old file stays.
  const two = srv.apply(2, {}, [{ path: "certs/key.pem", content: "NEW KEY\n", secret: true }]);
  srv.corrupt.set(two.files[0]!.hash, Buffer.from("BAD KEY\n"));
  const bad = await a.deliver(two);
  assert.equal(bad.status, "failed");
  assert.match(bad.error ?? "", /certs\/key\.pem: content hash [0-9a-f]{64} does not match/);
  assert.equal(read(dir, "files/certs/key.pem"), "SECRET KEY\n");

  // A plain (unsealed) file with the wrong content is refused the same way.
  const three = srv.apply(3, {}, [{ path: "plain.bin", content: Buffer.alloc(20_000, 1) }]);
  srv.corrupt.set(three.files[0]!.hash, Buffer.alloc(20_000, 2));
  const bad3 = await a.deliver(three);
  assert.equal(bad3.status, "failed");
  assert.match(bad3.error ?? "", /plain\.bin: content hash [0-9a-f]{64} does not match/);
  assert.equal(a.m.inForce?.rev, 1);

  // A device without the right key cannot open it.
  const other = agent(tmp(), srv, { noiseKey: generateX25519() });
  const no = await other.deliver(srv.apply(4, {}, [{ path: "k", content: "S\n", secret: true }]));
  assert.equal(no.status, "failed");
  assert.match(no.error ?? "", /cannot open the sealed content/);
  other.m.stop();
  a.m.stop();
});
