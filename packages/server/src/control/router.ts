/**
 * Entry point of every upstream payload (docs/protocol.md §4–9): frames from one device are
 * processed in order (a handshake before the data after it), checked, decrypted, decoded,
 * and handed to the one handler of their message type — at once, or through the durable
 * inbox for durable types. Nothing is processed for a device that is not accepted.
 */
import {
  decodeUp,
  FrameType,
  isDurableUp,
  peekFrame,
  type UpMessage,
  verifyWill,
  WILL_CHECK_REF,
} from "@tether/protocol";
import type { Logger } from "pino";
import type { DeviceRow } from "../devices.js";
import type { DeviceCache } from "./device-cache.js";
import type { ControlStats, Refuse } from "./downlink.js";
import type { DurableContext, HandlerContext, UpHandlers } from "./handler-types.js";
import type { DurableInbox } from "./inbox.js";
import type { Presence } from "./presence.js";
import type { DeviceRateLimit } from "./rate-limit.js";
import type { Sender } from "./sender.js";
import type { Sessions } from "./sessions.js";

type AnyHandler = (ctx: HandlerContext | DurableContext, body: unknown) => Promise<void> | void;

export interface RouterParts {
  rateLimit: DeviceRateLimit;
  /** How long a will of the current connection waits for a sign of life (§9). */
  willConfirmMs: number;
  stats: ControlStats;
  cache: DeviceCache;
  sessions: Sessions;
  sender: Sender;
  presence: Presence;
  inbox: () => DurableInbox;
  handlers: () => UpHandlers;
  refuse: Refuse;
  log: Logger;
}

export class Router {
  private readonly chains = new Map<string, Promise<void>>();
  /** Devices whose current connection's will is being checked: called on any fresh message. */
  private readonly willChecks = new Map<string, () => void>();

  constructor(private readonly p: RouterParts) {}

  /** Dispatch one decoded message to its handler (the durable inbox calls this in its transaction). */
  dispatch(ctx: HandlerContext | DurableContext, msg: UpMessage): Promise<void> | void {
    this.p.stats.messagesUp++;
    return (this.p.handlers()[msg.t] as AnyHandler)(ctx, msg.b);
  }

  onUp(deviceId: string, payload: Buffer): void {
    // Before any work on the frame: a flooding device costs a map lookup per frame.
    if (!this.p.rateLimit.take(deviceId)) return;
    void this.serial(deviceId, () => this.process(deviceId, payload));
  }

  /** Embedded broker: the socket closed. In order with the device's frames: a goodbye received before the close must win. */
  async onDisconnect(deviceId: string): Promise<void> {
    await this.serial(deviceId, async () => {
      await this.p.presence.offline(deviceId, "socket closed");
      this.p.sessions.drop(deviceId);
    });
  }

  /** Run after everything already received from this device. */
  private serial(deviceId: string, fn: () => Promise<void>): Promise<void> {
    const prev = this.chains.get(deviceId) ?? Promise.resolve();
    const next = prev
      .then(fn)
      .catch((err) => this.p.log.error({ err, deviceId }, "control frame processing failed"));
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
      this.p.refuse(deviceId, "malformed frame", err);
      return;
    }
    const device = await this.p.cache.get(deviceId);
    if (!device || device.state !== "accepted") {
      this.p.refuse(deviceId, "frame from a device that is not accepted");
      return;
    }
    switch (head.type) {
      case FrameType.HandshakeInit:
        return this.p.sessions.handshake(device, frame, head.version);
      case FrameType.Data:
        return this.onData(device, frame);
      case FrameType.Will:
        return this.onWill(device, frame);
      default:
        this.p.refuse(deviceId, `unexpected frame type ${head.type} upstream`);
    }
  }

  private async onData(device: DeviceRow, frame: Buffer): Promise<void> {
    const opened = await this.p.sessions.open(device, frame);
    if (!opened) return;
    if (opened.confirmed) await this.p.sender.resend(device);
    let msg: UpMessage;
    try {
      msg = decodeUp(opened.plain);
    } catch (err) {
      this.p.refuse(device.id, "malformed message", err);
      return;
    }
    this.p.presence.touch(device.id);
    this.willChecks.get(device.id)?.(); // a fresh, authenticated message: the device is alive
    if (isDurableUp(msg.t)) this.p.inbox().queue(device, msg);
    else await this.dispatch({ device }, msg);
  }

  private async onWill(device: DeviceRow, frame: Buffer): Promise<void> {
    let connId: Buffer;
    try {
      ({ connId } = verifyWill(frame, device.id, Buffer.from(device.sign_key, "base64url")));
    } catch (err) {
      this.p.refuse(device.id, "bad will", err);
      return;
    }
    const conn = connId.toString("hex");
    if (this.p.presence.currentConn(device.id) !== conn) {
      this.p.log.debug({ deviceId: device.id, connId: conn }, "ignored the will of an old connection");
      return;
    }
    // A will of the current connection may have been published early or replayed (it is the
    // same signed bytes for the whole connection): confirm before marking offline. Not
    // awaited here, so the device's answer is processed meanwhile.
    if (!this.willChecks.has(device.id)) void this.confirmWill(device, conn);
  }

  /** Ping the device; offline only if nothing fresh arrives from it within willConfirmMs. */
  private async confirmWill(device: DeviceRow, conn: string): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    let heard!: () => void;
    const answered = new Promise<boolean>((resolve) => {
      heard = () => resolve(true);
      timer = setTimeout(() => resolve(false), this.p.willConfirmMs);
    });
    this.willChecks.set(device.id, heard);
    let alive = false;
    try {
      // ref 0 is never used by the ping capability, so its pong settles no caller's ping.
      await this.p.sender.send(device, "ping", { ref: WILL_CHECK_REF });
      alive = await answered;
    } catch {
      alive = false; // no session to ask through: nothing can answer
    } finally {
      clearTimeout(timer);
      this.willChecks.delete(device.id);
    }
    if (alive) {
      this.p.stats.willsIgnored++;
      this.p.log.warn(
        { deviceId: device.id, connId: conn },
        "ignored a will of the current connection: the device still answers (early or replayed will)",
      );
      return;
    }
    await this.serial(device.id, async () => {
      if (await this.p.presence.offline(device.id, "connection lost", conn)) this.p.sessions.drop(device.id);
    });
  }
}
