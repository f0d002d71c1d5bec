/** Remote command execution (docs/protocol.md §13). */
import { Type } from "typebox";
import { type CapabilityMessages, durable, plain } from "./message.js";

/** A command id: `cmd_` and 20 lowercase letters or digits. */
export const COMMAND_ID_PATTERN = "^cmd_[a-z0-9]{20}$";
const CmdId = Type.String({ pattern: COMMAND_ID_PATTERN });
/** Output chunk size on the wire; base64 keeps a chunk well under MAX_MESSAGE_BYTES. */
export const EXEC_CHUNK_BYTES = 32 * 1024;
/** Bytes per stream the agent may have sent but not had acknowledged (the credit window). */
export const EXEC_WINDOW_BYTES = 256 * 1024;
/** Output carried inside `exec.result`: at most this many bytes for both streams together. */
export const EXEC_INLINE_BYTES = 64 * 1024;

const StreamCount = Type.Object(
  { kept: Type.Integer({ minimum: 0 }), total: Type.Integer({ minimum: 0 }) },
  { additionalProperties: false },
);
const OutputTail = Type.Object(
  { off: Type.Integer({ minimum: 0 }), d: Type.String({ maxLength: Math.ceil(EXEC_INLINE_BYTES / 3) * 4 }) },
  { additionalProperties: false },
);

export const execMessages = {
  up: {
    /** The process was spawned; not durable: the result is what counts. */
    "exec.started": plain(
      Type.Object({ cmd: CmdId, pid: Type.Integer({ minimum: 0 }) }, { additionalProperties: false }),
    ),
    /** Output bytes [off, off + len) of one stream, base64; sent only within the credit window. */
    "exec.output": plain(
      Type.Object(
        {
          cmd: CmdId,
          s: Type.Union([Type.Literal("o"), Type.Literal("e")]),
          off: Type.Integer({ minimum: 0 }),
          d: Type.String({ maxLength: Math.ceil(EXEC_CHUNK_BYTES / 3) * 4 }),
        },
        { additionalProperties: false },
      ),
    ),
    /** Final state; sent once every kept output byte is acknowledged. */
    "exec.result": durable(
      Type.Object(
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
    ),
  },
  down: {
    /** Run a command: the agent records "started" durably before it spawns, never twice per `cmd`. */
    "exec.start": durable(
      Type.Object(
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
    ),
    /** Kill the command's process group; before it started: never start it. */
    "exec.cancel": durable(Type.Object({ cmd: CmdId }, { additionalProperties: false })),
    /** Output received so far (the credit); `resend` asks for everything after it again. */
    "exec.ack": plain(
      Type.Object(
        {
          cmd: CmdId,
          o: Type.Integer({ minimum: 0 }),
          e: Type.Integer({ minimum: 0 }),
          resend: Type.Optional(Type.Boolean()),
        },
        { additionalProperties: false },
      ),
    ),
  },
} as const satisfies CapabilityMessages;
