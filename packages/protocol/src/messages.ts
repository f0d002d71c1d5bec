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

const CmdId = Type.String({ pattern: "^cmd_[a-z0-9]{20}$" });
/** Output chunk size on the wire; base64 keeps a chunk well under MAX_MESSAGE_BYTES. */
export const EXEC_CHUNK_BYTES = 32 * 1024;
/** Bytes per stream the agent may have sent but not had acknowledged (the credit window). */
export const EXEC_WINDOW_BYTES = 256 * 1024;
const StreamCount = Type.Object(
  { kept: Type.Integer({ minimum: 0 }), total: Type.Integer({ minimum: 0 }) },
  { additionalProperties: false },
);

/** Output carried inside `exec.result`: at most this many bytes for both streams together. */
export const EXEC_INLINE_BYTES = 64 * 1024;
const OutputTail = Type.Object(
  { off: Type.Integer({ minimum: 0 }), d: Type.String({ maxLength: Math.ceil(EXEC_INLINE_BYTES / 3) * 4 }) },
  { additionalProperties: false },
);

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
  /** The process was spawned (§13); not durable: the result is what counts. */
  "exec.started": Type.Object(
    { cmd: CmdId, pid: Type.Integer({ minimum: 0 }) },
    { additionalProperties: false },
  ),
  /** Output bytes [off, off + len) of one stream, base64; sent only within the credit window. */
  "exec.output": Type.Object(
    {
      cmd: CmdId,
      s: Type.Union([Type.Literal("o"), Type.Literal("e")]),
      off: Type.Integer({ minimum: 0 }),
      d: Type.String({ maxLength: Math.ceil(EXEC_CHUNK_BYTES / 3) * 4 }),
    },
    { additionalProperties: false },
  ),
  /** Final state (durable); sent once every kept output byte is acknowledged. */
  "exec.result": Type.Object(
    {
      cmd: CmdId,
      status: Type.Union([
        Type.Literal("exited"),
        Type.Literal("signaled"),
        Type.Literal("timed_out"),
        Type.Literal("cancelled"),
        Type.Literal("lost"),
        Type.Literal("error"),
      ]),
      code: Type.Union([Type.Integer(), Type.Null()]),
      signal: Type.Union([Type.String({ maxLength: 16 }), Type.Null()]),
      error: Type.Union([Type.String({ maxLength: 1024 }), Type.Null()]),
      durationMs: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()]),
      o: StreamCount,
      e: StreamCount,
      /** Kept bytes not acknowledged yet, from `off` on (small outputs need no credit round trip). */
      ot: Type.Optional(OutputTail),
      et: Type.Optional(OutputTail),
    },
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
  /**
   * Run a command (§13, durable): the agent records "started" durably before it spawns,
   * and never runs the same `cmd` twice.
   */
  "exec.start": Type.Object(
    {
      cmd: CmdId,
      argv: Type.Array(Type.String({ maxLength: 65536 }), { minItems: 1, maxItems: 4096 }),
      shell: Type.Boolean(),
      cwd: Type.Optional(Type.String({ maxLength: 4096 })),
      env: Type.Optional(Type.Record(Type.String({ maxLength: 256 }), Type.String({ maxLength: 65536 }))),
      user: Type.Optional(Type.String({ maxLength: 32 })),
      timeoutMs: Type.Integer({ minimum: 1 }),
      /** Bytes kept per stream; more is counted and dropped. */
      limit: Type.Integer({ minimum: 0 }),
      /** base64 */
      stdin: Type.Optional(Type.String({ maxLength: 180_000 })),
    },
    { additionalProperties: false },
  ),
  /** Kill the command's process group (durable); before it started: never start it. */
  "exec.cancel": Type.Object({ cmd: CmdId }, { additionalProperties: false }),
  /** Output received so far (the credit); `resend` asks for everything after it again. */
  "exec.ack": Type.Object(
    {
      cmd: CmdId,
      o: Type.Integer({ minimum: 0 }),
      e: Type.Integer({ minimum: 0 }),
      resend: Type.Optional(Type.Boolean()),
    },
    { additionalProperties: false },
  ),
} as const;

export type UpType = keyof typeof UpBodies;
export type DownType = keyof typeof DownBodies;
export type UpBody<T extends UpType> = Static<(typeof UpBodies)[T]>;
export type DownBody<T extends DownType> = Static<(typeof DownBodies)[T]>;

/** Which message types ride the durable outbox (have a mid and need an ack). */
export const DURABLE_UP: ReadonlySet<UpType> = new Set<UpType>(["facts", "echo.reply", "exec.result"]);
export const DURABLE_DOWN: ReadonlySet<DownType> = new Set<DownType>([
  "echo",
  "credential.rotate",
  "exec.start",
  "exec.cancel",
]);

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
