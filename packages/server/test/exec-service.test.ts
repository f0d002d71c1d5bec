// @matrix: once
// The exec capability (docs/protocol.md §13) in-process over a real SQLite store, driven
// through its module interface (handlers, delivered callbacks, API) with a fake ControlLink
// that records what would go to the devices.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import type { UpBody } from "@tether/protocol";
import { pino } from "pino";
import type { Principal } from "../src/accounts.js";
import { Audit } from "../src/audit.js";
import { exec as execModule } from "../src/capabilities/exec/index.js";
import type { ServerConfig } from "../src/config.js";
import { type DeviceRow, Devices } from "../src/devices.js";
import { openServerStore } from "../src/create-server.js";
import { nowIso } from "../src/store/db.js";
import { FakeLink } from "./fake-link.js";
import { insertDevice } from "./support.js";

const root = mkdtempSync(join(tmpdir(), "tether-exec-"));
after(() => rmSync(root, { recursive: true, force: true }));
const log = pino({ level: "silent" });

let n = 0;
async function setup(online: string[] = [], execConfig: ServerConfig["exec"] = {}) {
  const dir = join(root, `s${n++}`);
  const store = await openServerStore(`sqlite:${join(dir, "tether.db")}`);
  const db = store.db;
  const { id: projectId } = await db
    .insertInto("projects")
    .values({ name: "p", created_at: nowIso() })
    .returning("id")
    .executeTakeFirstOrThrow();
  const link = new FakeLink(db, online);
  const { sent, connected, outbox } = link;
  const devices = new Devices(db);
  const cap = execModule.create({
    db,
    dialect: store.dialect,
    devices,
    accounts: undefined as never,
    audit: new Audit(db),
    link,
    broker: { applySecret: async () => {} },
    log,
    dataDir: dir,
    config: { exec: { deliverMs: 60_000, ...execConfig } } as ServerConfig,
  });
  const { api } = cap.api;
  // The names the tests use, mapped onto the module's parts.
  const exec = {
    create: api.create.bind(api),
    get: api.get.bind(api),
    readOutput: api.readOutput.bind(api),
    cancel: api.cancel.bind(api),
    setExecUsers: api.setExecUsers.bind(api),
    sweep: cap.api.sweep,
    pump: (id: string) => cap.api.pump(id),
    onStarted: (d: DeviceRow, b: UpBody<"exec.started">) => cap.up["exec.started"]({ device: d }, b),
    onOutput: (d: DeviceRow, b: UpBody<"exec.output">) => cap.up["exec.output"]({ device: d }, b),
    onResult: (trx: typeof db, d: DeviceRow, b: UpBody<"exec.result">, after: (fn: () => void) => void) =>
      cap.up["exec.result"]({ device: d, trx, after }, b),
    onDelivered: (d: DeviceRow, body: { cmd: string }) => cap.delivered!["exec.start"]!(d, body as never, 0),
    close: () => cap.close!(),
  };
  const p: Principal = { userId: 1, username: "op", projectId, project: "p", role: "admin", via: "token" };
  const add = async (id: string) => {
    await insertDevice(db, projectId, id);
    return (await devices.get(id))!;
  };
  const result = (cmd: string, over: Partial<UpBody<"exec.result">> = {}): UpBody<"exec.result"> => ({
    cmd,
    status: "exited",
    code: 0,
    signal: null,
    error: null,
    durationMs: 5,
    o: { kept: 0, total: 0 },
    e: { kept: 0, total: 0 },
    ...over,
  });
  const report = async (d: DeviceRow, b: UpBody<"exec.result">) => {
    const afters: (() => void)[] = [];
    await exec.onResult(db, d, b, (fn) => afters.push(fn));
    for (const f of afters) f();
  };
  return { store, db, exec, p, add, sent, connected, report, result, outbox };
}

test("a device cannot report, start or write output for another device's command", async () => {
  const s = await setup(["dev-a", "dev-b"]);
  try {
    const a = await s.add("dev-a");
    const b = await s.add("dev-b");
    const c = await s.exec.create(s.p, { argv: ["true"], devices: ["dev-a"] });
    await s.report(b, s.result(c.id, { code: 0 }));
    await s.exec.onStarted(b, { cmd: c.id, pid: 1 });
    await s.exec.onOutput(b, { cmd: c.id, s: "o", off: 0, d: Buffer.from("forged").toString("base64") });
    const got = await s.exec.get(s.p, c.id, { output: true });
    assert.equal(got.runs?.length, 1);
    assert.equal(got.runs?.[0].status, "sent", "dev-a's run is untouched");
    assert.equal(got.runs?.[0].stdout, "");
    // dev-b's forged bytes were acknowledged (so a confused agent can finish) but not stored.
    assert.ok(s.sent.some((m) => m.device === b.id && m.t === "exec.ack"));
    await s.report(a, s.result(c.id, { code: 3 }));
    assert.equal((await s.exec.get(s.p, c.id)).runs?.[0].status, "failed");
  } finally {
    await s.exec.close();
    await s.store.close();
  }
});

test("output: appended only at the stored offset; duplicates dropped, a gap asks for a resend, the limit holds", async () => {
  const s = await setup(["dev-a"]);
  try {
    const a = await s.add("dev-a");
    const c = await s.exec.create(s.p, { argv: ["x"], devices: ["dev-a"], outputLimit: 10 });
    const out = (off: number, text: string) =>
      s.exec.onOutput(a, { cmd: c.id, s: "o", off, d: Buffer.from(text).toString("base64") });
    await out(0, "abcd");
    await out(0, "abcd"); // re-sent after a reconnect
    await out(2, "cdef"); // overlapping
    await out(9, "zz"); // a chunk went missing (6..9)
    const acks = s.sent.filter((m) => m.t === "exec.ack").map((m) => m.b);
    assert.deepEqual(
      acks.map((x) => [x.o, !!x.resend]),
      [
        [4, false],
        [4, false],
        [6, false],
        [6, true],
      ],
    );
    await out(6, "ghijklmnop"); // more than the limit of 10
    const got = await s.exec.get(s.p, c.id, { output: true });
    assert.equal(got.runs?.[0].stdout, "abcdefghij", "in order, once, capped at the limit");
  } finally {
    await s.exec.close();
    await s.store.close();
  }
});

test("stored output is answered a page per stream within a budget per answer; the rest page by page", async () => {
  const s = await setup(["dev-a", "dev-b"], { outputPageBytes: 8, outputResponseBytes: 14 });
  try {
    const a = await s.add("dev-a");
    const b = await s.add("dev-b");
    const c = await s.exec.create(s.p, { argv: ["x"], devices: ["dev-a", "dev-b"] });
    const out = (d: DeviceRow, st: "o" | "e", text: string) =>
      s.exec.onOutput(d, { cmd: c.id, s: st, off: 0, d: Buffer.from(text).toString("base64") });
    await out(a, "o", "0123456789");
    await out(a, "e", "aaaaaé"); // 7 bytes: "é" is bytes 5-6
    await out(b, "o", "xy");
    const got = await s.exec.get(s.p, c.id, { output: true });
    const [ra, rb] = got.runs!;
    assert.equal(ra.stdout, "01234567");
    assert.equal(ra.stdoutNext, 8);
    // 6 bytes of the budget left would split the "é": the page stops before it.
    assert.equal(ra.stderr, "aaaaa");
    assert.equal(ra.stderrEncoding, "utf8");
    assert.equal(ra.stderrNext, 5);
    assert.equal(rb.stdout, "x", "what is left of the answer's budget");
    assert.equal(rb.stdoutNext, 1);
    assert.equal(rb.stderr, "");
    assert.equal(rb.stderrNext, undefined, "nothing stored, nothing more");
    const page = await s.exec.readOutput(s.p, c.id, { device: "dev-a", stream: "stdout", offset: 8 });
    assert.deepEqual(
      { ...page, data: Buffer.from(page.data, "base64").toString() },
      { deviceId: "dev-a", stream: "stdout", offset: 8, data: "89", size: 10, next: null },
    );
    const first = await s.exec.readOutput(s.p, c.id, { device: "dev-a", stream: "stdout", limit: 100 });
    assert.equal(first.next, 8, "at most a page");
    await assert.rejects(
      s.exec.readOutput(s.p, c.id, { device: "../dev-a", stream: "stdout" }),
      /TETHER_ERR_DEVICE_NOT_FOUND|did not run/,
    );
  } finally {
    await s.exec.close();
    await s.store.close();
  }
});

test("output carried inside the result is stored once, after what the chunks delivered", async () => {
  const s = await setup(["dev-a"]);
  try {
    const a = await s.add("dev-a");
    const c = await s.exec.create(s.p, { argv: ["x"], devices: ["dev-a"] });
    const b64 = (t: string) => Buffer.from(t).toString("base64");
    await s.exec.onOutput(a, { cmd: c.id, s: "o", off: 0, d: b64("hello ") });
    // The agent had no ack for "hello " yet, so the result repeats it from offset 0.
    await s.report(
      a,
      s.result(c.id, {
        o: { kept: 12, total: 12 },
        e: { kept: 3, total: 3 },
        ot: { off: 0, d: b64("hello world\n") },
        et: { off: 0, d: b64("err") },
      }),
    );
    const got = await s.exec.get(s.p, c.id, { output: true });
    assert.equal(got.runs?.[0].status, "succeeded");
    assert.equal(got.runs?.[0].stdout, "hello world\n");
    assert.equal(got.runs?.[0].stderr, "err");
    assert.equal(got.runs?.[0].stdoutBytes, 12);
  } finally {
    await s.exec.close();
    await s.store.close();
  }
});

test("an undelivered start expires; a delivered one is never reported as not run", async () => {
  const s = await setup([]);
  try {
    const a = await s.add("dev-a");
    const b = await s.add("dev-b");
    const c = await s.exec.create(s.p, { argv: ["true"], devices: ["dev-a", "dev-b"], queueTtlMs: 1 });
    assert.deepEqual(
      c.runs?.map((r) => r.status),
      ["queued", "queued"],
    );
    // dev-b acknowledged its start just before the deadline: the outbox no longer holds it.
    const pending = await s.outbox.pending(b.id);
    await s.outbox.acknowledge(b.id, [pending[0].mid]);
    await new Promise((r) => setTimeout(r, 5)); // let the 1 ms TTL pass (a deadline, not an event)
    await s.exec.sweep();
    const got = await s.exec.get(s.p, c.id);
    assert.equal(got.runs?.find((r) => r.deviceId === a.id)?.status, "expired");
    assert.equal(
      got.runs?.find((r) => r.deviceId === b.id)?.status,
      "queued",
      "not expired: it was delivered",
    );
    assert.deepEqual(await s.outbox.pending(a.id), [], "the expired start is gone from the outbox");
  } finally {
    await s.exec.close();
    await s.store.close();
  }
});

test("concurrency and --max-failures: one at a time, then the rest are skipped", async () => {
  const s = await setup(["d1", "d2", "d3"]);
  try {
    const ds = [await s.add("d1"), await s.add("d2"), await s.add("d3")];
    const c = await s.exec.create(s.p, {
      argv: ["false"],
      devices: ["d1", "d2", "d3"],
      concurrency: 1,
      maxFailures: 2,
    });
    const statuses = async () => (await s.exec.get(s.p, c.id)).runs!.map((r) => r.status);
    assert.deepEqual(await statuses(), ["sent", "pending", "pending"]);
    await s.report(ds[0], s.result(c.id, { code: 1 }));
    await s.exec.pump(c.id);
    assert.deepEqual(await statuses(), ["failed", "sent", "pending"]);
    await s.report(ds[1], s.result(c.id, { status: "timed_out", code: null, signal: "SIGTERM" }));
    await s.exec.pump(c.id);
    assert.deepEqual(await statuses(), ["failed", "timed_out", "skipped"]);
    const done = await s.exec.get(s.p, c.id);
    assert.equal(done.state, "done");
    assert.ok(done.finishedAt);
    assert.equal(s.sent.filter((m) => m.t === "exec.start").length, 2, "the third never received a start");
  } finally {
    await s.exec.close();
    await s.store.close();
  }
});

test("cancel drops queued starts from the outbox and sends a durable cancel to running ones", async () => {
  const s = await setup(["on"]);
  try {
    const on = await s.add("on");
    const off = await s.add("off");
    const c = await s.exec.create(s.p, {
      argv: ["sleep", "9"],
      devices: ["on", "off"],
      queueTtlMs: 3_600_000,
    });
    await s.exec.onStarted(on, { cmd: c.id, pid: 42 });
    const got = await s.exec.cancel(s.p, c.id);
    assert.equal(got.state, "cancelled");
    assert.equal(got.runs?.find((r) => r.deviceId === off.id)?.status, "cancelled");
    assert.deepEqual(await s.outbox.pending(off.id), []);
    assert.equal(got.runs?.find((r) => r.deviceId === on.id)?.status, "running", "until the device reports");
    assert.ok(s.sent.some((m) => m.device === on.id && m.t === "exec.cancel"));
    await s.report(on, s.result(c.id, { status: "cancelled", code: null, signal: "SIGTERM" }));
    await s.exec.pump(c.id);
    const final = await s.exec.get(s.p, c.id);
    assert.equal(final.runs?.find((r) => r.deviceId === on.id)?.status, "cancelled");
    assert.ok(final.finishedAt);
  } finally {
    await s.exec.close();
    await s.store.close();
  }
});

test("bad requests: empty command, two ways of naming devices, nothing matching, --user not allowed", async () => {
  const s = await setup([]);
  try {
    await s.add("dev-a");
    const code = async (body: any) => {
      try {
        await s.exec.create(s.p, body);
        return "created";
      } catch (err: any) {
        return err.code;
      }
    };
    assert.equal(await code({ argv: [""], devices: ["dev-a"] }), "TETHER_ERR_BAD_REQUEST");
    assert.equal(await code({ argv: ["  "], shell: true, devices: ["dev-a"] }), "TETHER_ERR_BAD_REQUEST");
    assert.equal(await code({ argv: ["true"], devices: ["dev-a"], all: true }), "TETHER_ERR_BAD_REQUEST");
    assert.equal(await code({ argv: ["true"], selector: "site=nowhere" }), "TETHER_ERR_NO_DEVICES_MATCH");
    assert.equal(await code({ argv: ["true"], devices: ["ghost"] }), "TETHER_ERR_DEVICE_NOT_FOUND");
    assert.equal(
      await code({ argv: ["true"], devices: ["dev-a"], user: "root" }),
      "TETHER_ERR_EXEC_USER_NOT_ALLOWED",
    );
    await s.exec.setExecUsers(s.p, ["root"]);
    assert.equal(
      await code({ argv: ["true"], devices: ["dev-a"], user: "root", queueTtlMs: 1000 }),
      "created",
    );
    const operator = { ...s.p, role: "operator" as const };
    assert.equal(await code({ argv: ["true"], all: true }), "created", "admin may use all");
    await assert.rejects(s.exec.create(operator, { argv: ["true"], all: true }), {
      code: "TETHER_ERR_FORBIDDEN",
    });
    await assert.rejects(s.exec.create({ ...s.p, role: "viewer" }, { argv: ["true"], devices: ["dev-a"] }), {
      code: "TETHER_ERR_FORBIDDEN",
    });
  } finally {
    await s.exec.close();
    await s.store.close();
  }
});
