// @matrix: once
// The ping and credential capabilities in-process, through their module interfaces, with a
// fake ControlLink and a real SQLite store (docs/architecture.md §7).
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { TetherError } from "@tether/protocol";
import { pino } from "pino";
import { Audit } from "../src/audit.js";
import { credential } from "../src/capabilities/credential/index.js";
import { ping } from "../src/capabilities/ping/index.js";
import type { CapabilityContext } from "../src/capability.js";
import type { ServerConfig } from "../src/config.js";
import { openServerStore } from "../src/create-server.js";
import { Devices } from "../src/devices.js";
import { digestEquals } from "../src/security/secrets.js";
import { nowIso } from "../src/store/db.js";
import { FakeLink } from "./fake-link.js";
import { insertDevice } from "./support.js";

const root = mkdtempSync(join(tmpdir(), "tether-caps-"));
after(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
async function setup(online: string[]) {
  const dir = join(root, `s${n++}`);
  const store = await openServerStore(`sqlite:${join(dir, "tether.db")}`);
  const { id: projectId } = await store.db
    .insertInto("projects")
    .values({ name: "p", created_at: nowIso() })
    .returning("id")
    .executeTakeFirstOrThrow();
  const link = new FakeLink(store.db, online);
  const applied: { device: string; password: string }[] = [];
  const devices = new Devices(store.db);
  const ctx: CapabilityContext = {
    db: store.db,
    dialect: store.dialect,
    devices,
    accounts: undefined as never,
    audit: new Audit(store.db),
    link,
    broker: { applySecret: async (d, password) => void applied.push({ device: d.id, password }) },
    log: pino({ level: "silent" }),
    dataDir: dir,
    config: {} as ServerConfig,
  };
  for (const id of ["dev-a", "dev-b"]) await insertDevice(store.db, projectId, id);
  return {
    store,
    link,
    ctx,
    devices,
    applied,
    projectId,
    get: async (id: string) => (await devices.get(id))!,
  };
}

test("ping: the pong with the same ref resolves it; a pong from another device does not", async () => {
  const s = await setup(["dev-a"]);
  try {
    const cap = ping.create(s.ctx);
    const a = await s.get("dev-a");
    const b = await s.get("dev-b");
    const rtt = cap.api.ping(a, 5000);
    const sent = s.link.sent.find((m) => m.t === "ping")!;
    assert.equal(sent.device, a.id);
    cap.up.pong({ device: b }, { ref: sent.b.ref }); // another device's answer is not ours
    cap.up.pong({ device: a }, { ref: sent.b.ref });
    assert.ok((await rtt) >= 0);
    await assert.rejects(
      cap.api.ping(a, 20),
      (e: unknown) => e instanceof TetherError && e.code === "TETHER_ERR_DEVICE_TIMEOUT",
    );
    await cap.close!();
  } finally {
    await s.store.close();
  }
});

test("echo: queued durably; the reply is stored inside the batch transaction and wakes the caller after it", async () => {
  const s = await setup([]);
  try {
    const cap = ping.create(s.ctx);
    const a = await s.get("dev-a");
    const got = cap.api.echo(a, "hello", 5000);
    await new Promise((r) => setImmediate(r));
    const [queued] = await s.link.outbox.pending(a.id);
    assert.equal(queued.type, "echo", "stored in the outbox although the device is offline");
    const afters: (() => void)[] = [];
    const ref = (queued.body as { ref: string }).ref;
    await cap.up["echo.reply"](
      { device: a, trx: s.store.db, after: (fn) => afters.push(fn) },
      { ref, data: "hello" },
    );
    const rows = await s.store.db.selectFrom("echo_replies").selectAll().execute();
    assert.deepEqual(
      rows.map((r) => [r.device_id, r.ref, r.data]),
      [[a.id, ref, "hello"]],
    );
    for (const f of afters) f();
    assert.deepEqual(await got, { ref, data: "hello" });
    await cap.close!();
  } finally {
    await s.store.close();
  }
});

test("credential: the broker takes the new secret only on the agent's ack, and only for an accepted device", async () => {
  const s = await setup(["dev-a", "dev-b"]);
  try {
    const cap = credential.create(s.ctx);
    const a = await s.get("dev-a");
    const mid = await cap.api.rotate(a);
    const msg = s.link.sent.find((m) => m.t === "credential.rotate")!;
    assert.equal(msg.mid, mid);
    assert.equal(s.applied.length, 0, "nothing changes before the agent has stored it");
    await cap.delivered!["credential.rotate"]!(a, msg.b, mid);
    assert.deepEqual(s.applied, [{ device: a.id, password: msg.b.password }]);
    assert.ok(digestEquals(msg.b.password, (await s.get("dev-a")).broker_password_hash!));
    const audit = await s.store.db.selectFrom("audit").selectAll().execute();
    assert.deepEqual(
      audit.map((r) => [r.action, r.device_id]),
      [["device.credential-applied", a.id]],
    );
    // A device revoked between the rotation and the ack gets nothing applied.
    const b = await s.get("dev-b");
    await cap.api.rotate(b);
    await s.devices.update(b.id, { state: "revoked" });
    const mb = s.link.sent.filter((m) => m.t === "credential.rotate")[1];
    await cap.delivered!["credential.rotate"]!(b, mb.b, mb.mid!);
    assert.equal(s.applied.length, 1);
  } finally {
    await s.store.close();
  }
});
