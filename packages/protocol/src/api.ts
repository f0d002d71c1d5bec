/**
 * REST API shapes (docs/api in the OpenAPI document at /api/docs). The server's route
 * schemas and the SDK's types both come from here, so they cannot drift.
 */
import { type Static, Type } from "typebox";
import { DeviceState } from "./enrollment.js";
import { Facts } from "./messages/core.js";
import { COMMAND_ID_PATTERN } from "./messages/exec.js";

export { COMMAND_ID_PATTERN };

export const Role = Type.Union([Type.Literal("viewer"), Type.Literal("operator"), Type.Literal("admin")]);
export type Role = Static<typeof Role>;
export const ROLE_RANK: Record<Role, number> = { viewer: 1, operator: 2, admin: 3 };

export const LABEL_KEY = "^[A-Za-z0-9._/-]{1,63}$";
export const Labels = Type.Record(Type.String({ pattern: LABEL_KEY }), Type.String({ maxLength: 256 }), {
  additionalProperties: false,
});
export type Labels = Static<typeof Labels>;

export const ErrorResponse = Type.Object({
  error: Type.Object({ code: Type.String(), message: Type.String() }),
});

export const Device = Type.Object({
  id: Type.String(),
  name: Type.String(),
  project: Type.String(),
  state: DeviceState,
  online: Type.Boolean(),
  labels: Labels,
  facts: Type.Union([Facts, Type.Null()]),
  /** When the server last heard from the device (the end of its last connection once offline). */
  lastSeenAt: Type.Union([Type.String(), Type.Null()]),
  /** When the current control connection began; null while offline. */
  onlineSince: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String(),
  fingerprint: Type.String(),
  hostname: Type.String(),
  sourceAddress: Type.String(),
  shard: Type.Integer(),
  /** Control messages the server dropped because the device exceeded its rate limit (in all). */
  rateLimited: Type.Optional(Type.Integer({ minimum: 0 })),
});
export type Device = Static<typeof Device>;

export const Connection = Type.Object({
  connId: Type.String(),
  connectedAt: Type.String(),
  disconnectedAt: Type.Union([Type.String(), Type.Null()]),
  reason: Type.Union([Type.String(), Type.Null()]),
});
export type Connection = Static<typeof Connection>;

export const User = Type.Object({
  id: Type.Integer(),
  username: Type.String(),
  createdAt: Type.String(),
  roles: Type.Record(Type.String(), Role),
});
export type User = Static<typeof User>;

export const Project = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  createdAt: Type.String(),
  role: Type.Optional(Role),
});
export type Project = Static<typeof Project>;

export const ApiToken = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  username: Type.String(),
  project: Type.String(),
  createdAt: Type.String(),
  lastUsedAt: Type.Union([Type.String(), Type.Null()]),
  /** When it stops working (null: never); `expired` once that time has passed. */
  expiresAt: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  expired: Type.Optional(Type.Boolean()),
});
export type ApiToken = Static<typeof ApiToken>;

/** Longest API token lifetime that may be asked for (`--expires`). */
export const MAX_TOKEN_SECONDS = 10 * 365 * 86400;

/** POST /api-tokens body. */
export const CreateApiToken = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 64 }),
  /** Refused (401) after this many seconds; no expiry without it. */
  expiresInSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_TOKEN_SECONDS })),
});
export type CreateApiToken = Static<typeof CreateApiToken>;

/** A new API token; `token` is shown this once. */
export const CreatedApiToken = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  token: Type.String(),
  /** When it stops working (null: never). */
  expiresAt: Type.Union([Type.String(), Type.Null()]),
});
export type CreatedApiToken = Static<typeof CreatedApiToken>;

/** POST /users/:username/revoke-access: what was ended. */
export const RevokeAccessResult = Type.Object({
  username: Type.String(),
  sessions: Type.Integer(),
  apiTokens: Type.Integer(),
});
export type RevokeAccessResult = Static<typeof RevokeAccessResult>;

export const EnrollmentToken = Type.Object({
  id: Type.Integer(),
  project: Type.String(),
  labels: Labels,
  usesLeft: Type.Integer(),
  uses: Type.Integer(),
  autoAccept: Type.Boolean(),
  expiresAt: Type.String(),
  createdAt: Type.String(),
  createdBy: Type.String(),
});
export type EnrollmentToken = Static<typeof EnrollmentToken>;

export const CreatedEnrollmentToken = Type.Object({
  id: Type.Integer(),
  token: Type.String(),
  command: Type.String(),
  expiresAt: Type.String(),
});
export type CreatedEnrollmentToken = Static<typeof CreatedEnrollmentToken>;

export const AuditEntry = Type.Object({
  id: Type.Integer(),
  at: Type.String(),
  actor: Type.String(),
  action: Type.String(),
  project: Type.String(),
  deviceId: Type.Union([Type.String(), Type.Null()]),
  /** The device's name: its current one, or the last one recorded (a deleted device); null for none. */
  deviceName: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  /** True when the device no longer exists (deleted). */
  deviceDeleted: Type.Optional(Type.Boolean()),
  detail: Type.Record(Type.String(), Type.Unknown()),
});
export type AuditEntry = Static<typeof AuditEntry>;

/** Page size of GET /api/v1/audit: the default, and the most one request may ask for. */
export const AUDIT_PAGE_DEFAULT = 100;
export const AUDIT_PAGE_MAX = 1000;

/** Filters and cursor of GET /api/v1/audit (all optional; they combine with AND). */
export const AuditQuery = Type.Object({
  /** A device id or name (a deleted device: its id, or the name it last had). */
  device: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  /** Who did it: a username, or `device:<id>` for what a device did itself. */
  actor: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  /** An action name ("device.accept"), or a prefix ending in `*` ("device.*"). */
  action: Type.Optional(Type.String({ pattern: "^[a-z0-9.-]{1,64}\\*?$" })),
  /** Entries at or after this time (ISO 8601). */
  since: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  /** Entries before this time (ISO 8601). */
  until: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  /** Cursor: only entries older than the entry with this id (pass the last id of a page to get the next). */
  before: Type.Optional(Type.Integer({ minimum: 1 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: AUDIT_PAGE_MAX, default: AUDIT_PAGE_DEFAULT })),
});
export type AuditQuery = Static<typeof AuditQuery>;

export const Me = Type.Object({
  username: Type.String(),
  project: Type.String(),
  role: Role,
  projects: Type.Array(Type.Object({ name: Type.String(), role: Role })),
  /** The project a sign-in naming none lands in, as the user chose it (null: the first by name). */
  defaultProject: Type.Optional(Type.Union([Type.String(), Type.Null()])),
});
export type Me = Static<typeof Me>;

/** PUT /me/default-project body. */
export const DefaultProjectBody = Type.Object({ project: Type.String({ minLength: 1, maxLength: 64 }) });
export type DefaultProjectBody = Static<typeof DefaultProjectBody>;

/** PUT /me/default-project answer: the project sign-ins now land in, and your role there. */
export const DefaultProjectResult = Type.Object({ defaultProject: Type.String(), role: Role });
export type DefaultProjectResult = Static<typeof DefaultProjectResult>;

export const PingResult = Type.Object({
  device: Type.String(),
  seq: Type.Integer(),
  rttMs: Type.Number(),
});
export type PingResult = Static<typeof PingResult>;

export const EchoResult = Type.Object({ ref: Type.String(), data: Type.String() });
export type EchoResult = Static<typeof EchoResult>;

/** Header that selects the project for a request authenticated by a session or token. */
export const PROJECT_HEADER = "x-tether-project";
export const SESSION_COOKIE = "tether_session";

// --- remote command execution (issue 4; docs/protocol.md §13) -----------------------------

/** Per-device state of a command. The first four are live; the rest are final. */
export const RUN_STATUSES = [
  "pending", // waiting for a concurrency slot (fleet)
  "queued", // in the device's outbox, device offline, waiting until the queue TTL
  "sent", // in the device's outbox, device online
  "running", // the agent has recorded "started" and spawned the process
  "succeeded", // exit code 0
  "failed", // non-zero exit code, or killed by a signal
  "timed_out", // the agent killed the process group at the timeout
  "error", // could not start (no such program, bad cwd, unknown user, ...)
  "offline", // device offline at start (no --queue-ttl), or went offline before delivery
  "expired", // queued, and the queue TTL passed before the device came back
  "cancelled", // cancelled by a user (queued ones dropped, running ones killed)
  "lost", // the agent restarted (or vanished) mid-command: it was never re-run
  "skipped", // not started because --max-failures was reached
] as const;
export const RunStatus = Type.Enum(RUN_STATUSES);
export type RunStatus = (typeof RUN_STATUSES)[number];
const LIVE = ["pending", "queued", "sent", "running"] as const satisfies readonly RunStatus[];
export type LiveRunStatus = (typeof LIVE)[number];
export type FinalRunStatus = Exclude<RunStatus, LiveRunStatus>;
/** The statuses that can still change. */
export const LIVE_RUN_STATUSES: ReadonlySet<RunStatus> = new Set<RunStatus>(LIVE);
/** The final statuses, in RUN_STATUSES order. */
export const FINAL_RUN_STATUSES = RUN_STATUSES.filter(
  (s): s is FinalRunStatus => !LIVE_RUN_STATUSES.has(s),
) as readonly FinalRunStatus[];

export const OutputEncoding = Type.Union([Type.Literal("utf8"), Type.Literal("base64")]);

/** One device's result: the object `tether exec --json` prints. */
export const CommandRun = Type.Object({
  command: Type.String(),
  device: Type.String(),
  deviceId: Type.String(),
  status: RunStatus,
  exitCode: Type.Union([Type.Integer(), Type.Null()]),
  signal: Type.Union([Type.String(), Type.Null()]),
  /** Why it could not start / was lost / went offline; null otherwise. */
  error: Type.Union([Type.String(), Type.Null()]),
  /** Present only when output was asked for (`?output=1`). */
  stdout: Type.Optional(Type.String()),
  stderr: Type.Optional(Type.String()),
  stdoutEncoding: Type.Optional(OutputEncoding),
  stderrEncoding: Type.Optional(OutputEncoding),
  /**
   * Present with the output only when the answer carries less than is stored (large output
   * is paged): the byte offset where the rest starts, for GET /commands/{id}/output.
   */
  stdoutNext: Type.Optional(Type.Integer({ minimum: 0 })),
  stderrNext: Type.Optional(Type.Integer({ minimum: 0 })),
  stdoutBytes: Type.Integer(),
  stderrBytes: Type.Integer(),
  stdoutTruncated: Type.Boolean(),
  stderrTruncated: Type.Boolean(),
  startedAt: Type.Union([Type.String(), Type.Null()]),
  finishedAt: Type.Union([Type.String(), Type.Null()]),
  durationMs: Type.Union([Type.Integer(), Type.Null()]),
});
export type CommandRun = Static<typeof CommandRun>;

export const CommandSummary = Type.Object({
  total: Type.Integer(),
  pending: Type.Integer(),
  queued: Type.Integer(),
  sent: Type.Integer(),
  running: Type.Integer(),
  succeeded: Type.Integer(),
  failed: Type.Integer(),
  timed_out: Type.Integer(),
  error: Type.Integer(),
  offline: Type.Integer(),
  expired: Type.Integer(),
  cancelled: Type.Integer(),
  lost: Type.Integer(),
  skipped: Type.Integer(),
});
export type CommandSummary = Static<typeof CommandSummary>;

/** A command id as the server makes them: "cmd_" and 20 lower-case letters or digits. */
const COMMAND_ID_RE = new RegExp(COMMAND_ID_PATTERN);
export const isCommandId = (s: unknown): s is string => typeof s === "string" && COMMAND_ID_RE.test(s);

export const Command = Type.Object({
  id: Type.String(),
  project: Type.String(),
  createdBy: Type.String(),
  createdAt: Type.String(),
  finishedAt: Type.Union([Type.String(), Type.Null()]),
  /** "running" while any run is live, then "done"; "cancelled" after a cancel. */
  state: Type.Union([Type.Literal("running"), Type.Literal("done"), Type.Literal("cancelled")]),
  argv: Type.Array(Type.String()),
  shell: Type.Boolean(),
  cwd: Type.Union([Type.String(), Type.Null()]),
  env: Type.Record(Type.String(), Type.String()),
  user: Type.Union([Type.String(), Type.Null()]),
  timeoutMs: Type.Integer(),
  queueTtlMs: Type.Integer(),
  outputLimit: Type.Integer(),
  concurrency: Type.Integer(),
  maxFailures: Type.Union([Type.Integer(), Type.Null()]),
  /** How the devices were picked, as the user wrote it. */
  target: Type.Object({
    devices: Type.Optional(Type.Array(Type.String())),
    /** With `devices` written as ids: the names those devices had when the command started (for display). */
    deviceNames: Type.Optional(Type.Array(Type.String())),
    selector: Type.Optional(Type.String()),
    all: Type.Optional(Type.Boolean()),
  }),
  summary: CommandSummary,
  /** Present on GET /commands/{id}; on GET /commands?device=… only that device's own run. */
  runs: Type.Optional(Type.Array(CommandRun)),
});
export type Command = Static<typeof Command>;

export const MAX_TIMEOUT_MS = 24 * 3600 * 1000;
export const MAX_QUEUE_TTL_MS = 30 * 24 * 3600 * 1000;
export const DEFAULT_TIMEOUT_MS = 60_000;
export const DEFAULT_OUTPUT_LIMIT = 1024 * 1024;
export const MAX_OUTPUT_LIMIT = 64 * 1024 * 1024;
/** stdin travels inside the durable start message (docs/protocol.md §13). */
export const MAX_STDIN_BYTES = 128 * 1024;

export const CreateCommand = Type.Object(
  {
    argv: Type.Array(Type.String({ maxLength: 65536 }), { minItems: 1, maxItems: 4096 }),
    /** Run argv[0] through `/bin/sh -c` (argv is joined with spaces). */
    shell: Type.Optional(Type.Boolean()),
    cwd: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
    env: Type.Optional(
      Type.Record(Type.String({ pattern: "^[A-Za-z_][A-Za-z0-9_]*$" }), Type.String({ maxLength: 65536 })),
    ),
    user: Type.Optional(Type.String({ pattern: "^[a-z_][a-z0-9_.-]{0,31}$" })),
    timeoutMs: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_TIMEOUT_MS })),
    /** 0 (default): offline devices are reported offline at once. */
    queueTtlMs: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_QUEUE_TTL_MS })),
    /** Bytes kept per stream per device. */
    outputLimit: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_OUTPUT_LIMIT })),
    /** base64 */
    stdin: Type.Optional(Type.String({ maxLength: Math.ceil((MAX_STDIN_BYTES * 4) / 3) + 4 })),
    devices: Type.Optional(Type.Array(Type.String({ maxLength: 128 }), { minItems: 1, maxItems: 100000 })),
    selector: Type.Optional(Type.String({ maxLength: 1024 })),
    all: Type.Optional(Type.Boolean()),
    /** Devices running at once (default 100; 0 = no limit). */
    concurrency: Type.Optional(Type.Integer({ minimum: 0, maximum: 100000 })),
    /** Stop starting new devices after this many failures. */
    maxFailures: Type.Optional(Type.Integer({ minimum: 1 })),
  },
  { additionalProperties: false },
);
export type CreateCommand = Static<typeof CreateCommand>;

/** One of a run's two stored output streams. */
export const OutputStream = Type.Union([Type.Literal("stdout"), Type.Literal("stderr")]);
export type OutputStream = Static<typeof OutputStream>;

/** GET /api/v1/commands/{id}/output query: which device's stream, from where, how much. */
export const CommandOutputQuery = Type.Object({
  /** The device's id or name. */
  device: Type.String({ minLength: 1, maxLength: 128 }),
  stream: OutputStream,
  offset: Type.Optional(Type.Integer({ minimum: 0 })),
  limit: Type.Optional(Type.Integer({ minimum: 1 })),
});
export type CommandOutputQuery = Static<typeof CommandOutputQuery>;

/** GET /api/v1/commands/{id}/output: one page of one device's stored stream. */
export const CommandOutputPage = Type.Object({
  deviceId: Type.String(),
  stream: OutputStream,
  /** Where `data` starts in the stream. */
  offset: Type.Integer({ minimum: 0 }),
  /** base64 of the bytes [offset, offset + length). */
  data: Type.String(),
  /** Bytes stored so far (grows while the command runs). */
  size: Type.Integer({ minimum: 0 }),
  /** The offset of the next page, or null when this page reaches the end of what is stored. */
  next: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()]),
});
export type CommandOutputPage = Static<typeof CommandOutputPage>;

/**
 * Events of GET /api/v1/commands/{id}/events (Server-Sent Events, `event:` = type,
 * `data:` = JSON). On connect the server replays the output and states so far, so a
 * client that subscribes after creating a command misses nothing. Output carries no offset:
 * each connection replays every stream from its start (see OutputAssembler.replay()).
 */
export const CommandRunEvent = Type.Object({ type: Type.Literal("run"), run: CommandRun });
export const CommandOutputEvent = Type.Object({
  type: Type.Literal("output"),
  deviceId: Type.String(),
  device: Type.String(),
  stream: OutputStream,
  /** base64 */
  data: Type.String(),
});
export const CommandDoneEvent = Type.Object({ type: Type.Literal("done"), command: Command });
export const CommandEvent = Type.Union([CommandRunEvent, CommandOutputEvent, CommandDoneEvent]);
export type CommandEvent = Static<typeof CommandEvent>;

export const ProjectSettings = Type.Object({
  /** Users `tether exec --user` may run commands as; empty = only the agent's own user. */
  execUsers: Type.Array(Type.String({ pattern: "^[a-z_][a-z0-9_.-]{0,31}$" }), { maxItems: 256 }),
});
export type ProjectSettings = Static<typeof ProjectSettings>;

// SSH keys (docs/protocol.md §17.6): a user's public keys for the SSH gateway.

/** Keys one user may register. */
export const MAX_SSH_KEYS_PER_USER = 50;
/** An SSH key fingerprint as OpenSSH prints it: `SHA256:` and 43 base64 characters (no padding). */
export const SSH_FINGERPRINT_PATTERN = "^SHA256:[A-Za-z0-9+/]{43}$";

export const SshKey = Type.Object({
  fingerprint: Type.String({ pattern: SSH_FINGERPRINT_PATTERN }),
  /** OpenSSH key type: ssh-ed25519, ecdsa-sha2-nistp256/384/521, ssh-rsa. */
  type: Type.String(),
  /** Key size in bits (256 for ed25519). */
  bits: Type.Integer(),
  /** The public key as one OpenSSH line without its comment: `ssh-ed25519 AAAA…`. */
  publicKey: Type.String(),
  comment: Type.String(),
  createdAt: Type.String(),
  /** The last time it signed in to the SSH gateway (null: never). */
  lastUsedAt: Type.Union([Type.String(), Type.Null()]),
});
export type SshKey = Static<typeof SshKey>;

/** POST /ssh-keys body: one public-key line as in authorized_keys or id_ed25519.pub (no options). */
export const AddSshKey = Type.Object(
  { key: Type.String({ minLength: 1, maxLength: 16384 }) },
  { additionalProperties: false },
);
export type AddSshKey = Static<typeof AddSshKey>;
