/**
 * The Noise KK responder and the table of encryption sessions per device (docs/protocol.md
 * §4–5): handshakes (rate-limited, a repeated first message gets the cached reply, the
 * counter only increases), the pending → current promotion on the first message under a new
 * key, and signed rekey requests when a device sends under a key the server does not hold.
 */
import {
  encodeReject,
  encodeRekeyRequest,
  type HandshakeWelcome,
  isSupportedVersion,
  peekFrame,
  respondHandshake,
  type Session,
  SUPPORTED_VERSIONS,
} from "@tether/protocol";
import type { DeviceRow, Devices } from "../devices.js";
import type { ServerKeys } from "../security/server-keys.js";
import type { ControlStats, Downlink, Refuse } from "./downlink.js";

interface DeviceSessions {
  /** Confirmed session: a message has arrived under it; used for sending. */
  current?: Session;
  /** Completed handshake, not yet confirmed by a message from the agent. */
  pending?: Session;
  lastHandshake?: { id: Buffer; reply: Buffer };
  handshakeTimes: number[];
  lastRekeyAt: number;
}

export interface SessionOptions {
  rekeySeconds: number;
  handshakesPerMinute: number;
}

export class Sessions {
  private readonly table = new Map<string, DeviceSessions>();
  private rekeySeq = 0n;

  constructor(
    private readonly devices: Devices,
    private readonly keys: ServerKeys,
    private readonly down: Downlink,
    private readonly refuse: Refuse,
    private readonly stats: ControlStats,
    private readonly opts: SessionOptions,
  ) {}

  private state(id: string): DeviceSessions {
    let s = this.table.get(id);
    if (!s) {
      s = { handshakeTimes: [], lastRekeyAt: 0 };
      this.table.set(id, s);
    }
    return s;
  }

  /** The confirmed session used for sending, if any. */
  current(deviceId: string): Session | undefined {
    return this.table.get(deviceId)?.current;
  }

  async handshake(device: DeviceRow, frame: Buffer, version: number): Promise<void> {
    const st = this.state(device.id);
    if (!isSupportedVersion(version)) {
      this.refuse(device.id, `protocol version ${version} unsupported`);
      await this.down.publish(
        device,
        encodeReject({
          deviceId: device.id,
          code: "TETHER_ERR_UNSUPPORTED_VERSION",
          message: `this server speaks control protocol version(s) ${SUPPORTED_VERSIONS.join(", ")}; the agent sent ${version}. Upgrade the agent.`,
          // Bound to this HandshakeInit: a copy cannot stop a later handshake (§10).
          init: frame,
          signKey: this.keys.sign.privateKey,
        }),
      );
      return;
    }
    const { handshakeId } = peekFrame(frame);
    if (st.lastHandshake && handshakeId && st.lastHandshake.id.equals(handshakeId)) {
      // A repeated first message (lost reply) gets the cached reply; no new session.
      await this.down.publish(device, st.lastHandshake.reply);
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
    await this.down.publish(device, r.reply);
  }

  /**
   * Decrypt a Data frame. `confirmed` is true for the first message under a new key: it
   * becomes the sending key and the old one is dropped. Null when refused.
   */
  async open(device: DeviceRow, frame: Buffer): Promise<{ plain: Buffer; confirmed: boolean } | null> {
    const st = this.state(device.id);
    const { keyId } = peekFrame(frame);
    const session = [st.pending, st.current].find((s) => s && keyId && s.keyId.equals(keyId));
    if (!session) {
      this.refuse(device.id, "data under an unknown key");
      await this.requestRekey(device);
      return null;
    }
    let plain: Buffer;
    try {
      plain = session.open(frame);
    } catch (err) {
      this.stats.decryptFailures++;
      this.refuse(device.id, "data frame rejected", err);
      return null;
    }
    if (session !== st.pending) return { plain, confirmed: false };
    st.current = session;
    st.pending = undefined;
    return { plain, confirmed: true };
  }

  private async requestRekey(device: DeviceRow): Promise<void> {
    const st = this.state(device.id);
    const now = Date.now();
    if (now - st.lastRekeyAt < 2000) return;
    st.lastRekeyAt = now;
    const nowSeq = BigInt(now);
    this.rekeySeq = this.rekeySeq >= nowSeq ? this.rekeySeq + 1n : nowSeq;
    await this.down.publish(
      device,
      encodeRekeyRequest({ deviceId: device.id, seq: this.rekeySeq, signKey: this.keys.sign.privateKey }),
    );
  }

  /** The connection ended: no sending until the next handshake. */
  drop(deviceId: string): void {
    const st = this.table.get(deviceId);
    if (st) {
      st.current = undefined;
      st.pending = undefined;
    }
  }

  /** Revocation: forget everything about the device's keys. */
  forget(deviceId: string): void {
    this.table.delete(deviceId);
  }
}
