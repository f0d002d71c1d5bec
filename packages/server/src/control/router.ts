/**
 * Entry point of every upstream payload (docs/protocol.md §4–9): frames from one device are
 * processed in order (a handshake before the data after it), checked, decrypted, decoded,
 * and handed to the one handler of their message type — at once, or through the durable
 * inbox for durable types. Nothing is processed for a device that is not accepted.
 */
import { decodeUp, FrameType, isDurableUp, peekFrame, type UpMessage, verifyWill } from "@tether/protocol";
import type { Logger } from "pino";
import type { DeviceRow } from "../devices.js";
import type { DeviceCache } from "./device-cache.js";
import type { Refuse } from "./downlink.js";
import type { DurableContext, HandlerContext, UpHandlers } from "./handler-types.js";
import type { DurableInbox } from "./inbox.js";
import type { Presence } from "./presence.js";
import type { Sender } from "./sender.js";
import type { Sessions } from "./sessions.js";

type AnyHandler = (ctx: HandlerContext | DurableContext, body: unknown) => Promise<void> | void;

export interface RouterParts {
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

  constructor(private readonly p: RouterParts) {}

  /** Dispatch one decoded message to its handler (the durable inbox calls this in its transaction). */
  dispatch(ctx: HandlerContext | DurableContext, msg: UpMessage): Promise<void> | void {
    return (this.p.handlers()[msg.t] as AnyHandler)(ctx, msg.b);
  }

  onUp(deviceId: string, payload: Buffer): void {
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
    if (await this.p.presence.offline(device.id, "connection lost", connId.toString("hex")))
      this.p.sessions.drop(device.id);
  }
}
