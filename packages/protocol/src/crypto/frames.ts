// Frame header constants and peeking (docs/protocol.md §4 Handshake, §5 Transport frames, §10 Signed frames, §12 Versioning).
// Every frame starts with ver(1) type(1); all multi-byte integers are big-endian.
import { ProtocolError } from "../errors.js";

export const PROTOCOL_VERSION = 1;
export const SUPPORTED_VERSIONS: readonly number[] = Object.freeze([1]);

export const FrameType = {
  HandshakeInit: 1,
  HandshakeReply: 2,
  Data: 3,
  Will: 4,
  RekeyRequest: 5,
  Reject: 6,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

export const FrameDirection = { Up: 0, Down: 1 } as const;
export type FrameDirection = (typeof FrameDirection)[keyof typeof FrameDirection];

export const HANDSHAKE_ID_LEN = 8;
export const KEY_ID_LEN = 8;
/** ver(1) type(1) handshakeId(8) */
export const HANDSHAKE_HEADER_LEN = 2 + HANDSHAKE_ID_LEN;
/** ver(1) type(1) direction(1) keyId(8) counter(8) */
export const DATA_HEADER_LEN = 3 + KEY_ID_LEN + 8;
export const SIGNATURE_LEN = 64;
export const CONN_ID_LEN = 16;

const FRAME_TYPES = new Set<number>(Object.values(FrameType));

export function isSupportedVersion(v: number): boolean {
  return SUPPORTED_VERSIONS.includes(v);
}

export function malformed(message: string): ProtocolError {
  return new ProtocolError("TETHER_ERR_FRAME_MALFORMED", message);
}

export function unsupportedVersion(v: number): ProtocolError {
  return new ProtocolError(
    "TETHER_ERR_UNSUPPORTED_VERSION",
    `protocol version ${v} not supported (supported: ${SUPPORTED_VERSIONS.join(", ")})`,
  );
}

/**
 * Reads the routing fields of a frame without authenticating anything. The version is
 * returned, not checked: the caller decides (a Reject carries the sender's version).
 */
export function peekFrame(buf: Buffer): {
  version: number;
  type: number;
  keyId?: Buffer;
  handshakeId?: Buffer;
} {
  if (!Buffer.isBuffer(buf) || buf.length < 2) throw malformed("frame too short");
  const version = buf[0]!;
  const type = buf[1]!;
  if (!FRAME_TYPES.has(type)) throw malformed(`unknown frame type ${type}`);
  if (type === FrameType.HandshakeInit || type === FrameType.HandshakeReply) {
    if (buf.length < HANDSHAKE_HEADER_LEN) throw malformed("handshake frame too short");
    return { version, type, handshakeId: Buffer.from(buf.subarray(2, HANDSHAKE_HEADER_LEN)) };
  }
  if (type === FrameType.Data) {
    if (buf.length < DATA_HEADER_LEN) throw malformed("data frame too short");
    return { version, type, keyId: Buffer.from(buf.subarray(3, 3 + KEY_ID_LEN)) };
  }
  return { version, type };
}
