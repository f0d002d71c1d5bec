/** Remote configuration (docs/protocol.md §18): `config.apply` down, `config.report` up, both durable. */
import { Type } from "typebox";
import { CONFIG_LIMITS } from "../config.js";
import { type CapabilityMessages, durable } from "./message.js";

const Hash = Type.String({ pattern: "^[0-9a-f]{64}$" });
const Rev = Type.Integer({ minimum: 1 });

/** One managed file as the device receives it. */
const ApplyFile = Type.Object(
  {
    /** Relative path under the agent's config/files/ (CONFIG_FILE_RULE). */
    path: Type.String({ maxLength: CONFIG_LIMITS.filePathChars }),
    /** SHA-256 of the plaintext content, hex: the agent checks it before the file is used. */
    hash: Hash,
    size: Type.Integer({ minimum: 0, maximum: CONFIG_LIMITS.fileBytes }),
    /** A secret file is fetched encrypted to the device's static key (§18.4) and never inline. */
    secret: Type.Boolean(),
    /** The content, base64, for small non-secret files; absent: fetch GET /api/v1/config/blobs/HASH. */
    d: Type.Optional(Type.String({ maxLength: Math.ceil(CONFIG_LIMITS.inlineFileBytes / 3) * 4 })),
  },
  { additionalProperties: false },
);

export const configMessages = {
  up: {
    /**
     * What the agent did with one `config.apply` (or, with status `drift`, that managed files were
     * changed by hand since): applied, failed (write, fetch or hook error), or ignored (older than
     * what it has applied).
     */
    "config.report": durable(
      Type.Object(
        {
          rev: Rev,
          hash: Hash,
          status: Type.Union([
            Type.Literal("applied"),
            Type.Literal("failed"),
            Type.Literal("ignored"),
            Type.Literal("drift"),
          ]),
          error: Type.Union([Type.String({ maxLength: CONFIG_LIMITS.errorChars }), Type.Null()]),
          /** The apply hook's exit and output tail, when one ran. */
          hook: Type.Union([
            Type.Object(
              {
                code: Type.Union([Type.Integer(), Type.Null()]),
                signal: Type.Union([Type.String({ maxLength: 16 }), Type.Null()]),
                timedOut: Type.Boolean(),
                output: Type.String({ maxLength: CONFIG_LIMITS.hookOutputBytes * 2 }),
              },
              { additionalProperties: false },
            ),
            Type.Null(),
          ]),
          /** Managed paths that differ from what the agent wrote (`effective.json`, `files/PATH`). */
          drift: Type.Array(Type.String({ maxLength: 300 }), { maxItems: CONFIG_LIMITS.driftPaths }),
          /** Device clock, ms. */
          at: Type.Integer({ minimum: 0 }),
        },
        { additionalProperties: false },
      ),
    ),
  },
  down: {
    /** The device's whole effective configuration at revision `rev` (newest only: older undelivered ones are withdrawn). */
    "config.apply": durable(
      Type.Object(
        {
          rev: Rev,
          /** SHA-256 over canonical JSON of {values, files: [[path, hash], …] sorted} (configHash). */
          hash: Hash,
          values: Type.Record(Type.String(), Type.Unknown()),
          files: Type.Array(ApplyFile, { maxItems: 512 }),
        },
        { additionalProperties: false },
      ),
    ),
  },
} as const satisfies CapabilityMessages;
