/** The alerts capability's tables (docs/protocol.md §16), beside the core schema. */
import type { Generated, Kysely } from "kysely";
import type { DB } from "../../store/schema.js";

export interface AlertRulesTable {
  id: Generated<number>;
  project_id: number;
  name: string;
  kind: string;
  /** JSON: the normalized AlertRuleCreate (without name and webhooks). */
  spec: string;
  /** JSON array of webhook names. */
  webhooks: string;
  created_at: string;
  created_by: string;
}

/** One rule's state on one device: pending, firing, or recently resolved. */
export interface AlertStatesTable {
  rule_id: number;
  device_id: string;
  state: string;
  since: string;
  fired_at: string | null;
  resolved_at: string | null;
  value: number | null;
  summary: string;
  /** 1 when the firing was notified (so its resolution is notified too). */
  notified: number;
}

export interface AlertHistoryTable {
  id: Generated<number>;
  project_id: number;
  rule_id: number;
  rule_name: string;
  device_id: string;
  device_name: string;
  state: string;
  value: number | null;
  summary: string;
  at: string;
}

export interface AlertSilencesTable {
  id: Generated<number>;
  project_id: number;
  rule_id: number;
  until: string;
  created_at: string;
  created_by: string;
  comment: string | null;
  /** Set when ended early (DELETE). */
  ended_at: string | null;
}

export interface WebhooksTable {
  id: Generated<number>;
  project_id: number;
  name: string;
  url: string;
  secret: string;
  created_at: string;
  created_by: string;
}

export interface WebhookDeliveriesTable {
  id: Generated<number>;
  webhook_id: number;
  event: string;
  rule_name: string | null;
  device_name: string | null;
  /** The JSON body sent (pending deliveries survive a restart). */
  payload: string;
  status: string;
  attempts: number;
  http_status: number | null;
  last_error: string | null;
  /** JSON: [{at, httpStatus, error, ms}] */
  attempt_log: string;
  next_at: string;
  created_at: string;
  updated_at: string;
}

export interface AlertTables {
  alert_rules: AlertRulesTable;
  alert_states: AlertStatesTable;
  alert_history: AlertHistoryTable;
  alert_silences: AlertSilencesTable;
  webhooks: WebhooksTable;
  webhook_deliveries: WebhookDeliveriesTable;
}

export type AlertsDB = DB & AlertTables;

/** The core handle viewed with the alerts tables. */
export const alertsDb = (db: Kysely<DB>): Kysely<AlertsDB> => db as unknown as Kysely<AlertsDB>;
