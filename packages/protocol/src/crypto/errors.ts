// Stable wire/crypto error codes (docs/protocol.md §11 Errors).
export const ProtocolErrorCode = {
  FrameMalformed: "TETHER_ERR_FRAME_MALFORMED",
  UnsupportedVersion: "TETHER_ERR_UNSUPPORTED_VERSION",
  Decrypt: "TETHER_ERR_DECRYPT",
  Replay: "TETHER_ERR_REPLAY",
  UnknownKey: "TETHER_ERR_UNKNOWN_KEY",
  Handshake: "TETHER_ERR_HANDSHAKE",
  Signature: "TETHER_ERR_SIGNATURE",
} as const;
export type ProtocolErrorCode = (typeof ProtocolErrorCode)[keyof typeof ProtocolErrorCode];

export class ProtocolError extends Error {
  constructor(
    public code: string,
    message: string,
  ) {
    super(message);
    this.name = "ProtocolError";
  }
}
