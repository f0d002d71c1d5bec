/**
 * Raw MQTT request/response peer: bare Aedes over TLS and two MQTT.js clients, all in this
 * process (like the Tether case: server, broker and agent in one process). QoS 1, setNoDelay.
 * Usage: raw-rtt.ts TLS_JSON_FILE WARMUP STEADY_WARMUP PINGS. Event: {ev:"done", samples, steady}.
 */
import { readFileSync } from "node:fs";
import mqtt, { type MqttClient } from "mqtt";
import { startBareBroker } from "./bare.js";
import { emit, onCommand } from "./util.js";

const [tlsFile, warmArg, steadyArg, pingsArg] = process.argv.slice(2);
const WARMUP = Number(warmArg);
const STEADY_WARMUP = Number(steadyArg);
const PINGS = Number(pingsArg);
const PAYLOAD = Buffer.alloc(64, 7); // about a sealed ping frame

function connectClient(port: number, id: string, ca: string): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(`mqtts://127.0.0.1:${port}`, {
      clientId: id,
      clean: true,
      keepalive: 30,
      reconnectPeriod: 0,
      protocolVersion: 4,
      ca,
      rejectUnauthorized: true,
    });
    c.once("connect", () => {
      (c.stream as any)?.setNoDelay?.(true);
      resolve(c);
    });
    c.once("error", reject);
  });
}

const subscribe = (c: MqttClient, topic: string) =>
  new Promise<void>((resolve, reject) =>
    c.subscribe(topic, { qos: 1 }, (err) => (err ? reject(err) : resolve())),
  );

async function rawRoundTrip(tlsMaterial: { cert: string; key: string; ca: string }) {
  const broker = await startBareBroker(tlsMaterial);
  const requester = await connectClient(broker.port, "requester", tlsMaterial.ca);
  const responder = await connectClient(broker.port, "responder", tlsMaterial.ca);
  await subscribe(responder, "req");
  await subscribe(requester, "res");
  responder.on("message", (_t, payload) => responder.publish("res", payload, { qos: 1 }));
  let waiting: (() => void) | null = null;
  requester.on("message", () => {
    const w = waiting;
    waiting = null;
    w?.();
  });
  const once = () => {
    const t0 = process.hrtime.bigint();
    return new Promise<number>((resolve) => {
      waiting = () => resolve(Number(process.hrtime.bigint() - t0) / 1e6);
      requester.publish("req", PAYLOAD, { qos: 1 });
    });
  };
  for (let i = 0; i < WARMUP; i++) await once();
  const samples: number[] = [];
  for (let i = 0; i < PINGS; i++) samples.push(await once());
  for (let i = 0; i < STEADY_WARMUP; i++) await once();
  const steady: number[] = [];
  for (let i = 0; i < PINGS; i++) steady.push(await once());
  await new Promise<void>((r) => requester.end(false, {}, () => r()));
  await new Promise<void>((r) => responder.end(false, {}, () => r()));
  await broker.close();
  return { samples, steady };
}

onCommand((cmd) => {
  if (cmd === "quit") process.exit(0);
});
emit({ ev: "done", ...(await rawRoundTrip(JSON.parse(readFileSync(tlsFile, "utf8")))) });
