/**
 * Acting as a device with a raw MQTT client: read an enrolled agent's credentials from its
 * data directory, and attempt a connection reporting exactly how it ended.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import mqtt, { type IClientOptions, type MqttClient } from "mqtt";

export interface DeviceCreds {
  deviceId: string;
  shard: number;
  url: string;
  username: string;
  password: string;
  ca: string;
  signKey: Buffer;
}

export function readDeviceCreds(dataDir: string): DeviceCreds {
  const id = JSON.parse(readFileSync(join(dataDir, "identity.json"), "utf8"));
  const keys = JSON.parse(readFileSync(join(dataDir, "keys.json"), "utf8"));
  return {
    deviceId: id.deviceId,
    shard: id.shard,
    url: id.broker.url,
    username: id.broker.username,
    password: id.broker.password,
    ca: id.broker.caCert,
    signKey: Buffer.from(keys.signPrivate, "base64url"),
  };
}

export type Attempt = { ok: true; client: MqttClient } | { ok: false; code?: number; how: string };

/** Connect and report the outcome: CONNACK accepted, CONNACK refused (code), or closed. */
export function attempt(url: string, opts: IClientOptions): Promise<Attempt> {
  return new Promise((resolve) => {
    const c = mqtt.connect(url, {
      reconnectPeriod: 0,
      protocolVersion: 4,
      clean: true,
      connectTimeout: 15_000,
      ...opts,
    });
    let done = false;
    const fin = (r: Attempt) => {
      if (done) return;
      done = true;
      if (!r.ok) c.end(true);
      resolve(r);
    };
    c.once("connect", () => fin({ ok: true, client: c }));
    c.on("error", (err: any) =>
      fin({
        ok: false,
        code: typeof err?.code === "number" ? err.code : undefined,
        how: String(err?.message),
      }),
    );
    c.on("close", () => fin({ ok: false, how: "closed before CONNACK" }));
  });
}

/**
 * SUBSCRIBE at QoS 1 and return the SUBACK return codes, in order (0x80 = refused). MQTT.js
 * rejects on any 0x80; the packet is on the error.
 */
export async function suback(c: MqttClient, filters: string | string[]): Promise<number[]> {
  const list = typeof filters === "string" ? [filters] : filters;
  try {
    const g = await c.subscribeAsync(Object.fromEntries(list.map((f) => [f, { qos: 1 as const }])));
    return g.map((x) => x.qos);
  } catch (err: any) {
    if (Array.isArray(err?.packet?.granted)) return err.packet.granted;
    throw err;
  }
}
