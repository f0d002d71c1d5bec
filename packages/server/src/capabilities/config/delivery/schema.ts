/** Configuration delivery's tables (./migrations.ts), beside the core schema. */
import type { Kysely } from "kysely";
import type { DB } from "../../../store/schema.js";

export interface ConfigDeviceStateTable {
  device_id: string;
  project_id: number;
  desired_rev: number | null;
  desired_hash: string | null;
  /** The undelivered `config.apply` in the device's outbox, or null. */
  mid: number | null;
  /** 1 once the agent acknowledged the newest `config.apply`. */
  delivered: number;
  /** JSON: the last 8 configurations sent, oldest first: [rev, hash, [file hashes], [secret file hashes]]. */
  sent: string;
  reported_rev: number | null;
  reported_hash: string | null;
  reported_at: string | null;
  status: string;
  error: string | null;
  hook_output: string | null;
  /** JSON array of drifted paths. */
  drift: string;
  updated_at: string;
}

export interface ConfigRolloutsTable {
  id: string;
  project_id: number;
  layer_id: number;
  layer_ref: string;
  layer_label: string;
  revision: number;
  base_revision: number | null;
  state: string;
  reason: string | null;
  canary: string;
  wait_ms: number | null;
  max_failures: number;
  release_at: string | null;
  /** 1 once the rest was released. */
  rest_released: number;
  /** Failures an operator's resume accepted (automatic pause counts failures beyond these). */
  failures_seen: number;
  created_by: string;
  created_at: string;
  updated_at: string;
}

export interface ConfigRolloutDevicesTable {
  rollout_id: string;
  device_id: string;
  device_name: string;
  stage: string;
  released: number;
}

export interface DeliveryTables {
  config_device_state: ConfigDeviceStateTable;
  config_rollouts: ConfigRolloutsTable;
  config_rollout_devices: ConfigRolloutDevicesTable;
}

export type DeliveryDB = DB & DeliveryTables;

export const deliveryDb = (db: Kysely<DB>): Kysely<DeliveryDB> => db as unknown as Kysely<DeliveryDB>;

/** One sent configuration: [rev, hash, file hashes, secret file hashes]. */
export type SentEntry = [number, string, string[], string[]?];
export const SENT_KEEP = 8;
