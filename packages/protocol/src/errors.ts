/**
 * Stable error codes (docs/architecture.md §4). Each has an HTTP status and a one-line "thrown when".
 * Wire and API errors share this table; consumers never redefine codes.
 */
export const ERRORS = {
  TETHER_ERR_BAD_REQUEST: { status: 400, when: "the request body, query or parameters fail validation" },
  TETHER_ERR_BAD_SELECTOR: {
    status: 400,
    when: "a device selector is not key=value (or key!=value) pairs separated by commas, or is empty",
  },
  TETHER_ERR_UNAUTHENTICATED: {
    status: 401,
    when: "no valid API token or session cookie was presented (or the token expired)",
  },
  TETHER_ERR_FORBIDDEN: { status: 403, when: "the caller's role in the project does not allow the action" },
  TETHER_ERR_NOT_FOUND: { status: 404, when: "no API route matches the method and path" },
  TETHER_ERR_BAD_ORIGIN: { status: 403, when: "a cookie-authenticated request came from another origin" },
  TETHER_ERR_PROJECT_NOT_FOUND: {
    status: 404,
    when: "the selected project does not exist or the caller has no role in it",
  },
  TETHER_ERR_DEVICE_NOT_FOUND: { status: 404, when: "no device with that id or name exists in the project" },
  TETHER_ERR_BAD_DEVICE_NAME: {
    status: 400,
    when: "a device name (at enrollment or rename) is not letters, digits, . _ - (1-64 characters)",
  },
  TETHER_ERR_DEVICE_AMBIGUOUS: {
    status: 409,
    when: "a device name matches several accepted devices (or, none accepted, several others); use the id",
  },
  TETHER_ERR_DEVICE_STATE: { status: 409, when: "the device is not in a state that allows the action" },
  TETHER_ERR_DEVICE_OFFLINE: { status: 409, when: "the device is not connected" },
  TETHER_ERR_DEVICE_TIMEOUT: { status: 504, when: "the device did not answer in time" },
  TETHER_ERR_NO_DEVICES_MATCH: { status: 404, when: "a selector (or --all) matched no accepted device" },
  TETHER_ERR_COMMAND_NOT_FOUND: { status: 404, when: "no command with that id exists in the project" },
  TETHER_ERR_EXEC_USER_NOT_ALLOWED: {
    status: 403,
    when: "exec --user names a user the project does not allow commands to run as",
  },
  TETHER_ERR_USER_NOT_FOUND: { status: 404, when: "no such user" },
  TETHER_ERR_USER_EXISTS: {
    status: 409,
    when: "the username is taken (adding an existing user to a project is for the server admin)",
  },
  TETHER_ERR_PROJECT_EXISTS: { status: 409, when: "a project with that name already exists" },
  TETHER_ERR_TOKEN_NOT_FOUND: { status: 404, when: "no such API or enrollment token" },
  TETHER_ERR_LOGIN_FAILED: { status: 401, when: "username or password is wrong" },
  TETHER_ERR_ENROLL_TOKEN_INVALID: {
    status: 403,
    when: "the enrollment token is unknown, forged, expired or used up",
  },
  TETHER_ERR_ENROLL_SIGNATURE: {
    status: 400,
    when: "an enrollment request's signature does not verify against its key",
  },
  TETHER_ERR_ENROLL_WRONG_SERVER: { status: 400, when: "an enrollment request pins another server's key" },
  TETHER_ERR_ENROLL_KEY_BLOCKED: { status: 403, when: "the device key belongs to a revoked device" },
  TETHER_ERR_ENROLL_REJECTED: { status: 403, when: "an operator rejected this device" },
  TETHER_ERR_PAYLOAD_TOO_LARGE: { status: 413, when: "a request or message exceeds the size limit" },
  TETHER_ERR_RATE_LIMITED: {
    status: 429,
    when: "too many sign-in attempts (per address, or failures per username) or enrollment requests per address, or a device's telemetry uploads in progress or samples over its budget; see Retry-After",
  },
  TETHER_ERR_TOO_MANY_STREAMS: {
    status: 429,
    when: "a user already has the most command event streams open at once (server --max-event-streams)",
  },
  TETHER_ERR_TELEMETRY_TOKEN: {
    status: 401,
    when: "a telemetry upload's device token is missing, wrong, revoked or belongs to another device",
  },
  TETHER_ERR_TLS_REQUIRED: { status: 403, when: "telemetry ingest was reached without TLS" },
  TETHER_ERR_BATCH_MALFORMED: {
    status: 400,
    when: "a telemetry batch is not valid JSON, not gzip, or does not follow docs/protocol.md §14",
  },
  TETHER_ERR_SERIES_LIMIT: {
    status: 429,
    when: "a device already has the most distinct metric series the server keeps (its cardinality limit); new series are dropped and counted",
  },
  TETHER_ERR_METRIC_NOT_FOUND: { status: 404, when: "no such metric was stored for the device or selector" },
  TETHER_ERR_RULE_INVALID: {
    status: 400,
    when: "an alert rule is not exactly one kind (metric, offline, log), names a metric no device of the project reported, or a webhook the project does not have",
  },
  TETHER_ERR_PATTERN_INVALID: { status: 400, when: "an alert rule's log pattern is not valid RE2 syntax" },
  TETHER_ERR_PATTERN_UNSAFE: {
    status: 400,
    when: "an alert rule's log pattern needs backtracking (backreferences, lookaround) or compiles too large to match in bounded time",
  },
  TETHER_ERR_RULE_NOT_FOUND: { status: 404, when: "no alert rule with that name exists in the project" },
  TETHER_ERR_RULE_EXISTS: { status: 409, when: "an alert rule with that name already exists in the project" },
  TETHER_ERR_SILENCE_NOT_FOUND: { status: 404, when: "the alert rule has no active silence" },
  TETHER_ERR_WEBHOOK_INVALID: {
    status: 400,
    when: "a webhook URL is not an absolute http:// or https:// URL",
  },
  TETHER_ERR_WEBHOOK_NOT_FOUND: { status: 404, when: "no webhook with that name exists in the project" },
  TETHER_ERR_WEBHOOK_EXISTS: { status: 409, when: "a webhook with that name already exists in the project" },
  TETHER_ERR_TUNNEL_TIMEOUT: {
    status: 504,
    when: "the device did not dial back for a tunnel (terminal, SSH, port forward) within the timeout",
  },
  TETHER_ERR_TUNNEL_LIMIT: {
    status: 429,
    when: "the device or the user already has the most open sessions allowed (--tunnel-per-device, --tunnel-per-user)",
  },
  TETHER_ERR_TUNNEL_TOKEN: {
    status: 401,
    when: "a tunnel dial-back presented a token that is unknown, used, expired, or for another device or session",
  },
  TETHER_ERR_TUNNEL_CLOSED: {
    status: 410,
    when: "the session ended (exited, closed, timed out, or revoked)",
  },
  TETHER_ERR_SESSION_NOT_FOUND: { status: 404, when: "no session with that id exists in the project" },
  TETHER_ERR_RECORDING_NOT_FOUND: {
    status: 404,
    when: "the session was not recorded (recording off for the project) or its recording was deleted",
  },
  TETHER_ERR_SPAWN_FAILED: {
    status: 502,
    when: "the device could not start the shell or command (no such user, program not found)",
  },
  TETHER_ERR_FORWARD_NOT_ALLOWED: {
    status: 403,
    when: "a port forward names a destination not on the project's allow-list (tether projects tunnels --forward-allow)",
  },
  TETHER_ERR_FORWARD_FAILED: {
    status: 502,
    when: "the device could not connect to the forward's destination (refused, unreachable, timed out)",
  },
  TETHER_ERR_SSH_KEY_INVALID: {
    status: 400,
    when: "an SSH public key is not one OpenSSH line of a supported type",
  },
  TETHER_ERR_SSH_KEY_EXISTS: {
    status: 409,
    when: "that SSH key is already registered (to you or another user)",
  },
  TETHER_ERR_SSH_KEY_NOT_FOUND: { status: 404, when: "you have no SSH key with that fingerprint" },
  TETHER_ERR_ALERT_LIMIT: {
    status: 409,
    when: "the project already has the most alert rules (500) or webhooks (50) it may have",
  },
  TETHER_ERR_CONFIG_CONFLICT: {
    status: 409,
    when: "the configuration layer changed since the revision the edit was based on (someone else saved first)",
  },
  TETHER_ERR_CONFIG_INVALID: {
    status: 400,
    when: "a configuration value or file is not valid (bad JSON or YAML, a tether.* setting refused)",
  },
  TETHER_ERR_CONFIG_KEY: { status: 400, when: "a configuration key or file path breaks the naming rule" },
  TETHER_ERR_CONFIG_SCHEMA: {
    status: 422,
    when: "the change would make a device's configuration violate the project's JSON Schema (path and reason given)",
  },
  TETHER_ERR_CONFIG_TOO_LARGE: {
    status: 413,
    when: "a configuration value, layer, device's merged configuration or file is over its size limit",
  },
  TETHER_ERR_CONFIG_GROUP_EXISTS: { status: 409, when: "a configuration group of that name exists" },
  TETHER_ERR_CONFIG_GROUP_NOT_FOUND: {
    status: 404,
    when: "no configuration group of that name in the project",
  },
  TETHER_ERR_CONFIG_PRIORITY: {
    status: 409,
    when: "another group of the same priority already matches a device this group matches",
  },
  TETHER_ERR_CONFIG_REVISION_NOT_FOUND: {
    status: 404,
    when: "no such configuration revision in the project (or not of that layer)",
  },
  TETHER_ERR_CONFIG_LIMIT: {
    status: 409,
    when: "the project already has the most configuration groups or unfinished rollouts it may have",
  },
  TETHER_ERR_CONFIG_BLOB_NOT_FOUND: {
    status: 404,
    when: "(device) no file with that hash in the device's desired configuration",
  },
  TETHER_ERR_ROLLOUT_NOT_FOUND: { status: 404, when: "no such rollout in the project" },
  TETHER_ERR_ROLLOUT_ACTIVE: {
    status: 409,
    when: "the layer has an unfinished rollout; resume, wait for or abort it first",
  },
  TETHER_ERR_ROLLOUT_STATE: {
    status: 409,
    when: "the rollout cannot do that in its state (e.g. resume a finished one)",
  },
  TETHER_ERR_STORE_UNAVAILABLE: { status: 503, when: "the database cannot be reached right now; retry" },
  TETHER_ERR_INTERNAL: { status: 500, when: "an unexpected server error" },
  // Raised by clients (SDK, CLI), never sent by the server.
  TETHER_ERR_UNREACHABLE: { status: 503, when: "(client side) the server could not be reached" },
  TETHER_ERR_HTTP: {
    status: 502,
    when: "(client side) the server answered with an unexpected, non-JSON error",
  },
  // Control-channel wire errors (carried in signed Reject frames).
  TETHER_ERR_UNSUPPORTED_VERSION: {
    status: 400,
    when: "the agent speaks a protocol version the server does not",
  },
  TETHER_ERR_DEVICE_REVOKED: { status: 403, when: "the device was revoked; it must not reconnect" },
  // Control-channel frame errors (docs/protocol.md §11): raised as ProtocolError, dropped and
  // counted, never answered on the wire.
  TETHER_ERR_FRAME_MALFORMED: {
    status: 400,
    when: "(frame) too short, wrong length, unknown or unexpected type, wrong direction",
  },
  TETHER_ERR_DECRYPT: { status: 400, when: "(frame) AES-GCM authentication failed" },
  TETHER_ERR_REPLAY: { status: 400, when: "(frame) counter already accepted or older than the window" },
  TETHER_ERR_UNKNOWN_KEY: {
    status: 400,
    when: "(frame) a Data frame under a key id the receiver does not hold",
  },
  TETHER_ERR_HANDSHAKE: {
    status: 400,
    when: "(frame) Noise handshake failed, wrong handshake id, bad counter payload",
  },
  TETHER_ERR_SIGNATURE: { status: 400, when: "(frame) a signed frame's signature does not verify" },
} as const;

export type ErrorCode = keyof typeof ERRORS;

export class TetherError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    status?: number,
  ) {
    super(message);
    this.name = "TetherError";
    this.status = status ?? ERRORS[code].status;
  }
}

/** A control-channel frame was refused (docs/protocol.md §11); one of the `(frame)` codes above. */
export class ProtocolError extends TetherError {
  constructor(code: ErrorCode, message: string) {
    super(code, message);
    this.name = "ProtocolError";
  }
}

export interface ErrorBody {
  error: { code: string; message: string };
}
