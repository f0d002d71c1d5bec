/**
 * Acting as a device with a raw MQTT client: read an enrolled agent's credentials from its
 * data directory, attempt a connection reporting exactly how it ended, and play a whole device
 * (handshake, hello, answers) frame by frame with RawDevice.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Identity } from "@tether/agent";
import {
  type DownMessage,
  decodeDown,
  deviceTopic,
  encodeMessage,
  FrameType,
  type KeyPair,
  type PendingHandshake,
  peekFrame,
  type Session,
  startHandshake,
} from "@tether/protocol";
import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import { waitFor } from "../e2e/harness.js";
import { deviceFacts } from "./enroll-device.js";

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

/** What RawDevice needs of a device: its identity, broker credentials and both key pairs. */
export interface RawIdent {
  deviceId: string;
  shard: number;
  serverNoiseKey: Buffer;
  serverSignKey: Buffer;
  broker: { url: string; username: string; password: string; caCert: string };
  noise: KeyPair;
  sign: KeyPair;
}

const b64u = (s: string) => Buffer.from(s, "base64url");

/** The RawIdent of an agent that enrolled with data directory `dataDir`. */
export function readIdent(dataDir: string): RawIdent {
  const id = JSON.parse(readFileSync(join(dataDir, "identity.json"), "utf8"));
  const k = JSON.parse(readFileSync(join(dataDir, "keys.json"), "utf8"));
  return {
    deviceId: id.deviceId,
    shard: id.shard,
    serverNoiseKey: b64u(id.serverNoiseKey),
    serverSignKey: b64u(id.serverSignKey),
    broker: id.broker,
    noise: { publicKey: b64u(k.noisePublic), privateKey: b64u(k.noisePrivate) },
    sign: { publicKey: b64u(k.signPublic), privateKey: b64u(k.signPrivate) },
  };
}

/** The RawIdent of an in-process enrollment (an accepted one: it has broker credentials). */
export function identOf(e: { id: Identity; keys: { sign: KeyPair; noise: KeyPair } }): RawIdent {
  assert.ok(e.id.broker, `${e.id.deviceId} has no broker credentials`);
  return {
    deviceId: e.id.deviceId,
    shard: e.id.shard,
    serverNoiseKey: b64u(e.id.serverNoiseKey),
    serverSignKey: b64u(e.id.serverSignKey),
    broker: e.id.broker,
    noise: e.keys.noise,
    sign: e.keys.sign,
  };
}

export const isType = (t: number) => (f: Buffer) => f.length >= 2 && f[1] === t;
const hex = () => randomBytes(16).toString("hex");

/**
 * The device, played by the test: answers pings (unless told not to) and acknowledges echoes
 * like an agent. Its hello reports deviceFacts("raw-device").
 */
export class RawDevice {
  readonly frames: Buffer[] = [];
  readonly messages: DownMessage[] = [];
  session?: Session;
  connId?: string;
  /** Counter of the last handshake this device completed. */
  lastCounter = 0n;
  /** False plays a device whose connection is gone: pings go unanswered. */
  answerPings = true;
  /** The QoS the broker granted the subscription to the down topic. */
  granted?: number;
  private counter = BigInt(Date.now()) * 1000n;
  private mid = 0;
  readonly up: string;
  readonly down: string;

  constructor(
    readonly id: RawIdent,
    readonly client: MqttClient,
  ) {
    this.up = deviceTopic(id.shard, id.deviceId, "up");
    this.down = deviceTopic(id.shard, id.deviceId, "down");
    client.on("message", (_t, payload) => this.onFrame(Buffer.from(payload)));
  }

  /** Connects to the broker with the device's credentials and subscribes to its down topic. */
  static async connect(id: RawIdent): Promise<RawDevice> {
    const client = await mqtt.connectAsync(id.broker.url, {
      clientId: id.deviceId,
      username: id.broker.username,
      password: id.broker.password,
      ca: id.broker.caCert,
      rejectUnauthorized: true,
      reconnectPeriod: 0,
      protocolVersion: 4,
      clean: true,
    });
    const d = new RawDevice(id, client);
    const g = await client.subscribeAsync(d.down, { qos: 1 });
    d.granted = g[0]?.qos;
    return d;
  }

  private onFrame(f: Buffer): void {
    this.frames.push(f);
    if (!isType(FrameType.Data)(f) || !this.session) return;
    let msg: DownMessage;
    try {
      if (!peekFrame(f).keyId?.equals(this.session.keyId)) return;
      msg = decodeDown(this.session.open(f));
    } catch {
      return;
    }
    this.messages.push(msg);
    if (msg.t === "ping" && this.answerPings) void this.send({ t: "pong", b: { ref: msg.b.ref } });
    if (msg.t === "echo") void this.send({ t: "ack", b: { mids: [msg.mid!] } });
  }

  nextCounter(): bigint {
    this.counter += 1n;
    return this.counter;
  }

  publish(frame: Buffer): Promise<unknown> {
    return this.client.publishAsync(this.up, frame, { qos: 1 });
  }

  seal(msg: { t: string; mid?: number; b: unknown }): Buffer {
    assert.ok(this.session, "no session");
    return this.session.seal(encodeMessage(msg));
  }

  send(msg: { t: string; mid?: number; b: unknown }): Promise<unknown> {
    return this.publish(this.seal(msg));
  }

  waitFrame(pred: (f: Buffer) => boolean, from: number, what: string): Promise<Buffer> {
    return waitFor(() => this.frames.slice(from).find(pred), what, 15_000);
  }

  init(counter = this.nextCounter()): PendingHandshake {
    return startHandshake({
      deviceId: this.id.deviceId,
      localStatic: this.id.noise,
      remoteStatic: this.id.serverNoiseKey,
      counter,
    });
  }

  /** A full handshake: HandshakeInit up, HandshakeReply down, Session. */
  async handshake(
    counter = this.nextCounter(),
  ): Promise<{ hs: PendingHandshake; session: Session; reply: Buffer }> {
    const hs = this.init(counter);
    const from = this.frames.length;
    await this.publish(hs.frame);
    const reply = await this.waitFrame(
      (f) => isType(FrameType.HandshakeReply)(f) && f.subarray(2, 10).equals(hs.handshakeId),
      from,
      "handshake reply",
    );
    const session = hs.finish(reply);
    this.session = session;
    this.lastCounter = counter;
    return { hs, session, reply };
  }

  helloFrame(connId = hex()): Buffer {
    return this.seal({
      t: "hello",
      b: { connId, agentVersion: "test", facts: deviceFacts("raw-device") },
    });
  }

  async hello(connId = hex()): Promise<string> {
    await this.publish(this.helloFrame(connId));
    this.connId = connId;
    return connId;
  }

  /** Handshake, then hello: online. */
  async online(): Promise<void> {
    await this.handshake();
    await this.hello();
  }

  /** A durable upstream message; acked(mid) tells when the server acknowledged it. */
  async durable(t: string, b: unknown): Promise<number> {
    const mid = ++this.mid;
    await this.send({ t, mid, b });
    return mid;
  }

  acked(mid: number): boolean {
    return this.messages.some((m) => m.t === "ack" && (m.b as { mids: number[] }).mids.includes(mid));
  }

  /** A HandshakeInit of an unsupported version: always answered by a Reject. */
  async rejected(counter = this.nextCounter(), what = "reject"): Promise<{ init: Buffer; reject: Buffer }> {
    const init = Buffer.from(this.init(counter).frame);
    init[0] = 2;
    const from = this.frames.length;
    await this.publish(init);
    const reject = await this.waitFrame(isType(FrameType.Reject), from, what);
    return { init, reject };
  }

  /**
   * Ordering barrier that needs no session: a HandshakeInit with an unsupported version
   * is always answered with a Reject, after every frame published before it.
   */
  async sync(): Promise<void> {
    await this.rejected(0n, "reject (sync barrier)");
  }
}
