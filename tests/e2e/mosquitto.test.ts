// @matrix: once
/**
 * External broker (docs/architecture.md §2, §6; docs/protocol.md §3): a private Mosquitto 2.0 with the
 * dynamic-security plugin, a Tether server in this process managing it, real agent processes.
 * The broker is treated as hostile: it sees only frames, and what it forges or replays
 * achieves nothing.
 */
import assert from "node:assert/strict";
import { type Attempt, attempt, readDeviceCreds, suback } from "../support/raw-device.js";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { deviceTopic } from "@tether/protocol";
import type { MqttClient } from "mqtt";
import pino from "pino";
import { DynsecClient } from "../../packages/server/src/broker/dynsec.js";
import { type InProcessServer, logged, startInProcessServer } from "../support/in-process-server.js";
import { type MosquittoHandle, mosquittoSkipReason, startMosquitto } from "../support/mosquitto.js";
import {
  type AgentHandle,
  cleanupTempDirs,
  createToken,
  device,
  freePort,
  startAgent,
  TEST_BROKER,
  TEST_DB,
  tempDir,
  waitFor,
} from "./harness.js";

// Runs once, in the first pass: it brings its own Mosquitto, so the other passes add nothing.
const skip =
  TEST_DB !== "sqlite" || TEST_BROKER !== "embedded"
    ? "runs once, in the first pass (SQLite, embedded broker); it brings its own Mosquitto"
    : mosquittoSkipReason();

describe("external broker: Mosquitto with dynamic security", { skip }, () => {
  let mosq: MosquittoHandle;
  let dataDir: string;
  let httpPort: number;
  let server: InProcessServer;
  let dynsec: DynsecClient;
  const agents: AgentHandle[] = [];
  const extra: MqttClient[] = [];

  const startTether = () =>
    startInProcessServer({ dataDir, httpPort, broker: { url: mosq.url, adminFile: mosq.adminFile } });

  async function enrollOnline(name: string): Promise<AgentHandle> {
    const token = await createToken(server.api, { autoAccept: true });
    const agent = startAgent({ dataDir: join(tempDir(), "agent"), url: server.url, token, name });
    agents.push(agent);
    await waitFor(async () => {
      if (agent.proc.exitCode !== null) throw new Error(`agent exited: ${agent.stderr().slice(-2000)}`);
      const r = await server.api.request("GET", `/api/v1/devices/${name}`);
      return r.status === 200 && r.body.online;
    }, `${name} online`);
    return agent;
  }

  const ping = async (name: string) => {
    const r = await server.api.request("POST", `/api/v1/devices/${name}/ping`, {});
    assert.equal(r.status, 200, `ping ${name}: ${JSON.stringify(r.body)}`);
    return r.body.rttMs as number;
  };
  const echo = async (name: string, data: string) => {
    const r = await server.api.request("POST", `/api/v1/devices/${name}/echo`, { data, waitMs: 10_000 });
    assert.equal(r.status, 200, `echo ${name}: ${JSON.stringify(r.body)}`);
    assert.equal(r.body.data, data);
  };
  const echoes = (name: string) =>
    server.api.call<{ ref: string; data: string }[]>("GET", `/api/v1/devices/${name}/echoes`);
  const hasLog = (msg: string, deviceId?: string) => logged(server, msg, deviceId).length > 0;

  before(async () => {
    mosq = await startMosquitto();
    dataDir = join(tempDir(), "server");
    httpPort = await freePort();
    server = await startTether();
    dynsec = await DynsecClient.connect({
      url: mosq.url,
      admin: mosq.admin,
      log: pino({ level: "warn" }, pino.destination(2)),
    });
  });
  after(async () => {
    for (const c of extra) c.end(true);
    for (const a of agents) await a.kill().catch(() => {});
    await dynsec?.close().catch(() => {});
    await server?.srv.close().catch(() => {});
    await mosq?.stop();
    await cleanupTempDirs();
  });

  test("an agent enrolls, gets a dynsec client bound to its id, connects to Mosquitto; ping and echo work", async () => {
    const agent = await enrollOnline("mq-1");
    const c = readDeviceCreds(agent.dataDir);
    assert.equal(c.url, mosq.url, "the agent was given the external broker's address");
    const info = await dynsec.getClient(c.deviceId);
    assert.ok(info, "a dynsec client exists for the device");
    assert.equal(info.clientid, c.deviceId, "client id bound to the username");
    assert.deepEqual(
      info.roles.map((r) => r.rolename),
      [`tether-dev-${c.deviceId}`],
    );
    assert.ok(!info.disabled);
    assert.match(mosq.log(), new RegExp(`as ${c.deviceId}`), "Mosquitto saw the device connect");
    assert.ok((await ping("mq-1")) >= 0);
    await echo("mq-1", "hello through mosquitto");
    assert.equal((await echoes("mq-1")).filter((e) => e.data === "hello through mosquitto").length, 1);
  });

  test("broker blindness: the broker sees only frames; forged and replayed frames achieve nothing", async () => {
    const c = readDeviceCreds(agents[0].dataDir);
    const spy = (await attempt(mosq.url, {
      clientId: "spy",
      username: mosq.admin.username,
      password: mosq.admin.password,
    })) as Attempt & { ok: true };
    assert.ok(spy.ok);
    extra.push(spy.client);
    const seen: { topic: string; payload: Buffer }[] = [];
    spy.client.on("message", (topic, payload) => {
      if (topic.startsWith("tether/")) seen.push({ topic, payload: Buffer.from(payload) });
    });
    assert.deepEqual(await suback(spy.client, "#"), [1]);

    const secrets = Array.from(
      { length: 5 },
      (_, i) => `PLAINTEXT-SECRET-${i}-${randomBytes(6).toString("hex")}`,
    );
    for (const s of secrets) {
      await ping("mq-1");
      await echo("mq-1", s);
    }
    await waitFor(() => seen.length >= secrets.length * 4, "the spy saw the traffic");
    for (const m of seen) {
      assert.ok(m.payload.length >= 2 && m.payload[0] === 1, `${m.topic}: a version-1 frame`);
      assert.ok([1, 2, 3, 4, 5, 6].includes(m.payload[1]), `${m.topic}: frame type ${m.payload[1]}`);
      for (const s of secrets) {
        assert.equal(m.payload.includes(Buffer.from(s)), false, `plaintext visible on ${m.topic}`);
      }
    }
    const down = deviceTopic(c.shard, c.deviceId, "down");
    const up = deviceTopic(c.shard, c.deviceId, "up");
    const downData = seen.filter((m) => m.topic === down && m.payload[1] === 3);
    const upData = seen.filter((m) => m.topic === up && m.payload[1] === 3);
    assert.ok(downData.length > 0 && upData.length > 0, "captured Data frames both ways");

    // The dynsec admin may not publish on tether topics; a compromised broker can, so act as one:
    // a client allowed to publish anywhere.
    await dynsec.createRole("mallory", [
      { acltype: "publishClientSend", topic: "#", allow: true },
      { acltype: "subscribePattern", topic: "#", allow: true },
    ]);
    await dynsec.createClient({ username: "mallory", password: "mallory-pw", roles: ["mallory"] });
    const mal = (await attempt(mosq.url, {
      clientId: "mallory",
      username: "mallory",
      password: "mallory-pw",
    })) as Attempt & { ok: true };
    assert.ok(mal.ok);
    extra.push(mal.client);
    const before = (await echoes("mq-1")).length;
    const forged = Buffer.concat([Buffer.from([1, 3, 1]), randomBytes(16), randomBytes(64)]);
    const marker = seen.length;
    await mal.client.publishAsync(down, forged, { qos: 1 });
    for (const m of downData) await mal.client.publishAsync(down, m.payload, { qos: 1 });
    for (const m of upData) await mal.client.publishAsync(up, m.payload, { qos: 1 });
    // The broker did route them (the spy saw them), so the agent and server did receive them.
    await waitFor(
      () => seen.length >= marker + 1 + downData.length + upData.length,
      "the forgeries were delivered",
    );
    // Both ends saw them and refused them.
    await waitFor(() => hasLog("refused control frame", c.deviceId), "the server refused replays");
    await waitFor(
      () => /dropped control message|data under an unknown key/.test(agents[0].stderr()),
      "the agent refused forgeries",
    );
    await echo("mq-1", "after the replays");
    const got = await echoes("mq-1");
    assert.equal(got.length, before + 1, "replays added no echo");
    assert.equal(new Set(got.map((e) => e.ref)).size, got.length, "no echo stored twice");
    assert.equal(new Set(got.map((e) => e.data)).size, got.length, "every echo answered exactly once");
    assert.equal((await device(server.api, "mq-1")).online, true);
    await ping("mq-1");
    mal.client.end(true);
    await dynsec.deleteClient("mallory");
    await dynsec.deleteRole("mallory");
  });

  test("a device's credentials: bound to its client id, own topics only, nothing foreign delivered", async () => {
    const a = readDeviceCreds(agents[0].dataDir);
    const agent2 = await enrollOnline("mq-2");
    const b = readDeviceCreds(agent2.dataDir);
    assert.equal(await agent2.stop(), 0, "agent mq-2 stopped cleanly");
    await waitFor(async () => !(await device(server.api, "mq-2")).online, "mq-2 offline after goodbye");

    // The password under another client id (or another device's) is refused.
    for (const clientId of ["not-a-device", a.deviceId]) {
      const r = await attempt(mosq.url, { clientId, username: b.deviceId, password: b.password });
      assert.ok(
        !r.ok && r.code === 5,
        `client id ${clientId}: refused with CONNACK 5, got ${JSON.stringify(r)}`,
      );
    }
    const wrong = await attempt(mosq.url, { clientId: b.deviceId, username: b.deviceId, password: "wrong" });
    assert.ok(!wrong.ok && wrong.code === 5, "wrong password refused");
    await ping("mq-1"); // mq-1 was not kicked by the attempt under its client id

    const r = (await attempt(mosq.url, {
      clientId: b.deviceId,
      username: b.deviceId,
      password: b.password,
    })) as Attempt & { ok: true };
    assert.ok(r.ok, "B's own credentials work");
    extra.push(r.client);
    const got: string[] = [];
    r.client.on("message", (t) => got.push(t));
    // Mosquitto 2.0 refuses the filter in the SUBACK (0x80).
    for (const f of [
      "#",
      "tether/#",
      "tether/1/+/+/down",
      "tether/1/+/+/up",
      deviceTopic(a.shard, a.deviceId, "down"),
      deviceTopic(a.shard, a.deviceId, "up"),
      "$SYS/#",
      "$CONTROL/dynamic-security/#",
    ]) {
      assert.deepEqual(await suback(r.client, f), [128], `filter ${f} refused`);
    }
    assert.deepEqual(await suback(r.client, deviceTopic(b.shard, b.deviceId, "down")), [1]);
    // Publishing elsewhere is dropped silently (MQTT 3.1.1 cannot NACK); the server never sees it.
    await r.client.publishAsync(deviceTopic(a.shard, a.deviceId, "up"), randomBytes(40), { qos: 1 });
    await r.client.publishAsync(deviceTopic(a.shard, a.deviceId, "down"), randomBytes(40), { qos: 1 });
    await r.client.publishAsync("$CONTROL/dynamic-security/v1", '{"commands":[{"command":"listClients"}]}', {
      qos: 1,
    });
    for (let i = 0; i < 3; i++) {
      await ping("mq-1");
      await echo("mq-1", `while B listens ${i}`);
    }
    assert.deepEqual(got, [], "nothing foreign was delivered to B");
    assert.equal((await device(server.api, "mq-1")).online, true);
    r.client.end(true);
  });

  test("revoke disables the dynsec client: the connection drops, reconnects are refused, offline", async () => {
    const a = readDeviceCreds(agents[0].dataDir);
    const agent = agents[0];
    const revoked = await server.api.call("POST", "/api/v1/devices/mq-1/revoke");
    assert.equal(revoked.state, "revoked");
    assert.equal((await dynsec.getClient(a.deviceId))?.disabled, true);
    await waitFor(async () => !(await device(server.api, "mq-1")).online, "mq-1 offline");
    await waitFor(
      () => agent.stderr().includes("the broker refused this device's credentials"),
      "the agent's reconnect refused",
    );
    const r = await attempt(mosq.url, { clientId: a.deviceId, username: a.deviceId, password: a.password });
    assert.ok(!r.ok && r.code === 5, "the revoked credential is refused");
  });

  test("delete removes the device's dynsec client and role", async () => {
    const a = readDeviceCreds(agents[0].dataDir);
    await server.api.call("DELETE", "/api/v1/devices/mq-1");
    await waitFor(async () => !(await dynsec.getClient(a.deviceId)), "dynsec client gone");
    await waitFor(
      async () => !(await dynsec.listRoles()).includes(`tether-dev-${a.deviceId}`),
      "dynsec role gone",
    );
  });

  test("a server restart reconciles the broker with the database and agents come back", async () => {
    const agent3 = await enrollOnline("mq-3");
    const c3 = readDeviceCreds(agent3.dataDir);
    const b = readDeviceCreds(agents[1].dataDir);
    const ghost = "dev_zzzzzzzzzzzzzzzzzzzz";
    await dynsec.createRole(`tether-dev-${ghost}`, [
      { acltype: "publishClientSend", topic: `tether/1/0/${ghost}/up`, allow: true },
    ]);
    await dynsec.createClient({
      username: ghost,
      password: "made-by-hand",
      clientid: ghost,
      roles: [`tether-dev-${ghost}`],
    });

    await server.srv.close();
    server = await startTether();
    assert.ok(
      hasLog("deleted broker client of a device that does not exist", ghost),
      `reconciliation logged the ghost:\n${server.logs.join("")}`,
    );
    assert.ok(hasLog("broker reconciliation done"));
    assert.equal(await dynsec.getClient(ghost), undefined, "the ghost client is gone");
    assert.ok(!(await dynsec.listRoles()).includes(`tether-dev-${ghost}`), "and its role");
    assert.ok(await dynsec.getClient(c3.deviceId), "a live device's client stays");
    assert.ok(await dynsec.getClient(b.deviceId), "an offline accepted device's client stays");

    // The restarted server lost its sessions; reconciliation closed the agents' connections
    // once, so they handshake again and come back.
    await waitFor(async () => (await device(server.api, "mq-3")).online, "mq-3 online again", 60_000);
    await ping("mq-3");
    await echo("mq-3", "after restart");
  });
});
