/**
 * The alerts and webhooks REST API (docs/protocol.md §16) over a TetherClient: rules, the
 * alerts (a rule's state per device), history, silences, webhooks and their delivery log.
 * Every answer is checked against its @tether/protocol/alerts schema. Browser-safe.
 */
import {
  Alert,
  AlertEvent,
  AlertRule,
  type AlertRuleCreate,
  AlertSilence,
  type AlertState,
  Webhook,
  type WebhookCreate,
  WebhookDelivery,
} from "@tether/protocol/alerts";
import { validator } from "@tether/protocol/validate";
import { arrayOf, checkedCall, lazy } from "./checked.js";
import type { TetherClient } from "./client.js";

const checkRule = lazy(() => validator(AlertRule));
const checkRules = arrayOf(checkRule);
const checkAlerts = arrayOf(lazy(() => validator(Alert)));
const checkEvents = arrayOf(lazy(() => validator(AlertEvent)));
const checkSilence = lazy(() => validator(AlertSilence));
const checkSilences = arrayOf(checkSilence);
const checkWebhook = lazy(() => validator(Webhook));
const checkWebhooks = arrayOf(checkWebhook);
const checkDelivery = lazy(() => validator(WebhookDelivery));
const checkDeliveries = arrayOf(checkDelivery);

export interface AlertListQuery {
  state?: AlertState;
  /** Device name or id. */
  device?: string;
}

export interface AlertHistoryQuery {
  rule?: string;
  device?: string;
  limit?: number;
}

export interface AlertsApi {
  listRules(): Promise<AlertRule[]>;
  getRule(name: string): Promise<AlertRule>;
  /** The server checks the rule (one kind, a known metric, a valid selector and pattern). */
  createRule(rule: AlertRuleCreate): Promise<AlertRule>;
  deleteRule(name: string): Promise<void>;
  /** Silence a rule for `durationMs` (no notifications; its states still change). */
  silence(rule: string, durationMs: number, comment?: string): Promise<AlertSilence>;
  /** End a rule's active silence. */
  unsilence(rule: string): Promise<void>;
  /** The active silences. */
  silences(): Promise<AlertSilence[]>;
  /** Alerts now (firing first); `state`/`device` narrow them. */
  list(q?: AlertListQuery): Promise<Alert[]>;
  /** State changes, newest first. */
  history(q?: AlertHistoryQuery): Promise<AlertEvent[]>;
}

export interface WebhooksApi {
  list(): Promise<Webhook[]>;
  /** Without `secret` the server generates one: it is in this answer only (`secret`). */
  create(w: WebhookCreate): Promise<Webhook>;
  delete(name: string): Promise<void>;
  /** Send a test notification now and wait for its outcome (one attempt; no retries). */
  test(name: string): Promise<WebhookDelivery>;
  /** The delivery log, newest first. */
  deliveries(name: string): Promise<WebhookDelivery[]>;
}

const RULES = "/api/v1/alerts/rules";
const rule = (name: string) => `${RULES}/${encodeURIComponent(name)}`;
const HOOKS = "/api/v1/webhooks";
const hook = (name: string) => `${HOOKS}/${encodeURIComponent(name)}`;

export function alertsApi(c: TetherClient): AlertsApi {
  const call = checkedCall(c);
  return {
    listRules: () => call(checkRules, "GET", RULES),
    getRule: (name) => call(checkRule, "GET", rule(name)),
    createRule: (r) => call(checkRule, "POST", RULES, r),
    async deleteRule(name) {
      await c.request("DELETE", rule(name));
    },
    silence: (name, durationMs, comment) =>
      call(checkSilence, "POST", `${rule(name)}/silence`, {
        durationMs,
        ...(comment !== undefined ? { comment } : {}),
      }),
    async unsilence(name) {
      await c.request("DELETE", `${rule(name)}/silence`);
    },
    silences: () => call(checkSilences, "GET", "/api/v1/alerts/silences"),
    list: (q = {}) =>
      call(checkAlerts, "GET", "/api/v1/alerts", undefined, { state: q.state, device: q.device }),
    history: (q = {}) =>
      call(checkEvents, "GET", "/api/v1/alerts/history", undefined, {
        rule: q.rule,
        device: q.device,
        limit: q.limit,
      }),
  };
}

export function webhooksApi(c: TetherClient): WebhooksApi {
  const call = checkedCall(c);
  return {
    list: () => call(checkWebhooks, "GET", HOOKS),
    create: (w) => call(checkWebhook, "POST", HOOKS, w),
    async delete(name) {
      await c.request("DELETE", hook(name));
    },
    test: (name) => call(checkDelivery, "POST", `${hook(name)}/test`, {}),
    deliveries: (name) => call(checkDeliveries, "GET", `${hook(name)}/deliveries`),
  };
}
