/**
 * The alerts and webhooks routes (docs/protocol.md §16) over the console's one client (session
 * cookie, the project header): the SDK's alertsApi and webhooksApi, which check every answer
 * against its @tether/protocol/alerts schema, so a server that answers something else is
 * reported, not drawn wrong.
 */
import type {
  Alert,
  AlertEvent,
  AlertRule,
  AlertRuleCreate,
  AlertSilence,
  AlertState,
  Webhook,
} from "@tether/protocol/alerts";
import { alertsApi as sdkAlertsApi, webhooksApi } from "@tether/sdk";
import { client } from "../../client";

const alerts = sdkAlertsApi(client);
const webhooks = webhooksApi(client);

export const alertsApi = {
  /** Alerts now (firing first); `state` and `device` narrow them. */
  list: (o: { state?: AlertState; device?: string } = {}) => alerts.list(o),
  history: () => alerts.history(),
  rules: () => alerts.listRules(),
  createRule: (body: AlertRuleCreate) => alerts.createRule(body),
  deleteRule: (name: string) => alerts.deleteRule(name),
  async silence(name: string, durationMs: number, comment?: string): Promise<void> {
    await alerts.silence(name, durationMs, comment || undefined);
  },
  endSilence: (name: string) => alerts.unsilence(name),
  silences: () => alerts.silences(),
  webhooks: () => webhooks.list(),
};

export type { Alert, AlertEvent, AlertRule, AlertRuleCreate, AlertSilence, AlertState, Webhook };
