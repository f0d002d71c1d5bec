// Signed plaintext frames (docs/protocol.md §10 Signed frames: Will, RekeyRequest, Reject).
// These travel outside any Noise session (a will is published by the broker after the
// device is gone; rekey requests and rejects must work when no session exists), so they
// are signed with Ed25519 instead of encrypted. Signed bytes:
//   label || frame bytes before the signature || utf8(deviceId)
// The device id is bound in but not carried (the MQTT topic names the device). Labels
// differ in content, not just length, so no frame kind can be replayed as another.
import { createHash } from "node:crypto";
import { ed25519Sign, ed25519Verify } from "./keys.js";
import { ProtocolError } from "../errors.js";
import {
  CONN_ID_LEN,
  FrameType,
  PROTOCOL_VERSION,
  SIGNATURE_LEN,
  SUPPORTED_VERSIONS,
  isSupportedVersion,
  malformed,
  unsupportedVersion,
} from "./frames.js";

export const WILL_LABEL = "tether-will-v1";
export const REKEY_LABEL = "tether-rekey-v1";
export const REJECT_LABEL = "tether-reject-v1";

const WILL_LEN = 2 + CONN_ID_LEN + SIGNATURE_LEN;
const REKEY_LEN = 2 + 8 + SIGNATURE_LEN;
const MAX_U64 = (1n << 64n) - 1n;

function signedBytes(label: string, body: Buffer, deviceId: string): Buffer {
  return Buffer.concat([Buffer.from(label, "ascii"), body, Buffer.from(deviceId, "utf8")]);
}

function seal(label: string, body: Buffer, deviceId: string, signKey: Buffer): Buffer {
  return Buffer.concat([body, ed25519Sign(signKey, signedBytes(label, body, deviceId))]);
}

function checkSig(label: string, frame: Buffer, deviceId: string, pub: Buffer): void {
  const body = frame.subarray(0, frame.length - SIGNATURE_LEN);
  const sig = frame.subarray(frame.length - SIGNATURE_LEN);
  if (!ed25519Verify(pub, signedBytes(label, body, deviceId), sig)) {
    throw new ProtocolError("TETHER_ERR_SIGNATURE", "bad signature");
  }
}

function checkHeader(frame: Buffer, type: number, checkVersion: boolean): void {
  if (!Buffer.isBuffer(frame) || frame.length < 2) throw malformed("frame too short");
  if (frame[1] !== type) throw malformed(`expected frame type ${type}, got ${frame[1]}`);
  if (checkVersion && !isSupportedVersion(frame[0]!)) throw unsupportedVersion(frame[0]!);
}

// ---- Will: ver type=4 connId(16) signature(64), signed by the device

export function encodeWill(o: { deviceId: string; connId: Buffer; signKey: Buffer }): Buffer {
  if (!Buffer.isBuffer(o.connId) || o.connId.length !== CONN_ID_LEN)
    throw new TypeError("connId must be 16 bytes");
  const body = Buffer.concat([Buffer.from([PROTOCOL_VERSION, FrameType.Will]), o.connId]);
  return seal(WILL_LABEL, body, o.deviceId, o.signKey);
}

export function verifyWill(frame: Buffer, deviceId: string, devicePub: Buffer): { connId: Buffer } {
  checkHeader(frame, FrameType.Will, true);
  if (frame.length !== WILL_LEN) throw malformed("will frame has wrong length");
  checkSig(WILL_LABEL, frame, deviceId, devicePub);
  return { connId: Buffer.from(frame.subarray(2, 2 + CONN_ID_LEN)) };
}

// ---- RekeyRequest: ver type=5 seq(8) signature(64), signed by the server

export function encodeRekeyRequest(o: { deviceId: string; seq: bigint; signKey: Buffer }): Buffer {
  if (o.seq < 0n || o.seq > MAX_U64) throw new RangeError("seq out of range");
  const body = Buffer.alloc(10);
  body[0] = PROTOCOL_VERSION;
  body[1] = FrameType.RekeyRequest;
  body.writeBigUInt64BE(o.seq, 2);
  return seal(REKEY_LABEL, body, o.deviceId, o.signKey);
}

export function verifyRekeyRequest(frame: Buffer, deviceId: string, serverPub: Buffer): { seq: bigint } {
  checkHeader(frame, FrameType.RekeyRequest, true);
  if (frame.length !== REKEY_LEN) throw malformed("rekey frame has wrong length");
  checkSig(REKEY_LABEL, frame, deviceId, serverPub);
  return { seq: frame.readBigUInt64BE(2) };
}

// ---- Reject: ver type=6 len(2) json(len) signature(64), signed by the server.
// Sent with the server's own version byte and verified whatever that byte is, so an
// agent on another version can still read why it was refused. The JSON names the
// HandshakeInit it answers (`init`, see rejectBinding), so a copy cannot be replayed
// against a later handshake (docs/protocol.md §10).

export interface RejectInfo {
  code: string;
  message: string;
  supportedVersions: number[];
  /** rejectBinding() of the HandshakeInit this Reject answers; absent from older servers' Rejects. */
  init?: string;
}

/**
 * What binds a Reject to the handshake it answers: lowercase hex of SHA-256 over the whole
 * HandshakeInit frame as received. Version-independent (it needs no knowledge of the
 * frame's layout) and unique per handshake (fresh handshake id and ephemeral key).
 */
export function rejectBinding(initFrame: Buffer): string {
  return createHash("sha256").update(initFrame).digest("hex");
}

export function encodeReject(o: {
  deviceId: string;
  code: string;
  message: string;
  /** The HandshakeInit frame this Reject answers. */
  init: Buffer;
  signKey: Buffer;
}): Buffer {
  const json = Buffer.from(
    JSON.stringify({
      code: o.code,
      message: o.message,
      supportedVersions: [...SUPPORTED_VERSIONS],
      init: rejectBinding(o.init),
    }),
    "utf8",
  );
  if (json.length > 0xffff) throw new RangeError("reject body too long");
  const head = Buffer.alloc(4);
  head[0] = PROTOCOL_VERSION;
  head[1] = FrameType.Reject;
  head.writeUInt16BE(json.length, 2);
  return seal(REJECT_LABEL, Buffer.concat([head, json]), o.deviceId, o.signKey);
}

export function verifyReject(
  frame: Buffer,
  deviceId: string,
  serverPub: Buffer,
): RejectInfo & { version: number } {
  checkHeader(frame, FrameType.Reject, false);
  if (frame.length < 4 + SIGNATURE_LEN) throw malformed("reject frame too short");
  const len = frame.readUInt16BE(2);
  if (frame.length !== 4 + len + SIGNATURE_LEN) throw malformed("reject frame has wrong length");
  checkSig(REJECT_LABEL, frame, deviceId, serverPub);
  let parsed: unknown;
  try {
    parsed = JSON.parse(frame.subarray(4, 4 + len).toString("utf8"));
  } catch {
    throw malformed("reject body is not JSON");
  }
  const r = parsed as Partial<RejectInfo> | null;
  if (
    !r ||
    typeof r !== "object" ||
    typeof r.code !== "string" ||
    typeof r.message !== "string" ||
    !Array.isArray(r.supportedVersions) ||
    !r.supportedVersions.every((v) => Number.isInteger(v) && v >= 0 && v <= 255) ||
    (r.init !== undefined && (typeof r.init !== "string" || !/^[0-9a-f]{64}$/.test(r.init)))
  ) {
    throw malformed("reject body has wrong shape");
  }
  return {
    version: frame[0]!,
    code: r.code,
    message: r.message,
    supportedVersions: [...r.supportedVersions],
    ...(r.init !== undefined ? { init: r.init } : {}),
  };
}
