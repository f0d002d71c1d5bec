// @matrix: store
/**
 * Abuse suite, part D: what a hostile device (or a broker replaying what it carried) can do
 * (issue 9 findings 5, 11 and parts of 12). The test plays the device with a raw MQTT client
 * and real credentials from an in-process enrollment, against a real server process with low
 * limits, so each attack bites in milliseconds.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { ControlClient, type Identity, Journal } from "@tether/agent";
import {
  deviceTopic,
  encodeReject,
  encodeWill,
  type KeyPair,
  rejectBinding,
  verifyReject,
} from "@tether/protocol";
import type { MqttClient } from "mqtt";
import pino from "pino";
import {
  type Api,
  cleanupTempDirs,
  createToken,
  device,
  type ServerHandle,
  startServer,
  TEST_BROKER,
  TEST_DB,
  tempDir,
  waitFor,
} from "../harness.js";
import { deviceFacts, deviceKeys, enrollDevice } from "../../support/enroll-device.js";
import { rssKiB } from "../../support/processes.js";
import { identOf, RawDevice } from "../../support/raw-device.js";

const SKIP =
  TEST_BROKER === "mosquitto"
    ? "drives the embedded broker as a raw device (see control-crypto.test.ts)"
    : false;

const RATE = 100;
const BURST = 200;
const log = pino({ level: "silent" });
const hex = () => randomBytes(16).toString("hex");

interface Enrolled {
  id: Identity;
  keys: { sign: KeyPair; noise: KeyPair };
}

/** Enrolls `name` in-process with fresh keys and a token (auto-accepting unless told not to). */
async function enrollWithKeys(url: string, api: Api, name: string, autoAccept = true): Promise<Enrolled> {
  const token = await createToken(api, { autoAccept });
  const keys = deviceKeys();
  const id = await enrollDevice({ url, token, name, keys });
  return { id, keys };
}

const connectRaw = (e: Enrolled) => RawDevice.connect(identOf(e));

describe("abuse: a hostile device", { skip: SKIP }, () => {
  let server: ServerHandle;
  let api: Api;
  let a: Enrolled;
  let raw: RawDevice;

  const ping = (ref: string) => api.request("POST", `/api/v1/devices/${ref}/ping`, { timeoutMs: 5000 });

  before(async () => {
    server = await startServer({
      env: {
        TETHER_DEVICE_RATE: String(RATE),
        TETHER_DEVICE_BURST: String(BURST),
        TETHER_RATE_REPORT_MS: "300",
        TETHER_WILL_CONFIRM_MS: "1500",
      },
    });
    api = server.api;
    a = await enrollWithKeys(server.info.url, api, "abuse-a");
    raw = await connectRaw(a);
    await raw.online();
    await waitFor(async () => (await device(api, "abuse-a")).online, "abuse-a online");
  });
  after(async () => {
    await raw?.client.endAsync(true);
    await server?.stop();
    await cleanupTempDirs();
  });

  test("unsolicited echo.reply messages are acknowledged and never stored; a real echo's reply is stored once", async () => {
    const dbBytes = () =>
      ["tether.db", "tether.db-wal"].reduce((n, f) => {
        try {
          return n + statSync(join(server.dataDir, f)).size;
        } catch {
          return n;
        }
      }, 0);
    const before = dbBytes();
    const big = "x".repeat(60 * 1024);
    const mids: number[] = [];
    for (let i = 0; i < 40; i++) mids.push(await raw.durable("echo.reply", { ref: hex(), data: big }));
    await waitFor(() => mids.every((m) => raw.acked(m)), "all unsolicited replies acknowledged", 15_000);
    if (TEST_DB === "sqlite")
      console.log(
        `tether.db + wal: ${before} B before, ${dbBytes()} B after 40 × 60 KiB unsolicited replies`,
      );
    const stored = await api.call<unknown[]>("GET", "/api/v1/devices/abuse-a/echoes");
    assert.equal(stored.length, 0, "no unsolicited reply is stored");

    // An echo the server sent: its reply is stored, once; a second reply to it is not.
    const e = await api.call<{ ref: string }>("POST", "/api/v1/devices/abuse-a/echo", {
      data: "hi",
      waitMs: 0,
    });
    await waitFor(
      () => raw.messages.find((m) => m.t === "echo" && (m.b as any).ref === e.ref),
      "echo arrives",
    );
    const m1 = await raw.durable("echo.reply", { ref: e.ref, data: "hi" });
    const m2 = await raw.durable("echo.reply", { ref: e.ref, data: big });
    await waitFor(() => raw.acked(m1) && raw.acked(m2), "replies acknowledged");
    const rows = await api.call<{ ref: string; data: string }[]>("GET", "/api/v1/devices/abuse-a/echoes");
    assert.deepEqual(
      rows.map((r) => [r.ref, r.data]),
      [[e.ref, "hi"]],
    );
  });

  test("a message flood from one device is cut by its rate limit, counted and shown; others are unaffected", async () => {
    const b = await enrollWithKeys(server.info.url, api, "abuse-flood");
    const flood = await connectRaw(b);
    try {
      await flood.online();
      await waitFor(async () => (await device(api, "abuse-flood")).online, "flood device online");
      const rss0 = rssKiB(server.proc.pid!);
      const N = 3000;
      await Promise.all(
        Array.from({ length: N }, (_, i) => flood.send({ t: "pong", b: { ref: 1_000_000 + i } })),
      );
      // Counted on the device, where an operator sees it (API, `tether devices show`, console).
      const d = await waitFor(
        async () => {
          const x = await device(api, "abuse-flood");
          return (x.rateLimited as number) >= N / 2 ? x : undefined;
        },
        "rate-limited count on the device",
        15_000,
      );
      assert.ok((d.rateLimited as number) <= N);
      assert.match(server.stderr(), /over its control message rate limit \(100\/s, burst 200\)/);
      const lines = server
        .stderr()
        .split("\n")
        .filter((l) => l.includes("over its control message rate limit"));
      assert.ok(lines.length <= 10, `one warn line per device per interval, got ${lines.length}`);
      console.log(
        `server RSS: ${rss0} KiB before, ${rssKiB(server.proc.pid!)} KiB after a ${N}-message flood`,
      );
      // Another device is not slowed down, and the flooding one recovers once it stops.
      assert.equal((await ping("abuse-a")).status, 200);
      await waitFor(
        async () => (await ping("abuse-flood")).status === 200,
        "flood device answers again",
        15_000,
      );
    } finally {
      await flood.client.endAsync(true);
    }
  });

  test("an early or replayed will of the current connection does not take an answering device offline", async () => {
    const will = encodeWill({
      deviceId: a.id.deviceId,
      connId: Buffer.from(raw.connId!, "hex"),
      signKey: a.keys.sign.privateKey,
    });
    const ignored = () => server.stderr().includes("ignored a will of the current connection");
    await raw.publish(will);
    await waitFor(async () => ignored() || !(await device(api, "abuse-a")).online, "will handled", 15_000);
    assert.equal((await device(api, "abuse-a")).online, true, "still online: it answered the check");
    const conns = await api.call<any[]>("GET", "/api/v1/devices/abuse-a/connections");
    assert.equal(conns[0].connId, raw.connId);
    assert.equal(conns[0].disconnectedAt, null);
    assert.equal((await ping("abuse-a")).status, 200);

    // A device that is really gone does not answer: the same will then takes it offline.
    raw.answerPings = false;
    await raw.publish(will);
    await waitFor(
      async () => !(await device(api, "abuse-a")).online,
      "offline after an unanswered will",
      15_000,
    );
    assert.equal(
      (await api.call<any[]>("GET", "/api/v1/devices/abuse-a/connections"))[0].reason,
      "connection lost",
    );
    raw.answerPings = true;
    await raw.online();
    await waitFor(async () => (await device(api, "abuse-a")).online, "back online");
  });

  test("a pending device enrolled under an accepted device's name does not take the name", async () => {
    const squat = await enrollWithKeys(server.info.url, api, "abuse-a", false);
    assert.equal(squat.id.state, "pending");
    const d = await device(api, "abuse-a");
    assert.equal(d.id, a.id.deviceId, "the name resolves to the accepted device");
    assert.equal((await ping("abuse-a")).status, 200);
    // Among devices of the same standing a shared name stays ambiguous: use the id.
    await enrollWithKeys(server.info.url, api, "abuse-twin", false);
    await enrollWithKeys(server.info.url, api, "abuse-twin", false);
    const r = await api.request("GET", "/api/v1/devices/abuse-twin");
    assert.equal(r.status, 409);
    assert.equal(r.body.error.code, "TETHER_ERR_DEVICE_AMBIGUOUS");
  });

  test("a Reject is bound to the handshake it answers; an agent ignores a replayed one", async () => {
    const c = await enrollWithKeys(server.info.url, api, "abuse-reject");
    const rc = await connectRaw(c);
    const first = await rc.rejected();
    const second = await rc.rejected();
    await rc.client.endAsync(true);
    const serverSign = Buffer.from(c.id.serverSignKey, "base64url");
    const info = verifyReject(first.reject, c.id.deviceId, serverSign);
    assert.equal(info.code, "TETHER_ERR_UNSUPPORTED_VERSION");
    assert.equal(info.init, rejectBinding(first.init), "bound to the HandshakeInit it answers");
    assert.notEqual(verifyReject(second.reject, c.id.deviceId, serverSign).init, info.init);

    // The real agent (in this process) with the broker playing back the captured Reject.
    const fatal: Error[] = [];
    const agent = new ControlClient({
      identity: c.id,
      keys: c.keys,
      journal: new Journal(tempDir("tether-abuse-agent-")),
      log,
      facts: () => deviceFacts("abuse-reject"),
      onFatal: (err) => fatal.push(err),
    });
    const ready = new Promise<void>((r) => agent.once("ready", () => r()));
    agent.start();
    try {
      await ready;
      const mqttClient = (agent as any).client as MqttClient;
      const deliver = (f: Buffer) =>
        mqttClient.emit("message", deviceTopic(c.id.shard, c.id.deviceId, "down"), f, {} as any);
      deliver(first.reject); // with no handshake pending
      const again = new Promise<void>((r) => agent.once("ready", () => r()));
      await agent.handshake("test");
      deliver(second.reject); // during a handshake it does not answer
      await again;
      assert.deepEqual(fatal, [], "a replayed Reject must not stop the agent");
      assert.equal((await ping("abuse-reject")).status, 200);
      // A Reject that answers the pending handshake is still obeyed.
      const keys = JSON.parse(readFileSync(join(server.dataDir, "server-keys.json"), "utf8"));
      await agent.handshake("test");
      const pending = (agent as any).pendingHs?.hs.frame as Buffer;
      assert.ok(pending, "a handshake is pending");
      deliver(
        encodeReject({
          deviceId: c.id.deviceId,
          code: "TETHER_ERR_UNSUPPORTED_VERSION",
          message: "bound",
          init: pending,
          signKey: Buffer.from(keys.signPrivate, "base64url"),
        }),
      );
      assert.equal(fatal.length, 1);
    } finally {
      await agent.stop();
    }
  });

  test("tether.db and its -wal and -shm files are readable by the server's user only", {
    skip: TEST_DB !== "sqlite" && "SQLite only",
  }, () => {
    for (const f of ["tether.db", "tether.db-wal", "tether.db-shm"]) {
      const mode = statSync(join(server.dataDir, f)).mode & 0o777;
      assert.equal(mode.toString(8), "600", `${f} mode`);
    }
  });
});
