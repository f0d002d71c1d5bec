/**
 * Enrollment exchange (docs/protocol.md §6). Requests and responses are JSON over HTTPS,
 * each carrying an Ed25519 signature over `label + "\n" + canonicalJson(body)`.
 * No wall-clock time is signed: robot clocks can be wrong. Freshness of poll answers comes
 * from a nonce the agent chooses.
 */
import { type Static, Type } from "typebox";
import { Facts } from "./messages/core.js";
import { DeviceNameField } from "./names.js";

export const LABEL_INFO = "tether-enroll-info-v1";
export const LABEL_ENROLL = "tether-enroll-v1";
export const LABEL_POLL = "tether-poll-v1";
export const LABEL_RESPONSE = "tether-enroll-response-v1";

const B64 = Type.String({ pattern: "^[A-Za-z0-9_-]{1,128}$", maxLength: 128 });
const Key32 = Type.String({ pattern: "^[A-Za-z0-9_-]{43}$" });

/** Enrollment token string: `tether1.<server key fingerprint>.<secret>`, both base64url. */
export const TOKEN_PREFIX = "tether1";
export const TOKEN_RE = /^tether1\.([A-Za-z0-9_-]{43})\.([A-Za-z0-9_-]{43})$/;

export function parseEnrollToken(token: string): { fingerprint: string; secret: string } | null {
  const m = TOKEN_RE.exec(token.trim());
  return m ? { fingerprint: m[1], secret: m[2] } : null;
}

export const ServerInfoBody = Type.Object({
  purpose: Type.Literal(LABEL_INFO),
  serverSignKey: Key32,
  serverNoiseKey: Key32,
  caCert: Type.String({ maxLength: 16384 }),
});
export type ServerInfoBody = Static<typeof ServerInfoBody>;
export const SignedServerInfo = Type.Object({ info: ServerInfoBody, signature: B64 });
export type SignedServerInfo = Static<typeof SignedServerInfo>;

export const EnrollRequestBody = Type.Object(
  {
    purpose: Type.Literal(LABEL_ENROLL),
    tokenHash: Key32,
    serverFingerprint: Key32,
    signKey: Key32,
    noiseKey: Key32,
    /** Checked against the device-name rule (names.ts) by the server, with a clear error. */
    name: DeviceNameField,
    facts: Facts,
  },
  { additionalProperties: false },
);
export type EnrollRequestBody = Static<typeof EnrollRequestBody>;

export const EnrollRequest = Type.Object(
  {
    token: Type.String({ maxLength: 256 }),
    request: EnrollRequestBody,
    signature: B64,
  },
  { additionalProperties: false },
);
export type EnrollRequest = Static<typeof EnrollRequest>;

export const PollRequestBody = Type.Object(
  {
    purpose: Type.Literal(LABEL_POLL),
    deviceId: Type.String({ maxLength: 64 }),
    signKey: Key32,
    nonce: B64,
  },
  { additionalProperties: false },
);
export type PollRequestBody = Static<typeof PollRequestBody>;
export const PollRequest = Type.Object(
  { request: PollRequestBody, signature: B64 },
  { additionalProperties: false },
);
export type PollRequest = Static<typeof PollRequest>;

export const DeviceState = Type.Union([
  Type.Literal("pending"),
  Type.Literal("accepted"),
  Type.Literal("rejected"),
  Type.Literal("revoked"),
]);
export type DeviceState = Static<typeof DeviceState>;

export const BrokerCredential = Type.Object({
  /** mqtts://host:port — the TLS listener agents dial. */
  url: Type.String(),
  /** wss://host:port/mqtt — fallback for networks that only allow 443. */
  wsUrl: Type.Optional(Type.String()),
  username: Type.String(),
  password: Type.String(),
  /** A rotated secret not yet confirmed by a successful connection (agent-side only). */
  nextPassword: Type.Optional(Type.String()),
  /** PEM of the CA the broker's certificate chains to. */
  caCert: Type.String(),
});
export type BrokerCredential = Static<typeof BrokerCredential>;

export const EnrollResponseBody = Type.Object({
  purpose: Type.Literal(LABEL_RESPONSE),
  deviceId: Type.String(),
  signKey: Key32,
  state: DeviceState,
  shard: Type.Integer({ minimum: 0 }),
  serverSignKey: Key32,
  serverNoiseKey: Key32,
  /** Echo of the poll nonce (absent in the answer to the first request). */
  nonce: Type.Optional(B64),
  pollSeconds: Type.Integer({ minimum: 1 }),
  /** Present only when state is accepted. */
  broker: Type.Optional(BrokerCredential),
  /** Base URL of the HTTPS API (telemetry, tunnels). */
  apiUrl: Type.String(),
});
export type EnrollResponseBody = Static<typeof EnrollResponseBody>;
export const EnrollResponse = Type.Object({ response: EnrollResponseBody, signature: B64 });
export type EnrollResponse = Static<typeof EnrollResponse>;
