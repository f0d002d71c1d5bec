// Tether end-to-end sessions over MQTT: Noise_KK_25519_AESGCM_SHA256 between agent and server.
//
// docs/protocol.md §4 Handshake
//   - Only the agent (Noise initiator) starts a handshake, so two never cross. Its static
//     X25519 key and the server's are known to both sides since enrollment, hence KK.
//   - HandshakeInit (up topic):   ver(1) type=1 handshakeId(8, random) noiseMsg1
//     HandshakeReply (down topic): ver(1) type=2 handshakeId(8) noiseMsg2
//   - Prologue = "tether-noise-v1" || ver byte || utf8(deviceId) || handshakeId, so the
//     version, the device and the handshake id are agreed before any payload is trusted.
//   - Message-1 payload = uint64 BE counter that only increases per device (agent-persisted,
//     max(last + 1, now)). The server must require counter > last accepted counter: that is
//     what makes a replayed HandshakeInit useless. respondHandshake returns the counter;
//     the caller compares and persists it. A repeated HandshakeInit (same handshakeId)
//     should get the cached reply rather than a fresh respondHandshake.
//   - Message-2 payload: arbitrary server bytes (may be empty), exposed as
//     Session.handshakePayload on the agent side.
//   - Split(): the initiator sends with c1 and receives with c2; the responder the reverse.
//     keyId = first 8 bytes of the handshake hash h.
//
// docs/protocol.md §5 Transport frames
//   - Data: ver(1) type=3 direction(1: 0 up = agent→server, 1 down = server→agent)
//     keyId(8) counter(8, uint64 BE, from 0 per key per direction) ciphertext||tag(16).
//   - AES-256-GCM with the split key for that direction, explicit nonce = 4 zero bytes ||
//     counter (the CipherState's implicit n is not used, so frames may arrive out of order).
//   - AD = the 19-byte header || utf8(deviceId): version, type, direction, key id and
//     counter are authenticated, and a frame moved to another device's topic fails.
//   - Receive order: version → type → direction (must be the peer's) → keyId → replay
//     window (1024; each counter at most once) → decrypt → only then accept the counter.
//   - Sending counters are never restored from storage (a stale counter would reuse a
//     GCM nonce), so Session has no serialize API: after any restart, handshake again.
//   - Will / RekeyRequest / Reject are signed plaintext frames, see signed-frames.ts.
import { randomBytes } from "node:crypto";
import { ProtocolError } from "../errors.js";
import {
  DATA_HEADER_LEN,
  FrameDirection,
  FrameType,
  HANDSHAKE_HEADER_LEN,
  HANDSHAKE_ID_LEN,
  KEY_ID_LEN,
  PROTOCOL_VERSION,
  isSupportedVersion,
  malformed,
  unsupportedVersion,
} from "./frames.js";
import type { KeyPair } from "./keys.js";
import { HandshakeState, NoiseError, TAGLEN, aesGcmDecrypt, aesGcmEncrypt } from "./noise.js";
import { ReplayWindow } from "./replay-window.js";

export const NOISE_PATTERN = "KK";
export const NOISE_PROTOCOL_NAME = "Noise_KK_25519_AESGCM_SHA256";
export const NOISE_PROLOGUE_LABEL = "tether-noise-v1";
export const REPLAY_WINDOW_SIZE = 1024;
const MAX_U64 = (1n << 64n) - 1n;

function handshakeError(message: string): ProtocolError {
  return new ProtocolError("TETHER_ERR_HANDSHAKE", message);
}

export function noisePrologue(version: number, deviceId: string, handshakeId: Buffer): Buffer {
  return Buffer.concat([
    Buffer.from(NOISE_PROLOGUE_LABEL, "ascii"),
    Buffer.from([version]),
    Buffer.from(deviceId, "utf8"),
    handshakeId,
  ]);
}

/** Checks ver/type/length of a handshake frame; returns its handshakeId and Noise message. */
function parseHandshakeFrame(
  frame: Buffer,
  type: number,
): { handshakeId: Buffer; noiseMsg: Buffer; version: number } {
  if (!Buffer.isBuffer(frame) || frame.length < 2) throw malformed("frame too short");
  if (!isSupportedVersion(frame[0]!)) throw unsupportedVersion(frame[0]!);
  if (frame[1] !== type) throw malformed(`expected frame type ${type}, got ${frame[1]}`);
  if (frame.length < HANDSHAKE_HEADER_LEN) throw malformed("handshake frame too short");
  return {
    version: frame[0]!,
    handshakeId: Buffer.from(frame.subarray(2, HANDSHAKE_HEADER_LEN)),
    noiseMsg: frame.subarray(HANDSHAKE_HEADER_LEN),
  };
}

function handshakeHeader(type: number, handshakeId: Buffer): Buffer {
  return Buffer.concat([Buffer.from([PROTOCOL_VERSION, type]), handshakeId]);
}

export interface SessionInit {
  role: "initiator" | "responder";
  deviceId: string;
  handshakeHash: Buffer;
  sendKey: Buffer;
  recvKey: Buffer;
  handshakePayload?: Buffer;
}

/** One transport key pair for one device, produced by a completed handshake (§5). */
export class Session {
  readonly keyId: Buffer;
  readonly role: "initiator" | "responder";
  readonly deviceId: string;
  /** Noise handshake hash h (channel binding). */
  readonly handshakeHash: Buffer;
  /** Payload of the handshake message received by this side (initiator: server's reply payload). */
  readonly handshakePayload: Buffer;
  private readonly sendKey: Buffer;
  private readonly recvKey: Buffer;
  private readonly sendDirection: FrameDirection;
  private readonly recvDirection: FrameDirection;
  private readonly deviceIdBytes: Buffer;
  private readonly window = new ReplayWindow(REPLAY_WINDOW_SIZE);
  private counter = 0n;
  private received = 0;

  /** @internal Sessions come from startHandshake().finish() and respondHandshake(). */
  constructor(init: SessionInit) {
    this.role = init.role;
    this.deviceId = init.deviceId;
    this.deviceIdBytes = Buffer.from(init.deviceId, "utf8");
    this.handshakeHash = Buffer.from(init.handshakeHash);
    this.keyId = Buffer.from(init.handshakeHash.subarray(0, KEY_ID_LEN));
    this.handshakePayload = Buffer.from(init.handshakePayload ?? Buffer.alloc(0));
    this.sendKey = Buffer.from(init.sendKey);
    this.recvKey = Buffer.from(init.recvKey);
    this.sendDirection = init.role === "initiator" ? FrameDirection.Up : FrameDirection.Down;
    this.recvDirection = init.role === "initiator" ? FrameDirection.Down : FrameDirection.Up;
  }

  /** Counter the next sealed frame will carry. */
  get sendCounter(): bigint {
    return this.counter;
  }

  /** Number of frames successfully opened under this key (the old key can go once the new one sees traffic). */
  get receivedCount(): number {
    return this.received;
  }

  private header(direction: number, counter: bigint): Buffer {
    const h = Buffer.alloc(DATA_HEADER_LEN);
    h[0] = PROTOCOL_VERSION;
    h[1] = FrameType.Data;
    h[2] = direction;
    this.keyId.copy(h, 3);
    h.writeBigUInt64BE(counter, 3 + KEY_ID_LEN);
    return h;
  }

  /** Encrypts one payload into a Data frame. */
  seal(plaintext: Buffer): Buffer {
    if (this.counter >= MAX_U64)
      throw new ProtocolError("TETHER_ERR_HANDSHAKE", "send counter exhausted; handshake again");
    const n = this.counter;
    const header = this.header(this.sendDirection, n);
    const ct = aesGcmEncrypt(this.sendKey, n, Buffer.concat([header, this.deviceIdBytes]), plaintext);
    this.counter = n + 1n;
    return Buffer.concat([header, ct]);
  }

  /** Authenticates and decrypts a Data frame from the peer. Throws ProtocolError. */
  open(frame: Buffer): Buffer {
    if (!Buffer.isBuffer(frame) || frame.length < 2) throw malformed("frame too short");
    if (!isSupportedVersion(frame[0]!)) throw unsupportedVersion(frame[0]!);
    if (frame[1] !== FrameType.Data) throw malformed(`expected data frame, got type ${frame[1]}`);
    if (frame.length < DATA_HEADER_LEN + TAGLEN) throw malformed("data frame too short");
    if (frame[2] !== this.recvDirection) throw malformed(`wrong direction ${frame[2]}`);
    if (!frame.subarray(3, 3 + KEY_ID_LEN).equals(this.keyId)) {
      throw new ProtocolError("TETHER_ERR_UNKNOWN_KEY", "data frame under another key");
    }
    const counter = frame.readBigUInt64BE(3 + KEY_ID_LEN);
    if (!this.window.check(counter))
      throw new ProtocolError("TETHER_ERR_REPLAY", `counter ${counter} replayed or too old`);
    const header = frame.subarray(0, DATA_HEADER_LEN);
    let plaintext: Buffer;
    try {
      plaintext = aesGcmDecrypt(
        this.recvKey,
        counter,
        Buffer.concat([header, this.deviceIdBytes]),
        frame.subarray(DATA_HEADER_LEN),
      );
    } catch {
      throw new ProtocolError("TETHER_ERR_DECRYPT", "data frame failed authentication");
    }
    this.window.accept(counter);
    this.received++;
    return plaintext;
  }
}

export interface StartHandshakeOptions {
  deviceId: string;
  /** The agent's static X25519 keypair. */
  localStatic: KeyPair;
  /** The server's static X25519 public key. */
  remoteStatic: Buffer;
  /** Persisted, strictly increasing per device (§4). */
  counter: bigint;
  handshakeId?: Buffer;
  /** Test hook: fixed ephemeral keypair. */
  ephemeral?: KeyPair;
}

export interface PendingHandshake {
  handshakeId: Buffer;
  frame: Buffer;
  /** Processes the HandshakeReply. A wrong id or bad MAC throws and leaves the handshake pending. */
  finish(reply: Buffer): Session;
}

/** Agent side, §4: builds the HandshakeInit frame. */
export function startHandshake(o: StartHandshakeOptions): PendingHandshake {
  if (typeof o.counter !== "bigint" || o.counter < 0n || o.counter > MAX_U64)
    throw new RangeError("counter out of range");
  const handshakeId = o.handshakeId ? Buffer.from(o.handshakeId) : randomBytes(HANDSHAKE_ID_LEN);
  if (handshakeId.length !== HANDSHAKE_ID_LEN) throw new RangeError("handshakeId must be 8 bytes");
  const hs = new HandshakeState({
    pattern: NOISE_PATTERN,
    initiator: true,
    prologue: noisePrologue(PROTOCOL_VERSION, o.deviceId, handshakeId),
    s: o.localStatic,
    e: o.ephemeral,
    rs: o.remoteStatic,
  });
  const payload = Buffer.alloc(8);
  payload.writeBigUInt64BE(o.counter);
  const frame = Buffer.concat([
    handshakeHeader(FrameType.HandshakeInit, handshakeId),
    hs.writeMessage(payload),
  ]);
  let done = false;
  return {
    handshakeId: Buffer.from(handshakeId),
    frame,
    finish(reply: Buffer): Session {
      if (done) throw handshakeError("handshake already finished");
      const parsed = parseHandshakeFrame(reply, FrameType.HandshakeReply);
      if (!parsed.handshakeId.equals(handshakeId)) throw handshakeError("reply for another handshake");
      let serverPayload: Buffer;
      try {
        serverPayload = hs.readMessage(parsed.noiseMsg);
      } catch (err) {
        throw handshakeError(`handshake reply rejected: ${(err as Error).message}`);
      }
      done = true;
      const [c1, c2] = hs.split();
      return new Session({
        role: "initiator",
        deviceId: o.deviceId,
        handshakeHash: hs.getHandshakeHash(),
        sendKey: c1.key!,
        recvKey: c2.key!,
        handshakePayload: serverPayload,
      });
    },
  };
}

export interface RespondHandshakeOptions {
  deviceId: string;
  /** The server's static X25519 keypair. */
  localStatic: KeyPair;
  /** The device's enrolled static X25519 public key. */
  remoteStatic: Buffer;
  /** The HandshakeInit frame. */
  frame: Buffer;
  /** Payload for message 2 (may be empty). */
  payload?: Buffer;
  /** Test hook: fixed ephemeral keypair. */
  ephemeral?: KeyPair;
}

/**
 * Server side, §4: processes a HandshakeInit and returns the reply and the new session.
 * The caller MUST refuse the result unless `counter` > the last accepted counter for the
 * device (replay protection), and should cache `reply` per handshakeId.
 */
export function respondHandshake(o: RespondHandshakeOptions): {
  handshakeId: Buffer;
  counter: bigint;
  reply: Buffer;
  session: Session;
} {
  const parsed = parseHandshakeFrame(o.frame, FrameType.HandshakeInit);
  let hs: HandshakeState;
  let payload: Buffer;
  try {
    hs = new HandshakeState({
      pattern: NOISE_PATTERN,
      initiator: false,
      prologue: noisePrologue(parsed.version, o.deviceId, parsed.handshakeId),
      s: o.localStatic,
      e: o.ephemeral,
      rs: o.remoteStatic,
    });
    payload = hs.readMessage(parsed.noiseMsg);
  } catch (err) {
    if (err instanceof ProtocolError) throw err;
    throw handshakeError(`handshake init rejected: ${(err as Error).message}`);
  }
  if (payload.length !== 8) throw handshakeError("handshake init payload must be an 8-byte counter");
  const counter = payload.readBigUInt64BE(0);
  let noiseMsg2: Buffer;
  try {
    noiseMsg2 = hs.writeMessage(o.payload ?? Buffer.alloc(0));
  } catch (err) {
    if (err instanceof NoiseError) throw handshakeError(err.message);
    throw err;
  }
  const [c1, c2] = hs.split();
  return {
    handshakeId: parsed.handshakeId,
    counter,
    reply: Buffer.concat([handshakeHeader(FrameType.HandshakeReply, parsed.handshakeId), noiseMsg2]),
    session: new Session({
      role: "responder",
      deviceId: o.deviceId,
      handshakeHash: hs.getHandshakeHash(),
      sendKey: c2.key!,
      recvKey: c1.key!,
      handshakePayload: payload,
    }),
  };
}
