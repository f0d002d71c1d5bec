/**
 * The agent side of the control channel (docs/protocol.md §3–9). Only the agent starts
 * handshakes: on connect, on its rotation timer, or when the server asks with a signed,
 * rate-limited request. Sending keys live only in memory: after any restart, handshake again.
 * It knows no capability: they plug in (extension.ts) and reach it through the link port.
 */
import { randomBytes } from "node:crypto";
import { EventEmitter } from "node:events";
import {
  type DownMessage,
  type DownType,
  type DurableUpType,
  decodeDown,
  deviceTopic,
  encodeMessage,
  encodeWill,
  type Facts,
  FrameType,
  type HandshakeWelcome,
  isDurableDown,
  peekFrame,
  type PendingHandshake,
  rejectBinding,
  type Session,
  startHandshake,
  type UpBody,
  verifyReject,
  verifyRekeyRequest,
} from "@tether/protocol";
import mqtt, { type MqttClient } from "mqtt";
import type { Logger } from "pino";
import { Backoff } from "../backoff.js";
import type { AgentKeys, Identity } from "../identity.js";
import { AGENT_VERSION } from "../version.js";
import type { BrokerSecrets } from "./broker-secrets.js";
import { coreHandlers } from "./core-handlers.js";
import type { ChannelExtension, Plug } from "./extension.js";
import type { DownHandler, DownHandlers } from "./handler.js";
import type { Journal } from "./journal.js";
import { isOutRecord, type JournalRecord, type OutRecord } from "./journal-record.js";
import type { Link, PlainUpType } from "./link.js";

export interface ControlChannelOptions {
  identity: Identity;
  keys: AgentKeys;
  journal: Journal;
  log: Logger;
  facts: () => Facts;
  /** Use MQTT over WebSocket on the HTTPS port instead of the TLS port. */
  websocket?: boolean;
  keepaliveSeconds?: number;
  /** Persist the identity (a rotated broker secret), atomically and durably. */
  saveIdentity?: (id: Identity) => void;
  /** Called when the server says this agent can never work (e.g. protocol version). */
  onFatal?: (err: Error) => void;
  backoff?: Backoff;
}

const HANDSHAKE_RETRY_MS = 5000;
const HANDSHAKE_TRIES = 3;
const REFUSED_BACKOFF_MS = 5 * 60_000;

export class ControlChannel extends EventEmitter {
  readonly journal: Journal;
  /** The port capabilities use; never the channel itself. */
  readonly link: Link;
  /** The port a capability stores a rotated broker secret through. */
  readonly secrets: BrokerSecrets;
  private readonly handlers: DownHandlers;
  private readonly extension: ChannelExtension;
  private readonly log: Logger;
  private readonly id: Identity;
  private client: MqttClient | null = null;
  private connId: Buffer = randomBytes(16);
  private session?: Session;
  private previous?: Session;
  private pendingHs?: { hs: PendingHandshake; tries: number; timer: NodeJS.Timeout };
  private rekeyTimer?: NodeJS.Timeout;
  private reconnectTimer?: NodeJS.Timeout;
  private lastRekeySeq = 0n;
  private lastHandshakeAt = 0;
  private stopping = false;
  /** The rotated secret was refused on the last try: use the current one next. */
  private nextRefused = false;
  private acks: number[] = [];
  private ackScheduled = false;
  private readonly backoff: Backoff;
  private readonly up: string;
  private readonly down: string;
  readonly stats = { handshakes: 0, connects: 0, refused: 0 };

  constructor(
    private readonly o: ControlChannelOptions,
    plug: Plug,
  ) {
    super();
    this.journal = o.journal;
    this.log = o.log;
    this.id = o.identity;
    this.backoff = o.backoff ?? new Backoff();
    this.up = deviceTopic(this.id.shard, this.id.deviceId, "up");
    this.down = deviceTopic(this.id.shard, this.id.deviceId, "down");
    this.link = this.makeLink();
    this.secrets = { storeNext: (password) => this.storeNextPassword(password) };
    this.extension = plug({ link: this.link, journal: this.journal, secrets: this.secrets, log: this.log });
    this.handlers = { ...coreHandlers(this.journal), ...this.extension.handlers };
    this.extension.start();
  }

  private makeLink(): Link {
    const channel = this;
    return {
      get connected() {
        return channel.ready;
      },
      sendNow: (t, b) => this.sendNow(t, b),
      outgoing: (t, b) => this.outgoing(t, b),
      commit: (recs) => this.commit(recs),
      sendDurable: (t, b) => this.sendDurable(t, b),
    };
  }

  get ready(): boolean {
    return !!this.session && !!this.client?.connected;
  }

  start(): void {
    this.connect();
  }

  private connect(): void {
    if (this.stopping) return;
    const broker = this.id.broker;
    if (!broker) throw new Error("no broker credential; enrollment is not complete");
    this.connId = randomBytes(16);
    const url = this.o.websocket && broker.wsUrl ? broker.wsUrl : broker.url;
    // A rotated secret is tried first; until the server has applied it, the current one works.
    const useNext = !!broker.nextPassword && !this.nextRefused;
    this.stats.connects++;
    const c = mqtt.connect(url, {
      clientId: this.id.deviceId,
      username: broker.username,
      password: useNext ? broker.nextPassword : broker.password,
      clean: true,
      keepalive: this.o.keepaliveSeconds ?? 30,
      reconnectPeriod: 0,
      connectTimeout: 15_000,
      protocolVersion: 4,
      ca: broker.caCert,
      rejectUnauthorized: true,
      will: {
        topic: this.up,
        payload: encodeWill({
          deviceId: this.id.deviceId,
          connId: this.connId,
          signKey: this.o.keys.sign.privateKey,
        }),
        qos: 1,
        retain: false,
      },
    });
    this.client = c;
    let refused = false;
    c.on("connect", () => {
      (c.stream as any)?.setNoDelay?.(true);
      if (useNext && broker.nextPassword) {
        broker.password = broker.nextPassword;
        delete broker.nextPassword;
        this.o.saveIdentity?.(this.id);
        this.log.info("the rotated broker credential works; the old one is forgotten");
      }
      this.nextRefused = false;
      this.log.info({ url }, "connected to broker");
      c.subscribe(this.down, { qos: 1 }, (err, granted) => {
        if (err || !granted || granted[0]?.qos === 128) {
          this.log.error({ err: err?.message }, "the broker refused our subscription");
          c.end(true);
          return;
        }
        void this.handshake("connect");
      });
    });
    c.on("message", (_topic, payload) => {
      void this.onFrame(payload).catch((err) => this.log.error({ err }, "frame handling failed"));
    });
    c.on("error", (err: any) => {
      if (typeof err?.code === "number" && [2, 4, 5].includes(err.code) && broker.nextPassword) {
        // Mid-rotation: the other secret is the right one; switch without the long back-off.
        this.nextRefused = useNext;
        this.log.info({ triedRotated: useNext }, "broker refused one of our two secrets; trying the other");
      } else if (typeof err?.code === "number" && [2, 4, 5].includes(err.code)) {
        refused = true;
        this.stats.refused++;
        this.log.error(
          { code: err.code },
          "the broker refused this device's credentials (revoked, or the credential was rotated); backing off",
        );
      } else {
        this.log.warn({ err: err?.message }, "broker connection error");
      }
    });
    c.on("close", () => {
      if (this.client !== c) return;
      this.session = undefined;
      this.previous = undefined;
      this.clearHandshake();
      clearTimeout(this.rekeyTimer);
      this.emit("disconnected");
      if (this.stopping) return;
      const delay = refused ? REFUSED_BACKOFF_MS : this.backoff.next();
      if (refused) this.backoff.hard();
      this.log.info({ delayMs: delay }, "disconnected; reconnecting after backoff");
      this.reconnectTimer = setTimeout(() => this.connect(), delay);
    });
  }

  private clearHandshake(): void {
    if (this.pendingHs) clearTimeout(this.pendingHs.timer);
    this.pendingHs = undefined;
  }

  /** Start a handshake (docs/protocol.md §4); the counter is on disk before the frame leaves. */
  async handshake(why: string): Promise<void> {
    const c = this.client;
    if (!c?.connected || this.pendingHs) return;
    this.lastHandshakeAt = Date.now();
    const now = BigInt(Date.now());
    const counter = now > this.journal.hsCounter ? now : this.journal.hsCounter + 1n;
    await this.journal.write([{ k: "hs", counter: counter.toString() }]);
    const hs = startHandshake({
      deviceId: this.id.deviceId,
      localStatic: this.o.keys.noise,
      remoteStatic: Buffer.from(this.id.serverNoiseKey, "base64url"),
      counter,
    });
    this.log.debug({ why }, "handshake");
    const send = () => c.publish(this.up, hs.frame, { qos: 1 });
    const retry = () => {
      if (!this.pendingHs || this.pendingHs.hs !== hs) return;
      if (++this.pendingHs.tries >= HANDSHAKE_TRIES) {
        this.log.warn("no handshake reply; reconnecting");
        this.clearHandshake();
        c.end(true);
        return;
      }
      send(); // same handshake id: the server answers with its cached reply
      this.pendingHs.timer = setTimeout(retry, HANDSHAKE_RETRY_MS);
    };
    this.pendingHs = { hs, tries: 0, timer: setTimeout(retry, HANDSHAKE_RETRY_MS) };
    send();
  }

  private async onFrame(frame: Buffer): Promise<void> {
    let head: ReturnType<typeof peekFrame>;
    try {
      head = peekFrame(frame);
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, "dropped malformed frame");
      return;
    }
    switch (head.type) {
      case FrameType.HandshakeReply:
        return this.onHandshakeReply(frame);
      case FrameType.Data:
        return this.onData(frame);
      case FrameType.RekeyRequest:
        return this.onRekeyRequest(frame);
      case FrameType.Reject:
        return this.onReject(frame);
      default:
        this.log.warn({ type: head.type }, "dropped unexpected frame type");
    }
  }

  private async onHandshakeReply(frame: Buffer): Promise<void> {
    const p = this.pendingHs;
    if (!p) return;
    let session: Session;
    try {
      session = p.hs.finish(frame);
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, "rejected handshake reply");
      return;
    }
    this.clearHandshake();
    this.previous = this.session;
    this.session = session;
    this.stats.handshakes++;
    this.backoff.reset();
    let welcome: HandshakeWelcome | undefined;
    try {
      welcome = JSON.parse(session.handshakePayload.toString("utf8"));
    } catch {
      welcome = undefined;
    }
    const rekeyMs = Math.max(1, welcome?.rekeySeconds ?? 3600) * 1000;
    clearTimeout(this.rekeyTimer);
    // ±10% jitter so a fleet does not rotate in lockstep.
    this.rekeyTimer = setTimeout(() => void this.handshake("timer"), rekeyMs * (0.9 + Math.random() * 0.2));
    this.rekeyTimer.unref?.();
    this.sendNow("hello", {
      connId: this.connId.toString("hex"),
      agentVersion: AGENT_VERSION,
      facts: this.o.facts(),
    });
    for (const m of [...this.journal.outbox.values()].sort((a, b) => a.mid - b.mid)) {
      this.sendRaw({ t: m.t, mid: m.mid, b: m.b });
    }
    this.extension.onConnected();
    this.log.info({ keyId: session.keyId.toString("hex") }, "control channel ready");
    this.emit("ready");
  }

  private async onData(frame: Buffer): Promise<void> {
    const { keyId } = peekFrame(frame);
    const s = [this.session, this.previous].find((x) => x && keyId && x.keyId.equals(keyId));
    if (!s) {
      this.log.warn("data under an unknown key; asking for a fresh handshake");
      if (Date.now() - this.lastHandshakeAt > 2000) void this.handshake("unknown key");
      return;
    }
    let msg: DownMessage;
    try {
      msg = decodeDown(s.open(frame));
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, "dropped control message");
      return;
    }
    if (s === this.session) this.previous = undefined; // the server uses the new key: forget the old
    const handler = this.handlers[msg.t] as DownHandler<DownType>;
    if (!isDurableDown(msg.t)) {
      await handler(msg.b as never);
      return;
    }
    const mid = msg.mid!;
    if (this.journal.hasSeen(mid)) {
      this.queueAck(mid); // a re-send: acknowledge again, never process twice
      return;
    }
    const res = (await handler(msg.b as never)) ?? [];
    const recs = Array.isArray(res) ? res : res.records;
    await this.journal.write([...recs, { k: "seen", mid }]);
    for (const r of recs) if (isOutRecord(r)) this.sendRaw({ t: r.t, mid: r.mid, b: r.b });
    this.queueAck(mid);
    if (!Array.isArray(res)) res.after?.();
  }

  private onRekeyRequest(frame: Buffer): void {
    let seq: bigint;
    try {
      ({ seq } = verifyRekeyRequest(
        frame,
        this.id.deviceId,
        Buffer.from(this.id.serverSignKey, "base64url"),
      ));
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, "ignored bad rekey request");
      return;
    }
    if (seq <= this.lastRekeySeq || Date.now() - this.lastHandshakeAt < 2000) return;
    this.lastRekeySeq = seq;
    void this.handshake("server asked");
  }

  private onReject(frame: Buffer): void {
    let info: ReturnType<typeof verifyReject>;
    try {
      info = verifyReject(frame, this.id.deviceId, Buffer.from(this.id.serverSignKey, "base64url"));
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, "ignored bad reject frame");
      return;
    }
    // A Reject answers one HandshakeInit (docs/protocol.md §10): one that names no handshake,
    // or not the pending one, is a replayed copy and changes nothing.
    const pending = this.pendingHs?.hs.frame;
    if (!pending || info.init !== rejectBinding(pending)) {
      this.log.warn(
        { code: info.code, bound: info.init !== undefined },
        "ignored a Reject that does not answer the pending handshake (replayed?)",
      );
      return;
    }
    this.log.error({ code: info.code, supportedVersions: info.supportedVersions }, info.message);
    if (info.code === "TETHER_ERR_UNSUPPORTED_VERSION") this.o.onFatal?.(new Error(info.message));
  }

  private queueAck(mid: number): void {
    this.acks.push(mid);
    if (this.ackScheduled) return;
    this.ackScheduled = true;
    // Acknowledge only once everything before is on disk.
    void this.journal.write([]).then(() => {
      this.ackScheduled = false;
      const mids = this.acks;
      this.acks = [];
      // The ack schema caps ids per message (docs/protocol.md §7).
      for (let i = 0; i < mids.length; i += 4096) this.sendNow("ack", { mids: mids.slice(i, i + 4096) });
    });
  }

  /** Keep a rotated broker secret beside the current one, on disk before the ack goes out. */
  storeNextPassword(password: string): void {
    if (!this.id.broker) return;
    this.id.broker.nextPassword = password;
    this.nextRefused = false;
    this.o.saveIdentity?.(this.id);
  }

  /** A durable upstream message: returns the journal record; send it after it is written. */
  outgoing<K extends DurableUpType>(t: K, b: UpBody<K>): OutRecord {
    return { k: "out", mid: this.journal.allocMid(), t, b };
  }

  /** Write records (e.g. a state change plus its durable message) together, then send. */
  async commit(recs: JournalRecord[]): Promise<void> {
    await this.journal.write(recs);
    for (const r of recs) if (isOutRecord(r)) this.sendRaw({ t: r.t, mid: r.mid, b: r.b });
  }

  /** Queue a durable upstream message: on disk first, then sent, re-sent until acknowledged. */
  async sendDurable<K extends DurableUpType>(t: K, b: UpBody<K>): Promise<void> {
    const rec = this.outgoing(t, b);
    await this.journal.write([rec]);
    this.sendRaw({ t: rec.t, mid: rec.mid, b: rec.b });
  }

  sendNow<K extends PlainUpType>(t: K, b: UpBody<K>): boolean {
    return this.sendRaw({ t, b });
  }

  private sendRaw(msg: { t: string; mid?: number; b: unknown }): boolean {
    const s = this.session;
    const c = this.client;
    if (!s || !c?.connected) return false;
    c.publish(this.up, s.seal(encodeMessage(msg)), { qos: 1 });
    return true;
  }

  /** Clean shutdown: an explicit goodbye (brokers fire no will on a clean disconnect). */
  async stop(): Promise<void> {
    this.stopping = true;
    this.extension.onStopping();
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.rekeyTimer);
    this.clearHandshake();
    const c = this.client;
    if (c) {
      if (this.session && c.connected) {
        const frame = this.session.seal(
          encodeMessage({ t: "bye", b: { connId: this.connId.toString("hex") } }),
        );
        await new Promise<void>((resolve) => c.publish(this.up, frame, { qos: 1 }, () => resolve()));
      }
      await new Promise<void>((resolve) => c.end(false, {}, () => resolve()));
    }
    this.journal.close();
  }
}
