// @matrix: once
// Device.onlineSince (migration 0005_online_since): set when a control connection begins, kept
// through a key rotation inside that connection, cleared when the device goes offline.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { pino } from "pino";
import { Presence } from "../src/control/presence.js";
import { openServerStore } from "../src/create-server.js";
import { toDevice } from "../src/devices.js";
import { nowIso } from "../src/store/db.js";
import { insertDevice } from "./support.js";

const root = mkdtempSync(join(tmpdir(), "tether-online-since-"));
after(() => rmSync(root, { recursive: true, force: true }));

test("onlineSince: new connection sets it, a rotation keeps it, offline and a restart clear it", async () => {
  const store = await openServerStore(`sqlite:${join(root, "tether.db")}`);
  const presence = new Presence(store.db, pino({ level: "silent" }), {
    debounceMs: 10,
    lastSeenFlushMs: 60_000,
  });
  try {
    const { id: projectId } = await store.db
      .insertInto("projects")
      .values({ name: "p", created_at: nowIso() })
      .returning("id")
      .executeTakeFirstOrThrow();
    await insertDevice(store.db, projectId, "dev_a");
    const device = async () =>
      toDevice(
        await store.db.selectFrom("devices").selectAll().where("id", "=", "dev_a").executeTakeFirstOrThrow(),
        "p",
      );

    assert.equal((await device()).onlineSince, null, "never connected");
    await presence.online("dev_a", "c1", null);
    const first = (await device()).onlineSince;
    assert.ok(first && !Number.isNaN(Date.parse(first)), `an ISO time, got ${first}`);
    assert.equal((await device()).online, true);

    // Wait until the clock has moved on, so a wrongly reset value would differ.
    while (nowIso() === first) await new Promise((r) => setImmediate(r));
    await presence.online("dev_a", "c1", null); // a key rotation inside connection c1
    assert.equal((await device()).onlineSince, first, "a rotation is not a new connection");

    await presence.online("dev_a", "c2", null); // a new connection replaces c1
    const second = (await device()).onlineSince;
    assert.ok(second && second > first, `a new connection starts a new span (${first} → ${second})`);

    await presence.offline("dev_a", "socket closed", "c2");
    const off = await device();
    assert.equal(off.online, false);
    assert.equal(off.onlineSince, null, "cleared while offline");
    assert.ok(off.lastSeenAt, "last seen stays");

    await presence.online("dev_a", "c3", null);
    assert.ok((await device()).onlineSince);
    await presence.resetAll("server restarted");
    assert.equal((await device()).onlineSince, null, "a restart clears it with online");
  } finally {
    await presence.close();
    await store.close();
  }
});
