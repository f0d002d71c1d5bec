// @matrix: store
// The tunnel layer's session history and settings (docs/protocol.md §17.7) on the real store
// (SQLite, or PostgreSQL in its pass): a session row from open to end, byte counts past 2^31,
// a second end changing nothing, paging newest first, the device filter by id or name,
// project isolation, orphans a killed server left, and per-project settings with defaults.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { DEFAULT_FORWARD_ALLOW, TetherError } from "@tether/protocol";
import { cleanupTempDirs, databaseFor, tempDir } from "../../../tests/e2e/harness.js";
import { openServerStore } from "../src/create-server.js";
import type { Store } from "../src/store/db.js";
import { type SessionRecord, SessionStore } from "../src/tunnels/session-store.js";

let store: Store;
let sessions: SessionStore;
let p1: number;
let p2: number;
const T0 = Date.parse("2025-03-01T10:00:00.000Z");
const liveNone = () => false;

const id = (n: number) => `ses_${String(n).padStart(20, "0")}`;
const rec = (n: number, o: Partial<SessionRecord> = {}): SessionRecord => ({
  id: id(n),
  projectId: p1,
  deviceId: "d1-0001",
  deviceName: "robot-1",
  userId: 1,
  username: "admin",
  kind: "shell",
  via: "console",
  target: "login shell",
  runAs: null,
  recorded: false,
  startedAt: new Date(T0 + n * 1000),
  ...o,
});

before(async () => {
  const dir = tempDir("tether-tunnel-store-");
  store = await openServerStore((await databaseFor(dir)) ?? `sqlite:${join(dir, "tether.db")}`);
  const mk = async (name: string) =>
    (
      await store.db
        .insertInto("projects")
        .values({ name, created_at: new Date(T0).toISOString() })
        .returning("id")
        .executeTakeFirstOrThrow()
    ).id;
  p1 = await mk("tunnels-a");
  p2 = await mk("tunnels-b");
  sessions = new SessionStore(store.db, store.dialect);
});
after(async () => {
  await store?.close();
  await cleanupTempDirs();
});

test("a session row from open to end: live while open, then how it ended, how long, bytes past 2^31", async () => {
  await sessions.insert(rec(1, { runAs: "robot", recorded: true, via: "cli", target: "journalctl -f" }));
  const open = await sessions.get(p1, id(1), (s) => s === id(1));
  assert.deepEqual(open, {
    id: id(1),
    device: { id: "d1-0001", name: "robot-1" },
    user: "admin",
    kind: "shell",
    via: "cli",
    target: "journalctl -f",
    runAs: "robot",
    startedAt: new Date(T0 + 1000).toISOString(),
    endedAt: null,
    durationMs: null,
    endReason: null,
    exitCode: null,
    bytesIn: 0,
    bytesOut: 0,
    recorded: true,
    live: true,
  });
  const big = 5 * 2 ** 31 + 7;
  await sessions.end(id(1), {
    endedAt: new Date(T0 + 1000 + 95_500),
    endReason: "exited",
    exitCode: 3,
    bytesIn: 120,
    bytesOut: big,
  });
  // A second closer (device gone racing the exit) changes nothing.
  await sessions.end(id(1), {
    endedAt: new Date(T0 + 999_999),
    endReason: "device-gone",
    exitCode: null,
    bytesIn: 0,
    bytesOut: 0,
  });
  const ended = await sessions.get(p1, id(1), () => true);
  assert.ok(ended);
  assert.equal(ended.endReason, "exited");
  assert.equal(ended.exitCode, 3);
  assert.equal(ended.durationMs, 95_500);
  assert.equal(ended.endedAt, new Date(T0 + 96_500).toISOString());
  assert.equal(ended.bytesIn, 120);
  assert.equal(ended.bytesOut, big);
  assert.equal(ended.live, false, "an ended row is never live, whatever the layer says");
  assert.equal(
    await sessions.get(p2, id(1), () => true),
    undefined,
    "another project's session is not found",
  );
});

test("the list: newest first, paged by a session id, filtered by device id or name, other projects invisible", async () => {
  for (let n = 10; n < 22; n++)
    await sessions.insert(
      rec(
        n,
        n % 2
          ? { deviceId: "d2-0002", deviceName: "robot-2", kind: "forward", target: "localhost:8080" }
          : {},
      ),
    );
  // Two sessions started in the same millisecond still page without loss or repeat (id breaks ties).
  await sessions.insert(rec(30, { startedAt: new Date(T0 + 40_000) }));
  await sessions.insert(rec(31, { startedAt: new Date(T0 + 40_000) }));
  await sessions.insert(rec(40, { projectId: p2, deviceId: "d9-0009", deviceName: "robot-1" }));

  const all = await sessions.list(p1, {}, liveNone);
  assert.deepEqual(
    all.map((s) => s.id),
    [id(31), id(30), ...[21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 1].map(id)],
  );
  const pages: string[] = [];
  let cursor: string | undefined;
  for (let i = 0; i < 10; i++) {
    const page = await sessions.list(p1, { limit: 4, ...(cursor ? { before: cursor } : {}) }, liveNone);
    pages.push(...page.map((s) => s.id));
    if (page.length < 4) break;
    cursor = page.at(-1)!.id;
  }
  assert.deepEqual(
    pages,
    all.map((s) => s.id),
  );

  const byName = await sessions.list(p1, { device: "robot-2" }, liveNone);
  assert.deepEqual(
    byName.map((s) => s.id),
    [21, 19, 17, 15, 13, 11].map(id),
  );
  assert.ok(byName.every((s) => s.kind === "forward" && s.target === "localhost:8080"));
  const byId = await sessions.list(p1, { device: "d2-0002", limit: 2 }, liveNone);
  assert.deepEqual(
    byId.map((s) => s.id),
    [id(21), id(19)],
  );
  const other = await sessions.list(p2, { device: "robot-1" }, liveNone);
  assert.deepEqual(
    other.map((s) => s.id),
    [id(40)],
  );
  assert.deepEqual(await sessions.list(p1, { device: "nope" }, liveNone), []);
  // The limit is clamped to 1..500, never unbounded.
  assert.equal((await sessions.list(p1, { limit: 0 }, liveNone)).length, 1);
  assert.equal((await sessions.list(p1, { limit: 100_000 }, liveNone)).length, all.length);
  // A cursor from another project (or none at all) is refused, not silently "the first page".
  await assert.rejects(
    sessions.list(p1, { before: id(40) }, liveNone),
    (e: unknown) => e instanceof TetherError && e.code === "TETHER_ERR_BAD_REQUEST",
  );
  await assert.rejects(sessions.list(p1, { before: "ses_nosuchsessionxxxxxx" }, liveNone), TetherError);
});

test("orphans a killed server left open end as server-stopped; ended rows are untouched", async () => {
  await sessions.insert(rec(50, { projectId: p2 }));
  const open = (await sessions.list(p1, { limit: 500 }, liveNone)).filter((s) => s.endedAt === null).length;
  const openP2 = (await sessions.list(p2, {}, liveNone)).filter((s) => s.endedAt === null).length;
  const at = new Date(T0 + 3_600_000);
  assert.equal(await sessions.endOrphans(at), open + openP2);
  assert.equal(await sessions.endOrphans(at), 0, "a second start finds none");
  const after = await sessions.get(p2, id(50), () => true);
  assert.equal(after?.endReason, "server-stopped");
  assert.equal(after?.endedAt, at.toISOString());
  assert.equal(after?.exitCode, null);
  assert.equal(after?.live, false);
  assert.equal(
    (await sessions.get(p1, id(1), liveNone))?.endReason,
    "exited",
    "an ended session keeps its end",
  );
});

test("settings: defaults until set, set twice (upsert), per project", async () => {
  assert.deepEqual(await sessions.settings(p1), { record: false, forwardAllow: [...DEFAULT_FORWARD_ALLOW] });
  await sessions.setSettings(p1, { record: true, forwardAllow: ["localhost:8080", "10.0.0.5:1-1024"] });
  assert.deepEqual(await sessions.settings(p1), {
    record: true,
    forwardAllow: ["localhost:8080", "10.0.0.5:1-1024"],
  });
  await sessions.setSettings(p1, { record: false, forwardAllow: [] });
  assert.deepEqual(
    await sessions.settings(p1),
    { record: false, forwardAllow: [] },
    "an empty allow-list is kept",
  );
  assert.deepEqual(await sessions.settings(p2), { record: false, forwardAllow: [...DEFAULT_FORWARD_ALLOW] });
});
