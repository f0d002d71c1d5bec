/**
 * Control-channel messages: the plaintext inside a Data frame (docs/protocol.md §7 Messages).
 * Every message is UTF-8 JSON `{ "t": type, "mid"?: n, "b": body }`. `mid` is present on
 * durable messages only: a per-device, per-direction id starting at 1, acknowledged end to
 * end with an `ack` and re-sent after every handshake until acknowledged (§8 Delivery).
 */
import { type Static, Type } from "typebox";
import { validator } from "./validate.js";

export const MAX_MESSAGE_BYTES = 256 * 1024;

export const Facts = Type.Object(
  {
    os: Type.String({ maxLength: 64 }),
    osRelease: Type.String({ maxLength: 128 }),
    kernel: Type.String({ maxLength: 128 }),
    arch: Type.String({ maxLength: 32 }),
    hostname: Type.String({ maxLength: 255 }),
    addresses: Type.Array(Type.String({ maxLength: 64 }), { maxItems: 64 }),
    agentVersion: Type.String({ maxLength: 32 }),
    cpus: Type.Optional(Type.Integer({ minimum: 0 })),
    memoryBytes: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { additionalProperties: false },
);
export type Facts = Static<typeof Facts>;

const Mids = Type.Array(Type.Integer({ minimum: 1 }), { maxItems: 4096 });
const Hex = (len: number) => Type.String({ pattern: `^[0-9a-f]{${len}}$` });

/** Up: agent → server. */
export const UpBodies = {
  hello: Type.Object(
    {
      connId: Hex(32),
      agentVersion: Type.String({ maxLength: 32 }),
      facts: Facts,
    },
    { additionalProperties: false },
  ),
  pong: Type.Object({ ref: Type.Integer({ minimum: 0 }) }, { additionalProperties: false }),
  ack: Type.Object({ mids: Mids }, { additionalProperties: false }),
  bye: Type.Object({ connId: Hex(32) }, { additionalProperties: false }),
  facts: Type.Object({ facts: Facts }, { additionalProperties: false }),
  "echo.reply": Type.Object(
    { ref: Type.String({ maxLength: 128 }), data: Type.String({ maxLength: 65536 }) },
    { additionalProperties: false },
  ),
} as const;

/** Down: server → agent. */
export const DownBodies = {
  ping: Type.Object({ ref: Type.Integer({ minimum: 0 }) }, { additionalProperties: false }),
  ack: Type.Object({ mids: Mids }, { additionalProperties: false }),
  echo: Type.Object(
    { ref: Type.String({ maxLength: 128 }), data: Type.String({ maxLength: 65536 }) },
    { additionalProperties: false },
  ),
  /**
   * A new broker secret (§8): the agent stores it durably (keeping the old one) before its
   * ack; the server makes the broker accept it only after that ack; the agent tries the new
   * secret first on its next connection and drops the old one once it works.
   */
  "credential.rotate": Type.Object(
    { password: Type.String({ pattern: "^[A-Za-z0-9_-]{43}$" }) },
    { additionalProperties: false },
  ),
} as const;

export type UpType = keyof typeof UpBodies;
export type DownType = keyof typeof DownBodies;
export type UpBody<T extends UpType> = Static<(typeof UpBodies)[T]>;
export type DownBody<T extends DownType> = Static<(typeof DownBodies)[T]>;

/** Which message types ride the durable outbox (have a mid and need an ack). */
export const DURABLE_UP: ReadonlySet<UpType> = new Set<UpType>(["facts", "echo.reply"]);
export const DURABLE_DOWN: ReadonlySet<DownType> = new Set<DownType>(["echo", "credential.rotate"]);

export interface Envelope<T extends string = string, B = unknown> {
  t: T;
  mid?: number;
  b: B;
}

export type UpMessage = { [K in UpType]: Envelope<K, UpBody<K>> }[UpType];
export type DownMessage = { [K in DownType]: Envelope<K, DownBody<K>> }[DownType];

const EnvelopeShape = Type.Object(
  { t: Type.String({ maxLength: 64 }), mid: Type.Optional(Type.Integer({ minimum: 1 })), b: Type.Unknown() },
  { additionalProperties: false },
);
const envelopeV = validator(EnvelopeShape);
const upV = Object.fromEntries(Object.entries(UpBodies).map(([k, s]) => [k, validator(s)]));
const downV = Object.fromEntries(Object.entries(DownBodies).map(([k, s]) => [k, validator(s)]));

function decode(
  buf: Buffer,
  table: Record<string, ReturnType<typeof validator>>,
  durable: ReadonlySet<string>,
) {
  if (buf.length > MAX_MESSAGE_BYTES) throw new Error("message too large");
  const env = envelopeV.parse(JSON.parse(buf.toString("utf8")));
  const v = table[env.t];
  if (!v) throw new Error(`unknown message type ${JSON.stringify(env.t)}`);
  v.parse(env.b);
  if (durable.has(env.t) !== (env.mid !== undefined))
    throw new Error(`message ${env.t}: mid presence is wrong`);
  return env;
}

/** Parse and validate a decrypted upstream message; throws on anything malformed. */
export function decodeUp(buf: Buffer): UpMessage {
  return decode(buf, upV, DURABLE_UP) as UpMessage;
}

/** Parse and validate a decrypted downstream message; throws on anything malformed. */
export function decodeDown(buf: Buffer): DownMessage {
  return decode(buf, downV, DURABLE_DOWN) as DownMessage;
}

export function encodeMessage(msg: Envelope): Buffer {
  return Buffer.from(JSON.stringify(msg), "utf8");
}

/** Payload of the handshake reply (docs/protocol.md §4): the server's settings for this session. */
export const HandshakeWelcome = Type.Object({
  rekeySeconds: Type.Integer({ minimum: 1 }),
  serverTime: Type.Integer(),
});
export type HandshakeWelcome = Static<typeof HandshakeWelcome>;
