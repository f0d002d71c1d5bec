// @matrix: store
/**
 * Adversarial broker authorisation (embedded broker, docs/protocol.md §3): a raw MQTT
 * client holding a real device's credentials tries everything a compromised device could.
 */
import assert from "node:assert/strict";
import { type Attempt, attempt, type DeviceCreds, readDeviceCreds, suback } from "../support/raw-device.js";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import net from "node:net";
import tls from "node:tls";
import { after, before, describe, test } from "node:test";
import { closeOf } from "../support/net.js";
import { deviceTopic, encodeWill } from "@tether/protocol";
import type { IClientOptions, MqttClient } from "mqtt";
import {
  type AgentHandle,
  cleanupTempDirs,
  device,
  enrollOnline,
  type ServerHandle,
  startServer,
  TEST_BROKER,
  waitFor,
} from "./harness.js";

// These are the embedded broker's own authorisation rules, driven over raw MQTT.
const SKIP =
  TEST_BROKER === "mosquitto"
    ? "embedded-broker authorisation semantics; Mosquitto's dynsec rules are covered by tests/e2e/mosquitto.test.ts"
    : false;

function asDevice(c: DeviceCreds, extra: IClientOptions = {}): Promise<Attempt> {
  return attempt(c.url, {
    clientId: c.deviceId,
    username: c.username,
    password: c.password,
    ca: c.ca,
    ...extra,
  });
}

async function connected(c: DeviceCreds, extra: IClientOptions = {}): Promise<MqttClient> {
  const r = await asDevice(c, extra);
  assert.ok(r.ok, `expected CONNECT to succeed: ${!r.ok ? r.how : ""}`);
  return r.client;
}

function assertRefused(r: Attempt, what: string): void {
  if (r.ok) {
    r.client.end(true);
    assert.fail(`${what}: CONNECT was accepted`);
  }
  if (r.code !== undefined) assert.ok([2, 4, 5].includes(r.code), `${what}: refused with code ${r.code}`);
}

/** Wait for the broker to drop a connection (the 'close' event). */
function closed(c: MqttClient): Promise<unknown> {
  return c.connected ? closeOf(c) : Promise.resolve();
}

describe("mqtt authorisation (embedded broker)", { skip: SKIP }, () => {
  let server: ServerHandle;
  let A: DeviceCreds;
  let B: DeviceCreds;
  let agentB: AgentHandle;

  const connCount = async (name: string) =>
    (await server.api.call<any[]>("GET", `/api/v1/devices/${name}/connections`)).length;
  const pingOk = async (name: string) => {
    const r = await server.api.request("POST", `/api/v1/devices/${name}/ping`, {});
    assert.equal(r.status, 200, `ping ${name}: ${JSON.stringify(r.body)}`);
  };

  before(async () => {
    server = await startServer();
    const a = await enrollOnline(server, { name: "mq-a" });
    const b = await enrollOnline(server, { name: "mq-b" });
    agentB = b.agent;
    A = readDeviceCreds(a.agent.dataDir);
    B = readDeviceCreds(b.agent.dataDir);
    assert.equal(await a.agent.stop(), 0);
    await waitFor(async () => !(await device(server.api, "mq-a")).online, "mq-a offline");
  });
  after(async () => {
    await agentB?.kill();
    await server?.stop();
    await cleanupTempDirs();
  });

  test("a wrong password is refused with a CONNACK error and no session", async () => {
    const r = await asDevice(A, { password: `${A.password}x` });
    assertRefused(r, "wrong password");
    assert.ok(
      !r.ok && r.code !== undefined && [4, 5].includes(r.code),
      `CONNACK code 4/5, got ${!r.ok && r.code}`,
    );
    const empty = await asDevice(A, { password: "" });
    assertRefused(empty, "empty password");
    assert.equal((await device(server.api, "mq-a")).online, false);
  });

  test("A's password under B's client id is refused and does not kick B off", async () => {
    const before = await connCount("mq-b");
    for (const username of [A.username, B.username]) {
      const r = await attempt(A.url, { clientId: B.deviceId, username, password: A.password, ca: A.ca });
      assertRefused(r, `client id B, username ${username === A.username ? "A" : "B"}`);
    }
    // B's own session survived: a round trip works and no reconnect happened.
    await pingOk("mq-b");
    assert.equal(await connCount("mq-b"), before);
    assert.equal((await device(server.api, "mq-b")).online, true);
  });

  test("SUBSCRIBE is granted only for the device's own down topic, exactly", async () => {
    const c = await connected(A);
    try {
      const filters = [
        "#",
        "+/+/+/+/+",
        "+/+/+/+",
        "tether/#",
        "$SYS/#",
        deviceTopic(B.shard, B.deviceId, "down"),
        deviceTopic(A.shard, A.deviceId, "up"),
        `tether/1/+/${A.deviceId}/down`,
      ];
      for (const f of filters) {
        assert.deepEqual(await suback(c, [f]), [128], `filter ${f} must be refused`);
      }
      assert.deepEqual(await suback(c, [deviceTopic(A.shard, A.deviceId, "down")]), [1]);
      // Several filters in one SUBSCRIBE: each checked on its own.
      assert.deepEqual(
        await suback(c, ["#", deviceTopic(A.shard, A.deviceId, "down"), "$SYS/#"]),
        [128, 1, 128],
      );
      assert.ok(c.connected, "refused filters do not cost the connection");
    } finally {
      await c.endAsync(true);
    }
  });

  test("PUBLISH on B's up topic closes A's connection and nothing reaches the server as B", async () => {
    const before = await connCount("mq-b");
    const conns = await server.api.call<any[]>("GET", "/api/v1/devices/mq-b/connections");
    const current = conns.find((x) => x.disconnectedAt === null);
    assert.ok(current, "B has a current connection");
    // A genuine, correctly signed will of B for its current connection: had it reached the
    // server it would take B offline.
    const will = encodeWill({
      deviceId: B.deviceId,
      connId: Buffer.from(current.connId, "hex"),
      signKey: B.signKey,
    });
    const c = await connected(A);
    const gone = closed(c);
    c.publish(deviceTopic(B.shard, B.deviceId, "up"), will, { qos: 0 });
    await gone;
    // B's pong travels B's ordered up chain after anything published as B before it.
    await pingOk("mq-b");
    const d = await device(server.api, "mq-b");
    assert.equal(d.online, true);
    assert.equal(d.state, "accepted");
    assert.equal(await connCount("mq-b"), before);
  });

  test("PUBLISH with retain on the own up topic closes the connection", async () => {
    const c = await connected(A);
    const gone = closed(c);
    c.publish(deviceTopic(A.shard, A.deviceId, "up"), Buffer.from([1, 3, 0]), { qos: 0, retain: true });
    await gone;
  });

  test("PUBLISH on $SYS and other foreign topics closes the connection", async () => {
    for (const topic of [
      "$SYS/x",
      "$SYS/broker/clients",
      deviceTopic(A.shard, A.deviceId, "down"),
      deviceTopic((A.shard + 1) % 64, A.deviceId, "up"),
      "tether/1/up",
      "random",
    ]) {
      const c = await connected(A);
      const gone = closed(c);
      c.publish(topic, Buffer.from("x"), { qos: 1 });
      await gone;
    }
  });

  test("a will outside the own up topic, on a $ topic, or retained is refused at CONNECT", async () => {
    const willPayload = encodeWill({ deviceId: A.deviceId, connId: randomBytes(16), signKey: A.signKey });
    const bad: { what: string; will: NonNullable<IClientOptions["will"]> }[] = [
      {
        what: "B's up topic",
        will: { topic: deviceTopic(B.shard, B.deviceId, "up"), payload: willPayload, qos: 1, retain: false },
      },
      { what: "$SYS topic", will: { topic: "$SYS/x", payload: willPayload, qos: 1, retain: false } },
      {
        what: "own down topic",
        will: {
          topic: deviceTopic(A.shard, A.deviceId, "down"),
          payload: willPayload,
          qos: 1,
          retain: false,
        },
      },
      {
        what: "retained own up",
        will: { topic: deviceTopic(A.shard, A.deviceId, "up"), payload: willPayload, qos: 1, retain: true },
      },
    ];
    for (const b of bad) {
      assertRefused(await asDevice(A, { will: b.will }), `will on ${b.what}`);
    }
    // The right will is accepted.
    const ok = await asDevice(A, {
      will: { topic: deviceTopic(A.shard, A.deviceId, "up"), payload: willPayload, qos: 1, retain: false },
    });
    assert.ok(ok.ok, "a non-retained will on the own up topic is accepted");
    await ok.client.endAsync();
  });

  test("a will on the own id under another shard is refused at CONNECT", async () => {
    const willPayload = encodeWill({ deviceId: A.deviceId, connId: randomBytes(16), signKey: A.signKey });
    const r = await asDevice(A, {
      will: {
        topic: deviceTopic((A.shard + 1) % 64, A.deviceId, "up"),
        payload: willPayload,
        qos: 1,
        retain: false,
      },
    });
    assertRefused(r, "will under another shard");
  });

  test("a revoked device's credentials are refused", async () => {
    const c = await enrollOnline(server, { name: "mq-rev" });
    const C = readDeviceCreds(c.agent.dataDir);
    await c.agent.stop();
    const ok = await asDevice(C);
    assert.ok(ok.ok, "credentials work before revocation");
    await ok.client.endAsync();
    await server.api.call("POST", "/api/v1/devices/mq-rev/revoke");
    const r = await asDevice(C);
    assertRefused(r, "revoked device");
    assert.ok(!r.ok && r.code !== undefined && [4, 5].includes(r.code), "CONNACK refusal code");
  });

  test("a revoked device's open connection is cut", async () => {
    const c = await enrollOnline(server, { name: "mq-rev2" });
    const C = readDeviceCreds(c.agent.dataDir);
    await c.agent.stop();
    const raw = await connected(C);
    const gone = closed(raw);
    await server.api.call("POST", "/api/v1/devices/mq-rev2/revoke");
    await gone;
  });

  test("garbage on the MQTT TLS port is closed and the server is unharmed", async () => {
    const s = tls.connect({ host: "127.0.0.1", port: server.mqttPort, ca: server.ca });
    s.on("error", () => {});
    await once(s, "secureConnect");
    const end = closeOf(s);
    s.write(randomBytes(4096));
    s.write(Buffer.from([0xf0, 0xff, 0xff, 0xff, 0xff, 0x7f])); // reserved type, absurd length
    await end;
    // A PUBLISH before any CONNECT.
    const s2 = tls.connect({ host: "127.0.0.1", port: server.mqttPort, ca: server.ca });
    s2.on("error", () => {});
    await once(s2, "secureConnect");
    const end2 = closeOf(s2);
    s2.write(Buffer.from([0x30, 0x02, 0x00, 0x00, 0x10, 0x00])); // PUBLISH before CONNECT
    await end2;
    // Plain TCP (no TLS) garbage on the TLS port.
    const p = net.connect({ host: "127.0.0.1", port: server.mqttPort });
    p.on("error", () => {});
    await once(p, "connect");
    const end3 = closeOf(p);
    p.write(Buffer.concat([Buffer.from("\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00"), randomBytes(2048)]));
    await end3;
    await pingOk("mq-b");
    const again = await connected(A);
    await again.endAsync();
  });

  test("an oversize payload on the own up topic closes the connection; others are unaffected", async () => {
    const c = await connected(A);
    const gone = closed(c);
    c.publish(deviceTopic(A.shard, A.deviceId, "up"), randomBytes(2 * 1024 * 1024), { qos: 0 });
    await gone;
    await pingOk("mq-b");
    assert.equal(server.proc.exitCode, null, "server still running");
  });
});
