// @matrix: once
// Presence (docs/protocol.md §9) over a real SQLite store.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { pino } from "pino";
import { Presence, type PresenceEvent } from "../src/control/presence.js";
import { openServerStore } from "../src/create-server.js";
import { nowIso, type Store } from "../src/store/db.js";
import { insertDevice } from "./support.js";

const root = mkdtempSync(join(tmpdir(), "tether-presence-"));
after(() => rmSync(root, { recursive: true, force: true }));
const log = pino({ level: "silent" });

let n = 0;
async function setup(opts: { debounceMs?: number; lastSeenFlushMs?: number } = {}) {
  const store = await openServerStore(`sqlite:${join(root, `db${n++}`, "tether.db")}`);
  const { id: projectId } = await store.db
    .insertInto("projects")
    .values({ name: "p", created_at: nowIso() })
    .returning("id")
    .executeTakeFirstOrThrow();
  const presence = new Presence(store.db, log, {
    debounceMs: opts.debounceMs ?? 30,
    lastSeenFlushMs: opts.lastSeenFlushMs ?? 60_000,
  });
  const events: PresenceEvent[] = [];
  presence.events.on("change", (e: PresenceEvent) => events.push(e));
  return { store, presence, events, projectId };
}

async function addDevice(store: Store, projectId: number, id: string): Promise<void> {
  await insertDevice(store.db, projectId, id);
}

const device = (store: Store, id: string) =>
  store.db.selectFrom("devices").selectAll().where("id", "=", id).executeTakeFirstOrThrow();
const conns = (store: Store, id: string) =>
  store.db.selectFrom("connections").selectAll().where("device_id", "=", id).orderBy("id").execute();

async function teardown(s: { store: Store; presence: Presence }): Promise<void> {
  await s.presence.close();
  await s.store.close();
}

/** Resolve with the next 'change' event that satisfies `pred`, or fail after `ms`. */
function nextChange(p: Presence, pred: (e: PresenceEvent) => boolean, ms = 2000): Promise<PresenceEvent> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      p.events.off("change", on);
      reject(new Error("timed out waiting for a presence change event"));
    }, ms);
    const on = (e: PresenceEvent) => {
      if (!pred(e)) return;
      clearTimeout(timer);
      p.events.off("change", on);
      resolve(e);
    };
    p.events.on("change", on);
  });
}

test("online() opens a connection row and marks the device online", async () => {
  const s = await setup();
  try {
    await addDevice(s.store, s.projectId, "d1");
    await s.presence.online("d1", "c1", JSON.stringify({ arch: "arm64" }));
    const d = await device(s.store, "d1");
    assert.equal(d.online, 1);
    assert.equal(d.conn_id, "c1");
    assert.equal(d.facts, JSON.stringify({ arch: "arm64" }));
    assert.ok(d.last_seen_at);
    assert.equal(s.presence.currentConn("d1"), "c1");
    const rows = await conns(s.store, "d1");
    assert.equal(rows.length, 1);
    assert.equal(rows[0].conn_id, "c1");
    assert.equal(rows[0].disconnected_at, null);
    assert.equal(rows[0].reason, null);
    assert.deepEqual(s.events, [{ deviceId: "d1", online: true }], "online is reported at once");
  } finally {
    await teardown(s);
  }
});

test("online() again with the same connId (key rotation) adds no row and only refreshes facts", async () => {
  const s = await setup();
  try {
    await addDevice(s.store, s.projectId, "d1");
    await s.presence.online("d1", "c1", JSON.stringify({ v: 1 }));
    await s.presence.online("d1", "c1", JSON.stringify({ v: 2 }));
    await s.presence.online("d1", "c1", null);
    const rows = await conns(s.store, "d1");
    assert.equal(rows.length, 1);
    assert.equal(rows[0].disconnected_at, null);
    const d = await device(s.store, "d1");
    assert.equal(d.online, 1);
    assert.equal(d.facts, JSON.stringify({ v: 2 }), "null facts keep the stored ones");
    assert.equal(s.events.length, 1, "no second online event");
  } finally {
    await teardown(s);
  }
});

test("online() with a new connId closes the open row as replaced", async () => {
  const s = await setup();
  try {
    await addDevice(s.store, s.projectId, "d1");
    await s.presence.online("d1", "c1", null);
    await s.presence.online("d1", "c2", null);
    const rows = await conns(s.store, "d1");
    assert.deepEqual(
      rows.map((r) => [r.conn_id, r.reason, r.disconnected_at === null]),
      [
        ["c1", "replaced by a new connection", false],
        ["c2", null, true],
      ],
    );
    assert.equal((await device(s.store, "d1")).conn_id, "c2");
    assert.equal(s.presence.currentConn("d1"), "c2");
  } finally {
    await teardown(s);
  }
});

test("offline() with a stale connId is ignored", async () => {
  const s = await setup();
  try {
    await addDevice(s.store, s.projectId, "d1");
    await s.presence.online("d1", "c1", null);
    await s.presence.online("d1", "c2", null);
    assert.equal(await s.presence.offline("d1", "connection lost", "c1"), false, "a late will from c1");
    assert.equal(await s.presence.offline("d1", "goodbye", "nope"), false);
    const d = await device(s.store, "d1");
    assert.equal(d.online, 1);
    assert.equal(s.presence.currentConn("d1"), "c2");
    const open = (await conns(s.store, "d1")).filter((r) => r.disconnected_at === null);
    assert.deepEqual(
      open.map((r) => r.conn_id),
      ["c2"],
    );
  } finally {
    await teardown(s);
  }
});

test("offline() with a connId for a device that is not online is ignored", async () => {
  const s = await setup();
  try {
    await addDevice(s.store, s.projectId, "d1");
    assert.equal(await s.presence.offline("d1", "connection lost", "c1"), false);
    assert.equal((await conns(s.store, "d1")).length, 0);
  } finally {
    await teardown(s);
  }
});

test("offline() with the current connId closes the row with the reason", async () => {
  const s = await setup();
  try {
    await addDevice(s.store, s.projectId, "d1");
    await s.presence.online("d1", "c1", null);
    assert.equal(await s.presence.offline("d1", "goodbye", "c1"), true);
    const d = await device(s.store, "d1");
    assert.equal(d.online, 0);
    assert.ok(d.last_seen_at);
    assert.equal(s.presence.currentConn("d1"), undefined);
    const rows = await conns(s.store, "d1");
    assert.equal(rows.length, 1);
    assert.equal(rows[0].reason, "goodbye");
    assert.ok(rows[0].disconnected_at);
    assert.ok(rows[0].disconnected_at >= rows[0].connected_at);
  } finally {
    await teardown(s);
  }
});

test("offline() without a connId (socket closed, revoked) always applies", async () => {
  const s = await setup();
  try {
    await addDevice(s.store, s.projectId, "d1");
    await s.presence.online("d1", "c1", null);
    assert.equal(await s.presence.offline("d1", "socket closed"), true);
    assert.equal((await device(s.store, "d1")).online, 0);
    assert.equal((await conns(s.store, "d1"))[0].reason, "socket closed");
  } finally {
    await teardown(s);
  }
});

test("an offline event is emitted after the debounce when the device stays offline", async () => {
  const s = await setup({ debounceMs: 30 });
  try {
    await addDevice(s.store, s.projectId, "d1");
    await s.presence.online("d1", "c1", null);
    const t0 = Date.now();
    const off = nextChange(s.presence, (e) => !e.online);
    await s.presence.offline("d1", "goodbye", "c1");
    assert.equal((await device(s.store, "d1")).online, 0, "stored state changes at once");
    assert.deepEqual(s.events, [{ deviceId: "d1", online: true }], "the event waits for the debounce");
    assert.deepEqual(await off, { deviceId: "d1", online: false });
    assert.ok(Date.now() - t0 >= 25, "not before the debounce interval");
    assert.deepEqual(s.events, [
      { deviceId: "d1", online: true },
      { deviceId: "d1", online: false },
    ]);
  } finally {
    await teardown(s);
  }
});

test("a quick online→offline→online flap emits no offline event", async () => {
  const s = await setup({ debounceMs: 30 });
  try {
    await addDevice(s.store, s.projectId, "d1");
    await s.presence.online("d1", "c1", null);
    await s.presence.offline("d1", "connection lost", "c1");
    await s.presence.online("d1", "c2", null); // back within 30 ms
    assert.equal((await device(s.store, "d1")).online, 1);
    // A later, real offline: once its debounced event arrives, any event from the flap would have too.
    const off = nextChange(s.presence, (e) => !e.online);
    await s.presence.offline("d1", "goodbye", "c2");
    await off;
    assert.deepEqual(s.events, [
      { deviceId: "d1", online: true },
      { deviceId: "d1", online: false },
    ]);
    const rows = await conns(s.store, "d1");
    assert.deepEqual(
      rows.map((r) => [r.conn_id, r.reason]),
      [
        ["c1", "connection lost"],
        ["c2", "goodbye"],
      ],
    );
  } finally {
    await teardown(s);
  }
});

test("events are per device", async () => {
  const s = await setup({ debounceMs: 30 });
  try {
    await addDevice(s.store, s.projectId, "d1");
    await addDevice(s.store, s.projectId, "d2");
    await s.presence.online("d1", "a", null);
    await s.presence.online("d2", "b", null);
    const off = nextChange(s.presence, (e) => !e.online && e.deviceId === "d1");
    await s.presence.offline("d1", "goodbye", "a");
    await s.presence.online("d2", "b", null); // d2's rotation must not cancel d1's event
    await off;
    assert.deepEqual(s.events, [
      { deviceId: "d1", online: true },
      { deviceId: "d2", online: true },
      { deviceId: "d1", online: false },
    ]);
  } finally {
    await teardown(s);
  }
});

test("flushLastSeen writes the in-memory last-seen times", async () => {
  const s = await setup();
  try {
    await addDevice(s.store, s.projectId, "d1");
    await addDevice(s.store, s.projectId, "d2");
    await s.presence.flushLastSeen(); // nothing to do
    assert.equal((await device(s.store, "d1")).last_seen_at, null);
    s.presence.touch("d1");
    const at = s.presence.seenAt("d1");
    assert.ok(at);
    assert.equal((await device(s.store, "d1")).last_seen_at, null, "touch only updates memory");
    await s.presence.flushLastSeen();
    assert.equal((await device(s.store, "d1")).last_seen_at, at);
    assert.equal((await device(s.store, "d2")).last_seen_at, null, "untouched devices are left alone");
    assert.equal(s.presence.seenAt("d2"), undefined);
  } finally {
    await teardown(s);
  }
});

test("the periodic flush writes last-seen without being asked", async () => {
  const s = await setup({ lastSeenFlushMs: 20 });
  try {
    await addDevice(s.store, s.projectId, "d1");
    s.presence.touch("d1");
    const at = s.presence.seenAt("d1");
    const deadline = Date.now() + 2000;
    while ((await device(s.store, "d1")).last_seen_at !== at) {
      assert.ok(Date.now() < deadline, "last_seen_at was never flushed");
      await new Promise((r) => setTimeout(r, 10));
    }
  } finally {
    await teardown(s);
  }
});

test("close() flushes pending last-seen times", async () => {
  const s = await setup();
  await addDevice(s.store, s.projectId, "d1");
  s.presence.touch("d1");
  const at = s.presence.seenAt("d1");
  await s.presence.close();
  try {
    assert.equal((await device(s.store, "d1")).last_seen_at, at);
  } finally {
    await s.store.close();
  }
});

test("resetAll marks every device offline and closes open rows", async () => {
  const s = await setup();
  try {
    for (const id of ["d1", "d2", "d3"]) await addDevice(s.store, s.projectId, id);
    await s.presence.online("d1", "c1", null);
    await s.presence.online("d2", "c2", null);
    await s.presence.offline("d2", "goodbye", "c2");
    await s.presence.online("d2", "c3", null);
    await s.presence.resetAll("server restarted");
    for (const id of ["d1", "d2", "d3"]) assert.equal((await device(s.store, id)).online, 0, id);
    const all = await s.store.db.selectFrom("connections").selectAll().orderBy("id").execute();
    assert.deepEqual(
      all.map((r) => [r.device_id, r.conn_id, r.reason, r.disconnected_at !== null]),
      [
        ["d1", "c1", "server restarted", true],
        ["d2", "c2", "goodbye", true],
        ["d2", "c3", "server restarted", true],
      ],
    );
  } finally {
    await teardown(s);
  }
});

test("replacing the connection of an online device emits no second online event", async () => {
  const s = await setup({ debounceMs: 10 });
  try {
    for (const id of ["d1", "d2"]) await addDevice(s.store, s.projectId, id);
    await s.presence.online("d1", "c1", null);
    await s.presence.online("d1", "c2", null); // reconnect before the old close arrived
    // A later event on another device proves the replacement's event would have come first.
    await s.presence.online("d2", "x1", null);
    assert.deepEqual(s.events, [
      { deviceId: "d1", online: true },
      { deviceId: "d2", online: true },
    ]);
  } finally {
    await teardown(s);
  }
});

test("offline() on a device that is already offline emits no second offline event", async () => {
  const s = await setup({ debounceMs: 10 });
  try {
    for (const id of ["d1", "d2"]) await addDevice(s.store, s.projectId, id);
    await s.presence.online("d1", "c1", null);
    await s.presence.offline("d1", "socket closed");
    await nextChange(s.presence, (e) => e.deviceId === "d1" && !e.online);
    await s.presence.offline("d1", "revoked"); // e.g. revocation after the socket closed
    await s.presence.online("d2", "x1", null);
    await s.presence.offline("d2", "socket closed");
    await nextChange(s.presence, (e) => e.deviceId === "d2" && !e.online);
    assert.deepEqual(s.events, [
      { deviceId: "d1", online: true },
      { deviceId: "d1", online: false },
      { deviceId: "d2", online: true },
      { deviceId: "d2", online: false },
    ]);
  } finally {
    await teardown(s);
  }
});
