/**
 * The server side of the control channel (docs/protocol.md §4–9): Noise KK responder,
 * encrypted transport, durable outbox and acknowledgements, presence, liveness ping.
 * Frames from one device are processed in order (a handshake before the data after it).
 */
import { randomBytes } from "node:crypto";
import {
  type DownBody,
  type DownType,
  DURABLE_DOWN,
  decodeUp,
  deviceTopic,
  encodeMessage,
  encodeReject,
  encodeRekeyRequest,
  FrameType,
  type HandshakeWelcome,
  isSupportedVersion,
  PROTOCOL_VERSION,
  peekFrame,
  respondHandshake,
  type Session,
  SUPPORTED_VERSIONS,
  TetherError,
  type UpMessage,
  verifyWill,
} from "@tether/protocol";
import type { Kysely } from "kysely";
import type { Logger } from "pino";
import type { BrokerLink } from "../broker/broker-link.js";
import type { DeviceRow, Devices } from "../devices.js";
import type { ServerKeys } from "../security/server-keys.js";
import type { ExecService } from "../exec/exec-service.js";
import type { DB } from "../store/schema.js";
import { SeenIds } from "./dedupe.js";
import type { DurableContext } from "./handler-types.js";
import { upHandlers } from "./handlers/index.js";
import { Outbox } from "./outbox.js";
import { Presence } from "./presence.js";

/** The `ack` schema caps ids per message. */
const MAX_ACK_IDS = 4096;

interface DeviceSessions {
  /** Confirmed session: a message has arrived under it; used for sending. */
  current?: Session;
  /** Completed handshake, not yet confirmed by a message from the agent. */
  pending?: Session;
  lastHandshake?: { id: Buffer; reply: Buffer };
  handshakeTimes: number[];
  lastRekeyAt: number;
  seen?: SeenIds;
}

interface Waiter<T> {
  resolve(v: T): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

export interface ControlOptions {
  rekeySeconds: number;
  handshakesPerMinute: number;
  presenceDebounceMs: number;
  lastSeenFlushMs: number;
}

export const DEFAULT_CONTROL_OPTIONS: ControlOptions = {
  rekeySeconds: 3600,
  handshakesPerMinute: 30,
  presenceDebounceMs: 3000,
  lastSeenFlushMs: 5000,
};

export class ControlService {
  readonly presence: Presence;
  readonly outbox: Outbox;
  private broker!: BrokerLink;
  /** Remote command execution (set by the server wiring; handlers of exec.* use it). */
  exec!: ExecService;
  private readonly sessions = new Map<string, DeviceSessions>();
  private readonly deviceCache = new Map<string, DeviceRow>();
  private readonly chains = new Map<string, Promise<void>>();
  private readonly pongs = new Map<string, Waiter<void>>();
  private readonly echoes = new Map<string, Waiter<string>>();
  private pingRef = 0;
  private rekeySeq = 0n;
  private batch: { device: DeviceRow; msg: UpMessage }[] = [];
  private batchScheduled = false;
  private batchDone: Promise<void> = Promise.resolve();
  readonly stats = { handshakes: 0, refused: 0, decryptFailures: 0, durableBatches: 0 };

  constructor(
    private readonly db: Kysely<DB>,
    private readonly devices: Devices,
    private readonly keys: ServerKeys,
    private readonly log: Logger,
    private readonly opts: ControlOptions = DEFAULT_CONTROL_OPTIONS,
  ) {
    this.presence = new Presence(db, log, {
      debounceMs: opts.presenceDebounceMs,
      lastSeenFlushMs: opts.lastSeenFlushMs,
    });
    this.outbox = new Outbox(db);
  }

  /**
   * Device rows on the frame path come from memory: a database read per frame was the
   * largest Tether-specific cost of a round trip. Every writer of the fields used here
   * (state, keys, shard, handshake counter) goes through invalidate() or updates the row.
   */
  private async device(id: string): Promise<DeviceRow | undefined> {
    const hit = this.deviceCache.get(id);
    if (hit) return hit;
    const row = await this.devices.get(id);
    if (row && this.deviceCache.size < 100_000) this.deviceCache.set(id, row);
    return row;
  }

  invalidate(deviceId: string): void {
    this.deviceCache.delete(deviceId);
  }

  /** Called once per durable message the agent acknowledged (set by the server wiring). */
  onDelivered: (device: DeviceRow, m: { mid: number; type: string; body: unknown }) => Promise<void> =
    async () => {};

  async delivered(device: DeviceRow, m: { mid: number; type: string; body: unknown }): Promise<void> {
    try {
      await this.onDelivered(device, m);
    } catch (err) {
      this.log.error({ err, deviceId: device.id, type: m.type }, "handling a delivered message failed");
    }
  }

  attach(broker: BrokerLink): void {
    this.broker = broker;
  }

  private state(id: string): DeviceSessions {
    let s = this.sessions.get(id);
    if (!s) {
      s = { handshakeTimes: [], lastRekeyAt: 0 };
      this.sessions.set(id, s);
    }
    return s;
  }

  /** Entry point for every upstream payload; keeps per-device order. */
  onUp(deviceId: string, payload: Buffer): void {
    void this.serial(deviceId, () => this.process(deviceId, payload));
  }

  /** Run after everything already received from this device. */
  private serial(deviceId: string, fn: () => Promise<void>): Promise<void> {
    const prev = this.chains.get(deviceId) ?? Promise.resolve();
    const next = prev
      .then(fn)
      .catch((err) => this.log.error({ err, deviceId }, "control frame processing failed"));
    this.chains.set(deviceId, next);
    void next.then(() => {
      if (this.chains.get(deviceId) === next) this.chains.delete(deviceId);
    });
    return next;
  }

  private async process(deviceId: string, frame: Buffer): Promise<void> {
    let head: ReturnType<typeof peekFrame>;
    try {
      head = peekFrame(frame);
    } catch (err) {
      this.refuse(deviceId, "malformed frame", err);
      return;
    }
    const device = await this.device(deviceId);
    if (!device || device.state !== "accepted") {
      this.refuse(deviceId, "frame from a device that is not accepted");
      return;
    }
    switch (head.type) {
      case FrameType.HandshakeInit:
        return this.onHandshake(device, frame, head.version);
      case FrameType.Data:
        return this.onData(device, frame);
      case FrameType.Will:
        return this.onWill(device, frame);
      default:
        this.refuse(deviceId, `unexpected frame type ${head.type} upstream`);
    }
  }

  private refuse(deviceId: string, why: string, err?: unknown): void {
    this.stats.refused++;
    this.log.warn(
      { deviceId, err: err instanceof Error ? err.message : err },
      `refused control frame: ${why}`,
    );
  }

  private async onHandshake(device: DeviceRow, frame: Buffer, version: number): Promise<void> {
    const st = this.state(device.id);
    if (!isSupportedVersion(version)) {
      this.refuse(device.id, `protocol version ${version} unsupported`);
      await this.publishDown(
        device,
        encodeReject({
          deviceId: device.id,
          code: "TETHER_ERR_UNSUPPORTED_VERSION",
          message: `this server speaks control protocol version(s) ${SUPPORTED_VERSIONS.join(", ")}; the agent sent ${version}. Upgrade the agent.`,
          signKey: this.keys.sign.privateKey,
        }),
      );
      return;
    }
    const { handshakeId } = peekFrame(frame);
    if (st.lastHandshake && handshakeId && st.lastHandshake.id.equals(handshakeId)) {
      // A repeated first message (lost reply) gets the cached reply; no new session.
      await this.publishDown(device, st.lastHandshake.reply);
      return;
    }
    const now = Date.now();
    st.handshakeTimes = st.handshakeTimes.filter((t) => now - t < 60_000);
    if (st.handshakeTimes.length >= this.opts.handshakesPerMinute) {
      this.refuse(device.id, "handshake rate limit");
      return;
    }
    st.handshakeTimes.push(now);
    const welcome: HandshakeWelcome = { rekeySeconds: this.opts.rekeySeconds, serverTime: now };
    let r: ReturnType<typeof respondHandshake>;
    try {
      r = respondHandshake({
        deviceId: device.id,
        localStatic: this.keys.noise,
        remoteStatic: Buffer.from(device.noise_key, "base64url"),
        frame,
        payload: Buffer.from(JSON.stringify(welcome)),
      });
    } catch (err) {
      this.refuse(device.id, "handshake failed", err);
      return;
    }
    if (r.counter <= BigInt(device.hs_counter)) {
      this.refuse(device.id, `replayed handshake (counter ${r.counter} <= ${device.hs_counter})`);
      return;
    }
    await this.devices.update(device.id, { hs_counter: r.counter.toString() });
    device.hs_counter = r.counter.toString();
    st.pending = r.session;
    st.lastHandshake = { id: r.handshakeId, reply: r.reply };
    this.stats.handshakes++;
    await this.publishDown(device, r.reply);
  }

  private async onData(device: DeviceRow, frame: Buffer): Promise<void> {
    const st = this.state(device.id);
    const { keyId } = peekFrame(frame);
    const session = [st.pending, st.current].find((s) => s && keyId && s.keyId.equals(keyId));
    if (!session) {
      this.refuse(device.id, "data under an unknown key");
      await this.requestRekey(device);
      return;
    }
    let plain: Buffer;
    try {
      plain = session.open(frame);
    } catch (err) {
      this.stats.decryptFailures++;
      this.refuse(device.id, "data frame rejected", err);
      return;
    }
    let confirmed = false;
    if (session === st.pending) {
      // First message under the new key: it becomes the sending key; the old one is dropped.
      st.current = session;
      st.pending = undefined;
      confirmed = true;
    }
    if (confirmed) await this.resendOutbox(device);
    let msg: UpMessage;
    try {
      msg = decodeUp(plain);
    } catch (err) {
      this.refuse(device.id, "malformed message", err);
      return;
    }
    this.presence.touch(device.id);
    const handler = upHandlers[msg.t] as {
      durable: boolean;
      handle(ctx: any, body: any): Promise<void> | void;
    };
    if (handler.durable) {
      this.queueDurable(device, msg);
    } else {
      await handler.handle({ device, control: this }, msg.b);
    }
  }

  private async onWill(device: DeviceRow, frame: Buffer): Promise<void> {
    let connId: Buffer;
    try {
      ({ connId } = verifyWill(frame, device.id, Buffer.from(device.sign_key, "base64url")));
    } catch (err) {
      this.refuse(device.id, "bad will", err);
      return;
    }
    if (await this.presence.offline(device.id, "connection lost", connId.toString("hex")))
      this.dropSessions(device.id);
  }

  /** Embedded broker: the socket closed. */
  async onDisconnect(deviceId: string): Promise<void> {
    // In order with the device's frames: a goodbye received before the close must win.
    await this.serial(deviceId, async () => {
      await this.presence.offline(deviceId, "socket closed");
      this.dropSessions(deviceId);
    });
  }

  dropSessions(deviceId: string): void {
    const st = this.sessions.get(deviceId);
    if (st) {
      st.current = undefined;
      st.pending = undefined;
    }
  }

  /** Revocation: forget every key and queued message of the device. */
  async forget(deviceId: string): Promise<void> {
    this.sessions.delete(deviceId);
    this.deviceCache.delete(deviceId);
    await this.outbox.clear(deviceId);
    await this.presence.offline(deviceId, "revoked");
  }

  private queueDurable(device: DeviceRow, msg: UpMessage): void {
    this.batch.push({ device, msg });
    if (this.batchScheduled) return;
    this.batchScheduled = true;
    setImmediate(() => {
      this.batchScheduled = false;
      const items = this.batch;
      this.batch = [];
      this.batchDone = this.batchDone.then(() => this.commitDurable(items));
    });
  }

  /** One transaction for every durable message that arrived together (docs/architecture.md §2). */
  private async commitDurable(items: { device: DeviceRow; msg: UpMessage }[]): Promise<void> {
    const afters: (() => void)[] = [];
    const acks = new Map<string, { device: DeviceRow; mids: number[] }>();
    try {
      await this.db.transaction().execute(async (trx) => {
        const touched = new Set<string>();
        for (const { device, msg } of items) {
          const st = this.state(device.id);
          if (!st.seen) {
            // Loaded inside the transaction, never from a cached row: it must be current.
            const r = await trx
              .selectFrom("devices")
              .select(["up_low", "up_above"])
              .where("id", "=", device.id)
              .executeTakeFirst();
            if (!r) continue; // deleted meanwhile
            st.seen = new SeenIds(r.up_low, JSON.parse(r.up_above));
          }
          const mid = msg.mid!;
          const a = acks.get(device.id) ?? { device, mids: [] };
          a.mids.push(mid);
          acks.set(device.id, a);
          if (st.seen.has(mid)) continue; // duplicate: acknowledge again, do nothing
          const ctx: DurableContext = { device, control: this, trx, after: (fn) => afters.push(fn) };
          await (upHandlers[msg.t] as any).handle(ctx, msg.b);
          st.seen.add(mid);
          touched.add(device.id);
        }
        for (const id of touched) {
          const seen = this.state(id).seen!;
          await trx
            .updateTable("devices")
            .set({ up_low: seen.low, up_above: JSON.stringify(seen.above) })
            .where("id", "=", id)
            .execute();
        }
      });
    } catch (err) {
      // Not acknowledged, so the agent re-sends after its next handshake; reload state.
      for (const { device } of items) {
        const st = this.sessions.get(device.id);
        if (st) st.seen = undefined;
      }
      this.log.error({ err }, "durable batch failed; messages will be re-sent by the agents");
      return;
    }
    this.stats.durableBatches++;
    for (const fn of afters) fn();
    for (const { device, mids } of acks.values()) {
      for (let i = 0; i < mids.length; i += MAX_ACK_IDS) {
        await this.sendNow(device, "ack", { mids: mids.slice(i, i + MAX_ACK_IDS) }).catch(() => {});
      }
    }
  }

  private async resendOutbox(device: DeviceRow): Promise<void> {
    for (const m of await this.outbox.pending(device.id)) {
      await this.sealAndPublish(device, { t: m.type, mid: m.mid, b: m.body });
    }
  }

  private async requestRekey(device: DeviceRow): Promise<void> {
    const st = this.state(device.id);
    const now = Date.now();
    if (now - st.lastRekeyAt < 2000) return;
    st.lastRekeyAt = now;
    const nowSeq = BigInt(now);
    this.rekeySeq = this.rekeySeq >= nowSeq ? this.rekeySeq + 1n : nowSeq;
    await this.publishDown(
      device,
      encodeRekeyRequest({ deviceId: device.id, seq: this.rekeySeq, signKey: this.keys.sign.privateKey }),
    );
  }

  private async publishDown(device: DeviceRow, frame: Buffer): Promise<void> {
    await this.broker.publish(deviceTopic(device.shard, device.id, "down"), frame);
  }

  private async sealAndPublish(
    device: DeviceRow,
    msg: { t: string; mid?: number; b: unknown },
  ): Promise<void> {
    const s = this.sessions.get(device.id)?.current;
    if (!s) throw new TetherError("TETHER_ERR_DEVICE_OFFLINE", `device ${device.name} is not connected`);
    await this.publishDown(device, s.seal(encodeMessage(msg)));
  }

  /** Non-durable send (ping, ack): fails at once if there is no session. */
  async sendNow<K extends DownType>(device: DeviceRow, t: K, b: DownBody<K>): Promise<void> {
    if (DURABLE_DOWN.has(t)) throw new Error(`${t} is durable; use enqueue`);
    await this.sealAndPublish(device, { t, b });
  }

  /** Durable send: stored first, sent now if connected, re-sent after each handshake until acked. */
  async enqueue<K extends DownType>(device: DeviceRow, t: K, b: DownBody<K>): Promise<number> {
    const m = await this.outbox.add(device.id, t, b);
    if (this.sessions.get(device.id)?.current) {
      await this.sealAndPublish(device, { t, mid: m.mid, b }).catch(() => {});
    }
    return m.mid;
  }

  /** Send an already stored durable message now if the device is connected (else after its handshake). */
  async publishStored(device: DeviceRow, m: { mid: number; type: string; body: unknown }): Promise<void> {
    if (!this.sessions.get(device.id)?.current) return;
    await this.sealAndPublish(device, { t: m.type, mid: m.mid, b: m.body }).catch(() => {});
  }

  isConnected(deviceId: string): boolean {
    return !!this.sessions.get(deviceId)?.current;
  }

  /** Liveness round trip; no durable write on either side. Resolves with milliseconds. */
  async ping(device: DeviceRow, timeoutMs = 10_000): Promise<number> {
    const ref = ++this.pingRef;
    const key = `${device.id}:${ref}`;
    const t0 = process.hrtime.bigint();
    const done = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pongs.delete(key);
        reject(
          new TetherError("TETHER_ERR_DEVICE_TIMEOUT", `no answer from ${device.name} in ${timeoutMs} ms`),
        );
      }, timeoutMs);
      this.pongs.set(key, { resolve, reject, timer });
    });
    try {
      await this.sendNow(device, "ping", { ref });
    } catch (err) {
      const w = this.pongs.get(key);
      if (w) clearTimeout(w.timer);
      this.pongs.delete(key);
      throw err;
    }
    await done;
    return Number(process.hrtime.bigint() - t0) / 1e6;
  }

  resolvePong(deviceId: string, ref: number): void {
    const key = `${deviceId}:${ref}`;
    const w = this.pongs.get(key);
    if (!w) return;
    clearTimeout(w.timer);
    this.pongs.delete(key);
    w.resolve();
  }

  /** Durable echo probe: resolves with the agent's reply, even across reconnects. */
  async echo(device: DeviceRow, data: string, timeoutMs: number): Promise<{ ref: string; data: string }> {
    const ref = randomBytes(8).toString("hex");
    const got = timeoutMs > 0 ? this.waitEcho(device.id, ref, timeoutMs) : null;
    await this.enqueue(device, "echo", { ref, data });
    if (!got) return { ref, data: "" };
    return { ref, data: await got };
  }

  private waitEcho(deviceId: string, ref: string, timeoutMs: number): Promise<string> {
    return new Promise((resolve, reject) => {
      const key = `${deviceId}:${ref}`;
      const timer = setTimeout(() => {
        this.echoes.delete(key);
        reject(
          new TetherError("TETHER_ERR_DEVICE_TIMEOUT", "no echo reply yet; it stays queued for the device"),
        );
      }, timeoutMs);
      this.echoes.set(key, { resolve, reject, timer });
    });
  }

  resolveEcho(deviceId: string, ref: string, data: string): void {
    const key = `${deviceId}:${ref}`;
    const w = this.echoes.get(key);
    if (!w) return;
    clearTimeout(w.timer);
    this.echoes.delete(key);
    w.resolve(data);
  }

  async close(): Promise<void> {
    await this.batchDone;
    for (const w of [...this.pongs.values(), ...this.echoes.values()]) {
      clearTimeout(w.timer);
      w.reject(new Error("server shutting down"));
    }
    await this.presence.close();
  }
}

export { PROTOCOL_VERSION };
