/**
 * Round trips through an external Mosquitto (started by bench/control.ts), each case in a
 * fresh process so neither profits from code the other warmed up:
 *  - tether: an in-process server with broker: {url, adminFile} and one in-process agent;
 *    server.capabilities.ping.ping(device).
 *  - raw: two plain MQTT.js clients (requester, responder) with their own dynsec client/role.
 * Both: plain MQTT over TCP on loopback, QoS 1, setNoDelay.
 * Usage: mosquitto-rtt.ts tether|raw URL ADMIN_FILE TMP_DIR WARMUP STEADY_WARMUP PINGS.
 * Event: {ev:"done", samples, steady}.
 */
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { collectFacts, ControlClient, Journal, prepareIdentity } from "@tether/agent";
import { createServer } from "@tether/server";
import mqtt, { type MqttClient } from "mqtt";
import pino from "pino";
import { DynsecClient, readAdminFile } from "../../packages/server/src/broker/dynsec.js";
import { emit, onCommand, sleep } from "./util.js";

const [mode, url, adminFile, tmpDir, warmArg, steadyArg, pingsArg] = process.argv.slice(2);
const WARMUP = Number(warmArg);
const STEADY_WARMUP = Number(steadyArg);
const PINGS = Number(pingsArg);
const PAYLOAD = Buffer.alloc(64, 7); // about a sealed ping frame
const log = pino({ level: "warn" }, pino.destination(2));

/** WARMUP, PINGS measured, STEADY_WARMUP more, PINGS measured again. */
async function measure(once: () => Promise<number>) {
  for (let i = 0; i < WARMUP; i++) await once();
  const samples: number[] = [];
  for (let i = 0; i < PINGS; i++) samples.push(await once());
  for (let i = 0; i < STEADY_WARMUP; i++) await once();
  const steady: number[] = [];
  for (let i = 0; i < PINGS; i++) steady.push(await once());
  return { samples, steady };
}

async function tether() {
  const srv = await createServer({
    dataDir: join(tmpDir, "mosq-rtt-server"),
    listen: { host: "127.0.0.1", port: 0 },
    mqttListen: { host: "127.0.0.1", port: 0 },
    broker: { url, adminFile },
    log,
  });
  const info = await srv.listen();
  const projectId = await srv.services.accounts.projectId("default");
  const { token } = await srv.services.enrollment.createToken(projectId, "bench", { autoAccept: true });
  const dataDir = join(tmpDir, "mosq-rtt-agent");
  const { identity, keys } = await prepareIdentity(
    { dataDir, url: info.url, token, name: "bench-mosq" },
    log,
  );
  if (identity.broker.url !== url) throw new Error(`agent given ${identity.broker.url}, not ${url}`);
  const client = new ControlClient({
    identity,
    keys,
    journal: new Journal(dataDir),
    log,
    facts: collectFacts,
  });
  const ready = new Promise<void>((r) => client.once("ready", () => r()));
  client.start();
  await ready;
  const deadline = Date.now() + 30_000;
  while ((await srv.services.devices.get(identity.deviceId))?.online !== 1) {
    if (Date.now() > deadline) throw new Error("the agent did not come online through Mosquitto");
    await sleep(25);
  }
  const device = (await srv.services.devices.get(identity.deviceId))!;
  const r = await measure(() => srv.capabilities.ping.ping(device));
  await client.stop();
  await srv.close();
  return r;
}

async function raw() {
  const dynsec = await DynsecClient.connect({ url, admin: readAdminFile(adminFile), log });
  const role = "bench-raw";
  await dynsec.createRole(role, [
    { acltype: "publishClientSend", topic: "bench/#", allow: true },
    { acltype: "subscribePattern", topic: "bench/#", allow: true },
    { acltype: "publishClientReceive", topic: "bench/#", allow: true },
  ]);
  const password = randomBytes(18).toString("base64url");
  for (const username of ["bench-req", "bench-res"]) {
    await dynsec.createClient({ username, password, clientid: username, roles: [role] });
  }
  const connect = (id: string) =>
    new Promise<MqttClient>((resolve, reject) => {
      const c = mqtt.connect(url, {
        clientId: id,
        username: id,
        password,
        clean: true,
        keepalive: 30,
        reconnectPeriod: 0,
        protocolVersion: 4,
      });
      c.once("connect", () => {
        (c.stream as any)?.setNoDelay?.(true);
        resolve(c);
      });
      c.once("error", reject);
    });
  const requester = await connect("bench-req");
  const responder = await connect("bench-res");
  for (const [c, t] of [
    [responder, "bench/req"],
    [requester, "bench/res"],
  ] as const) {
    const granted = await c.subscribeAsync(t, { qos: 1 });
    if (granted[0]?.qos !== 1) throw new Error(`subscription to ${t} refused`);
  }
  responder.on("message", (_t, payload) => responder.publish("bench/res", payload, { qos: 1 }));
  let waiting: (() => void) | null = null;
  requester.on("message", () => {
    const w = waiting;
    waiting = null;
    w?.();
  });
  const r = await measure(() => {
    const t0 = process.hrtime.bigint();
    return new Promise<number>((resolve) => {
      waiting = () => resolve(Number(process.hrtime.bigint() - t0) / 1e6);
      requester.publish("bench/req", PAYLOAD, { qos: 1 });
    });
  });
  await new Promise<void>((res) => requester.end(false, {}, () => res()));
  await new Promise<void>((res) => responder.end(false, {}, () => res()));
  for (const username of ["bench-req", "bench-res"]) await dynsec.deleteClient(username);
  await dynsec.deleteRole(role);
  await dynsec.close();
  return r;
}

onCommand((cmd) => {
  if (cmd === "quit") process.exit(0);
});
if (mode !== "tether" && mode !== "raw") throw new Error(`mode must be tether or raw, not ${mode}`);
emit({ ev: "done", ...(mode === "tether" ? await tether() : await raw()) });
