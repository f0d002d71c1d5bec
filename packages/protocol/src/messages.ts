/**
 * Control-channel messages: the plaintext inside a Data frame (docs/protocol.md §7 Messages).
 * Every message is UTF-8 JSON `{ "t": type, "mid"?: n, "b": body }`. `mid` is present on
 * durable messages only: a per-device, per-direction id starting at 1, acknowledged end to
 * end with an `ack` and re-sent after every handshake until acknowledged (§8 Delivery).
 *
 * The registry below is the one list of message types: each capability declares its
 * messages (body schema and durability) in ./messages/<capability>.ts and is listed here once.
 */
import { type Static, Type } from "typebox";
import { configMessages } from "./messages/config.js";
import { coreMessages } from "./messages/core.js";
import { credentialMessages } from "./messages/credential.js";
import { execMessages } from "./messages/exec.js";
import type { CapabilityMessages, MessageSpec } from "./messages/message.js";
import { pingMessages } from "./messages/ping.js";
import { telemetryMessages } from "./messages/telemetry.js";
import { tunnelMessages } from "./messages/tunnel.js";
import { validator } from "./validate.js";

export { Facts, MAX_ACK_IDS } from "./messages/core.js";
export { EXEC_CHUNK_BYTES, EXEC_INLINE_BYTES, EXEC_WINDOW_BYTES } from "./messages/exec.js";
export { WILL_CHECK_REF } from "./messages/ping.js";
export { type CapabilityMessages, durable, type MessageSpec, plain } from "./messages/message.js";

export const MAX_MESSAGE_BYTES = 256 * 1024;

const REGISTRY = [
  coreMessages,
  pingMessages,
  credentialMessages,
  execMessages,
  telemetryMessages,
  tunnelMessages,
  configMessages,
] as const;

type Merge<D extends "up" | "down"> = (typeof coreMessages)[D] &
  (typeof pingMessages)[D] &
  (typeof credentialMessages)[D] &
  (typeof execMessages)[D] &
  (typeof telemetryMessages)[D] &
  (typeof tunnelMessages)[D] &
  (typeof configMessages)[D];

function merge<D extends "up" | "down">(dir: D): Merge<D> {
  const out: Record<string, MessageSpec> = {};
  for (const m of REGISTRY as readonly CapabilityMessages[]) {
    for (const [k, spec] of Object.entries(m[dir])) {
      if (out[k]) throw new Error(`message type ${dir} ${k} is declared twice`);
      out[k] = spec;
    }
  }
  return out as unknown as Merge<D>;
}

/** Up: agent → server. */
export const UpMessages = merge("up");
/** Down: server → agent. */
export const DownMessages = merge("down");

export type UpType = keyof typeof UpMessages;
export type DownType = keyof typeof DownMessages;
export type UpBody<T extends UpType> = Static<(typeof UpMessages)[T]["body"]>;
export type DownBody<T extends DownType> = Static<(typeof DownMessages)[T]["body"]>;

/** Up message types that ride the durable outbox (declared in the registry, nowhere else). */
export type DurableUpType = {
  [K in UpType]: (typeof UpMessages)[K]["durable"] extends true ? K : never;
}[UpType];
export type DurableDownType = {
  [K in DownType]: (typeof DownMessages)[K]["durable"] extends true ? K : never;
}[DownType];

const durableSet = <T extends string>(specs: Record<T, MessageSpec>) =>
  new Set((Object.keys(specs) as T[]).filter((k) => specs[k].durable));
/** Which message types ride the durable outbox (have a mid and need an ack), from the registry. */
export const DURABLE_UP: ReadonlySet<UpType> = durableSet<UpType>(UpMessages);
export const DURABLE_DOWN: ReadonlySet<DownType> = durableSet<DownType>(DownMessages);
export const isDurableUp = (t: UpType): t is DurableUpType => DURABLE_UP.has(t);
export const isDurableDown = (t: DownType): t is DurableDownType => DURABLE_DOWN.has(t);

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
const validators = (specs: Record<string, MessageSpec>) =>
  Object.fromEntries(Object.entries(specs).map(([k, s]) => [k, validator(s.body)]));
const upV = validators(UpMessages);
const downV = validators(DownMessages);

function decode(
  buf: Buffer,
  table: Record<string, ReturnType<typeof validator>>,
  durable: ReadonlySet<string>,
) {
  if (buf.length > MAX_MESSAGE_BYTES) throw new Error("message too large");
  const env = envelopeV.parse(JSON.parse(buf.toString("utf8")));
  // Own keys only: "constructor" or "toString" must be unknown types, not Object.prototype's.
  const v = Object.hasOwn(table, env.t) ? table[env.t] : undefined;
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
