/**
 * The server side of the control channel (docs/protocol.md §4–9), assembled from its parts:
 * router (frames in, per-device order), sessions (Noise KK responder and keys), durable
 * inbox (batched, de-duplicated, acknowledged), sender (the one write path down; the
 * ControlLink that capabilities receive), outbox and presence. The transport never imports
 * a capability: capabilities hand their handlers in through `route()`.
 */
import type { Kysely } from "kysely";
import type { Logger } from "pino";
import type { BrokerLink } from "../broker/broker-link.js";
import type { DeviceRow, Devices } from "../devices.js";
import type { ServerKeys } from "../security/server-keys.js";
import type { DB } from "../store/schema.js";
import { DeviceCache } from "./device-cache.js";
import { type ControlStats, Downlink } from "./downlink.js";
import type { DeliveredHandlers, UpHandlerMap, UpHandlers } from "./handler-types.js";
import { type CoreUpType, coreHandlers } from "./handlers/index.js";
import { DurableInbox } from "./inbox.js";
import type { ControlLink } from "./link.js";
import { Outbox, type OutboxMessage } from "./outbox.js";
import { Presence } from "./presence.js";
import { DeviceRateLimit } from "./rate-limit.js";
import { Router } from "./router.js";
import { Sender } from "./sender.js";
import { Sessions } from "./sessions.js";

export type { ControlStats } from "./downlink.js";
export type {
  DeliveredHandler,
  DeliveredHandlers,
  DurableContext,
  HandlerContext,
  UpHandler,
  UpHandlerMap,
  UpHandlers,
} from "./handler-types.js";
export type { CoreUpType } from "./handlers/index.js";
export type { ControlLink, PlainDownType, StoredMessage } from "./link.js";
export type { Presence, PresenceEvent } from "./presence.js";

export interface ControlOptions {
  rekeySeconds: number;
  handshakesPerMinute: number;
  presenceDebounceMs: number;
  lastSeenFlushMs: number;
  /** Per-device message rate limit: sustained messages per second, and burst (./rate-limit.ts). */
  deviceRate: number;
  deviceBurst: number;
  /** At most one rate-limit warn line (and counter update) per device per this many ms. */
  rateReportMs: number;
  /** A will of the current connection marks offline only if a ping gets no answer in this time (§9). */
  willConfirmMs: number;
}

export const DEFAULT_CONTROL_OPTIONS: ControlOptions = {
  rekeySeconds: 3600,
  handshakesPerMinute: 30,
  presenceDebounceMs: 3000,
  lastSeenFlushMs: 5000,
  // Generous: `npm run bench:control` answers ~7,200 sequential pings at ~5,000/s from one
  // device and uses at most ~40 % of the burst; exec output moves at most 256 KiB per stream
  // per credit window in 32 KiB chunks.
  deviceRate: 2000,
  deviceBurst: 20000,
  rateReportMs: 10_000,
  willConfirmMs: 5000,
};

/** Upstream types the capabilities handle: everything but the transport's own. */
export type CapabilityUpHandlers = UpHandlerMap<Exclude<keyof UpHandlers, CoreUpType>>;

export class Control {
  readonly presence: Presence;
  // framesDown reads the downlink's counter when asked (the downlink is created after this).
  readonly stats: ControlStats = ((control: Control) => ({
    handshakes: 0,
    refused: 0,
    decryptFailures: 0,
    durableBatches: 0,
    rateLimited: 0,
    willsIgnored: 0,
    messagesUp: 0,
    get framesDown() {
      return control.down.published;
    },
  }))(this);
  /** The port capabilities receive (docs/architecture.md §7). */
  readonly link: ControlLink;
  private readonly outbox: Outbox;
  private readonly cache: DeviceCache;
  private readonly down = new Downlink();
  private readonly sessions: Sessions;
  private readonly sender: Sender;
  private readonly router: Router;
  private readonly inbox: DurableInbox;
  private readonly rateLimit: DeviceRateLimit;
  private handlers?: UpHandlers;
  private deliveredHandlers: DeliveredHandlers = {};

  constructor(
    db: Kysely<DB>,
    devices: Devices,
    keys: ServerKeys,
    private readonly log: Logger,
    opts: ControlOptions = DEFAULT_CONTROL_OPTIONS,
  ) {
    const refuse = (deviceId: string, why: string, err?: unknown) => {
      this.stats.refused++;
      log.warn({ deviceId, err: err instanceof Error ? err.message : err }, `refused control frame: ${why}`);
    };
    this.presence = new Presence(db, log, {
      debounceMs: opts.presenceDebounceMs,
      lastSeenFlushMs: opts.lastSeenFlushMs,
    });
    this.outbox = new Outbox(db);
    this.cache = new DeviceCache(devices);
    this.sessions = new Sessions(devices, keys, this.down, refuse, this.stats, opts);
    this.sender = new Sender(this.sessions, this.outbox, this.down);
    this.link = this.sender;
    this.rateLimit = new DeviceRateLimit(db, log, this.stats, {
      perSecond: opts.deviceRate,
      burst: opts.deviceBurst,
      reportMs: opts.rateReportMs,
    });
    this.router = new Router({
      rateLimit: this.rateLimit,
      willConfirmMs: opts.willConfirmMs,
      stats: this.stats,
      cache: this.cache,
      sessions: this.sessions,
      sender: this.sender,
      presence: this.presence,
      inbox: () => this.inbox,
      handlers: () => {
        if (!this.handlers) throw new Error("control: no handlers routed yet");
        return this.handlers;
      },
      refuse,
      log,
    });
    this.inbox = new DurableInbox(
      db,
      (ctx, msg) => this.router.dispatch(ctx, msg) as Promise<void>,
      this.sender,
      log,
      this.stats,
    );
  }

  /** The capabilities' handlers: every upstream type not handled by the transport, once. */
  route(up: CapabilityUpHandlers, delivered: DeliveredHandlers): void {
    const core = coreHandlers({
      presence: this.presence,
      outbox: this.outbox,
      sessions: this.sessions,
      delivered: (device, m) => this.delivered(device, m),
    });
    this.handlers = { ...up, ...core };
    this.deliveredHandlers = delivered;
  }

  private async delivered(device: DeviceRow, m: OutboxMessage): Promise<void> {
    const fn = (
      this.deliveredHandlers as Record<string, (d: DeviceRow, b: unknown, mid: number) => Promise<void>>
    )[m.type];
    if (!fn) return;
    try {
      await fn(device, m.body, m.mid);
    } catch (err) {
      this.log.error({ err, deviceId: device.id, type: m.type }, "handling a delivered message failed");
    }
  }

  attach(broker: BrokerLink): void {
    this.down.attach(broker);
  }

  onUp(deviceId: string, payload: Buffer): void {
    this.router.onUp(deviceId, payload);
  }

  onDisconnect(deviceId: string): Promise<void> {
    return this.router.onDisconnect(deviceId);
  }

  /** A device row changed outside the frame path (state, keys, shard). */
  invalidate(deviceId: string): void {
    this.cache.invalidate(deviceId);
  }

  /** Revocation: forget every key and queued message of the device. */
  async forget(deviceId: string): Promise<void> {
    this.sessions.forget(deviceId);
    this.inbox.forget(deviceId);
    this.rateLimit.forget(deviceId);
    this.cache.invalidate(deviceId);
    await this.outbox.clear(deviceId);
    await this.presence.offline(deviceId, "revoked");
  }

  async close(): Promise<void> {
    this.rateLimit.close();
    await this.inbox.close();
    await this.presence.close();
  }
}
