/**
 * Alerts and webhooks (docs/protocol.md §16): rules on metrics, presence and log lines, their
 * per-device states and history, silences, and the webhooks notified. REST shapes shared by
 * the server, the CLI and the console. Browser-safe (`@tether/protocol/alerts`).
 */
import { type Static, Type } from "typebox";

export const ALERT_OPS = ["<", "<=", ">", ">=", "==", "!="] as const;
export type AlertOp = (typeof ALERT_OPS)[number];
export const ALERT_KINDS = ["metric", "offline", "log"] as const;
export type AlertKind = (typeof ALERT_KINDS)[number];
export const ALERT_STATES = ["pending", "firing", "resolved"] as const;
export type AlertState = (typeof ALERT_STATES)[number];
export const ALERT_SEVERITIES = ["info", "warning", "critical"] as const;

/** Rule names: like device names. */
export const ALERT_RULE_NAME = "^[a-zA-Z0-9][a-zA-Z0-9._-]{0,62}$";
export const WEBHOOK_NAME = ALERT_RULE_NAME;

export const ALERT_LIMITS = {
  rulesPerProject: 500,
  webhooksPerProject: 50,
  /** Characters of a log pattern (a linear-time regular expression, RE2 syntax). */
  maxPatternChars: 512,
  /** History entries kept per project (oldest dropped). */
  historyPerProject: 100_000,
  /** Delivery log entries kept per webhook. */
  deliveriesPerWebhook: 1000,
} as const;

const Op = Type.Union([
  Type.Literal("<"),
  Type.Literal("<="),
  Type.Literal(">"),
  Type.Literal(">="),
  Type.Literal("=="),
  Type.Literal("!="),
]);
const Kind = Type.Union([Type.Literal("metric"), Type.Literal("offline"), Type.Literal("log")]);
const State = Type.Union([Type.Literal("pending"), Type.Literal("firing"), Type.Literal("resolved")]);
const Severity = Type.Union([Type.Literal("info"), Type.Literal("warning"), Type.Literal("critical")]);

/** POST /api/v1/alerts/rules. Exactly one of: metric+op+value, offlineMs, logPattern+count+withinMs. */
export const AlertRuleCreate = Type.Object(
  {
    name: Type.String({ pattern: ALERT_RULE_NAME }),
    /** Metric rules: the metric name, an optional series label filter (`mount=/`), the comparison. */
    metric: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    labels: Type.Optional(Type.String({ maxLength: 512 })),
    op: Type.Optional(Op),
    value: Type.Optional(Type.Number()),
    /** The condition must hold this long before the alert fires (pending until then); default 0. */
    forMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 7 * 86_400_000 })),
    /** Presence rules: offline this long. */
    offlineMs: Type.Optional(Type.Integer({ minimum: 1000, maximum: 30 * 86_400_000 })),
    /** Log rules: a pattern seen `count` times within `withinMs`. */
    logPattern: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })),
    count: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
    withinMs: Type.Optional(Type.Integer({ minimum: 1000, maximum: 86_400_000 })),
    /** Which devices (label selector); default every device of the project. */
    selector: Type.Optional(Type.String({ maxLength: 512 })),
    /** Webhooks (names) notified on firing and resolved. */
    webhooks: Type.Optional(Type.Array(Type.String({ pattern: WEBHOOK_NAME }), { maxItems: 10 })),
    severity: Type.Optional(Severity),
    description: Type.Optional(Type.String({ maxLength: 1000 })),
  },
  { additionalProperties: false },
);
export type AlertRuleCreate = Static<typeof AlertRuleCreate>;

export const AlertRule = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  kind: Kind,
  metric: Type.Union([Type.String(), Type.Null()]),
  labels: Type.Union([Type.String(), Type.Null()]),
  op: Type.Union([Op, Type.Null()]),
  value: Type.Union([Type.Number(), Type.Null()]),
  forMs: Type.Integer(),
  offlineMs: Type.Union([Type.Integer(), Type.Null()]),
  logPattern: Type.Union([Type.String(), Type.Null()]),
  count: Type.Union([Type.Integer(), Type.Null()]),
  withinMs: Type.Union([Type.Integer(), Type.Null()]),
  selector: Type.Union([Type.String(), Type.Null()]),
  webhooks: Type.Array(Type.String()),
  severity: Severity,
  description: Type.Union([Type.String(), Type.Null()]),
  /** One line for people: "battery_percent < 15 for 2m at site=tokyo". */
  condition: Type.String(),
  createdAt: Type.String(),
  createdBy: Type.String(),
  /** ISO end of the active silence, or null. */
  silencedUntil: Type.Union([Type.String(), Type.Null()]),
  /** Devices in each state now. */
  firing: Type.Integer(),
  pending: Type.Integer(),
});
export type AlertRule = Static<typeof AlertRule>;

/** One alert: a rule's state on one device (GET /api/v1/alerts; firing first). */
export const Alert = Type.Object({
  rule: Type.String(),
  ruleId: Type.Integer(),
  device: Type.String(),
  deviceId: Type.String(),
  state: State,
  severity: Severity,
  /** The value that crossed (metric), offline seconds (presence), matches in the window (log). */
  value: Type.Union([Type.Number(), Type.Null()]),
  /** One line for people: "battery_percent is 12 (< 15) for 2m". */
  summary: Type.String(),
  /** ISO: condition first held; fired; resolved. */
  since: Type.String(),
  firedAt: Type.Union([Type.String(), Type.Null()]),
  resolvedAt: Type.Union([Type.String(), Type.Null()]),
  silenced: Type.Boolean(),
});
export type Alert = Static<typeof Alert>;

/** A state change (GET /api/v1/alerts/history), newest first. */
export const AlertEvent = Type.Object({
  id: Type.Integer(),
  rule: Type.String(),
  device: Type.String(),
  deviceId: Type.String(),
  state: State,
  value: Type.Union([Type.Number(), Type.Null()]),
  summary: Type.String(),
  at: Type.String(),
});
export type AlertEvent = Static<typeof AlertEvent>;

/** POST /api/v1/alerts/rules/{name}/silence */
export const AlertSilenceCreate = Type.Object(
  {
    durationMs: Type.Integer({ minimum: 1000, maximum: 90 * 86_400_000 }),
    comment: Type.Optional(Type.String({ maxLength: 500 })),
  },
  { additionalProperties: false },
);
export const AlertSilence = Type.Object({
  id: Type.Integer(),
  rule: Type.String(),
  until: Type.String(),
  createdBy: Type.String(),
  createdAt: Type.String(),
  comment: Type.Union([Type.String(), Type.Null()]),
});
export type AlertSilence = Static<typeof AlertSilence>;

/** POST /api/v1/webhooks. Without `secret` the server generates one and returns it once. */
export const WebhookCreate = Type.Object(
  {
    name: Type.String({ pattern: WEBHOOK_NAME }),
    url: Type.String({ minLength: 8, maxLength: 2048 }),
    secret: Type.Optional(Type.String({ minLength: 16, maxLength: 512 })),
  },
  { additionalProperties: false },
);
export type WebhookCreate = Static<typeof WebhookCreate>;

export const Webhook = Type.Object({
  name: Type.String(),
  url: Type.String(),
  createdAt: Type.String(),
  createdBy: Type.String(),
  /** Present only in the answer to create when the server generated the secret. */
  secret: Type.Optional(Type.String()),
  lastDelivery: Type.Union([Type.Null(), Type.Object({ at: Type.String(), status: Type.String() })]),
});
export type Webhook = Static<typeof Webhook>;

/** One delivery (GET /api/v1/webhooks/{name}/deliveries), newest first. */
export const WebhookDelivery = Type.Object({
  id: Type.Integer(),
  webhook: Type.String(),
  /** "firing" | "resolved" | "test" */
  event: Type.String(),
  rule: Type.Union([Type.String(), Type.Null()]),
  device: Type.Union([Type.String(), Type.Null()]),
  /** pending (retrying) | delivered | failed (gave up) */
  status: Type.Union([Type.Literal("pending"), Type.Literal("delivered"), Type.Literal("failed")]),
  attempts: Type.Integer(),
  httpStatus: Type.Union([Type.Integer(), Type.Null()]),
  lastError: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String(),
  updatedAt: Type.String(),
  /** Every attempt's outcome, oldest first (optional: added by the server side of alerts). */
  log: Type.Optional(
    Type.Array(
      Type.Object({
        at: Type.String(),
        httpStatus: Type.Union([Type.Integer(), Type.Null()]),
        /** null when the attempt delivered. */
        error: Type.Union([Type.String(), Type.Null()]),
        ms: Type.Integer(),
      }),
    ),
  ),
});
export type WebhookDelivery = Static<typeof WebhookDelivery>;

/**
 * The webhook request: POST, JSON in the Prometheus Alertmanager webhook shape (version "4":
 * receiver, status, alerts[] with labels, annotations, startsAt, endsAt, fingerprint), signed:
 * `X-Tether-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`, plus
 * `X-Tether-Delivery: <delivery id>`. Redirects are not followed (a failure); a request
 * times out after 10 s; failures are retried with backoff.
 */
export const WEBHOOK_SIGNATURE_HEADER = "x-tether-signature";
export const WEBHOOK_DELIVERY_HEADER = "x-tether-delivery";
