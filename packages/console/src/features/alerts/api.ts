/**
 * The alerts and webhooks routes (docs/protocol.md §16) over the console's one client (session
 * cookie, the project header). Every answer is checked against its @tether/protocol/alerts
 * schema, so a server that answers something else is reported, not drawn wrong.
 */
import {
  Alert,
  AlertEvent,
  AlertRule,
  type AlertRuleCreate,
  AlertSilence,
  type AlertState,
  Webhook,
} from "@tether/protocol/alerts";
import { type Validator, validator } from "@tether/protocol/validate";
import { ApiError } from "@tether/sdk";
import { client } from "../../client";

type TSchema = Parameters<typeof validator>[0];

const cache = new Map<TSchema, Validator<any>>();
function checked<T>(schema: TSchema, method: string, path: string, json: unknown): T {
  let v = cache.get(schema);
  if (!v) {
    v = validator(schema);
    cache.set(schema, v);
  }
  try {
    return v.parse(json) as T;
  } catch (err) {
    throw new ApiError(
      502,
      "TETHER_ERR_HTTP",
      `${method} ${path}: unexpected answer (${(err as Error).message})`,
    );
  }
}

async function getList<T>(
  schema: TSchema,
  path: string,
  query?: Record<string, string | undefined>,
): Promise<T[]> {
  const json = await client.request<unknown>("GET", path, undefined, query);
  if (!Array.isArray(json))
    throw new ApiError(502, "TETHER_ERR_HTTP", `GET ${path}: unexpected answer (not a list)`);
  return json.map((x) => checked<T>(schema, "GET", path, x));
}

const rulePath = (name: string) => `/api/v1/alerts/rules/${encodeURIComponent(name)}`;

export const alertsApi = {
  /** Alerts now (firing first); `state` and `device` narrow them. */
  list: (o: { state?: AlertState; device?: string } = {}) =>
    getList<Alert>(Alert, "/api/v1/alerts", { state: o.state, device: o.device }),
  history: () => getList<AlertEvent>(AlertEvent, "/api/v1/alerts/history"),
  rules: () => getList<AlertRule>(AlertRule, "/api/v1/alerts/rules"),
  async createRule(body: AlertRuleCreate): Promise<AlertRule> {
    const json = await client.request<unknown>("POST", "/api/v1/alerts/rules", body);
    return checked<AlertRule>(AlertRule, "POST", "/api/v1/alerts/rules", json);
  },
  async deleteRule(name: string): Promise<void> {
    await client.request("DELETE", rulePath(name));
  },
  async silence(name: string, durationMs: number, comment?: string): Promise<void> {
    await client.request("POST", `${rulePath(name)}/silence`, {
      durationMs,
      ...(comment ? { comment } : {}),
    });
  },
  async endSilence(name: string): Promise<void> {
    await client.request("DELETE", `${rulePath(name)}/silence`);
  },
  silences: () => getList<AlertSilence>(AlertSilence, "/api/v1/alerts/silences"),
  webhooks: () => getList<Webhook>(Webhook, "/api/v1/webhooks"),
};

export type { Alert, AlertEvent, AlertRule, AlertRuleCreate, AlertSilence, AlertState, Webhook };
