/** The configuration model's tables (docs/protocol.md §18), beside the core schema. */
import type { Generated, Kysely } from "kysely";
import type { DB } from "../../../store/schema.js";

/** One row per project that has configuration: its revision counter and its JSON Schema. */
export interface ConfigProjectsTable {
  project_id: number;
  /** The newest revision number given out (0: none yet). */
  revision: number;
  /** JSON: the project's JSON Schema for effective values, or null. */
  schema: string | null;
  schema_updated_at: string | null;
  schema_updated_by: string | null;
}

/** A layer: the project's defaults, a group, or one device's own layer. */
export interface ConfigLayersTable {
  id: Generated<number>;
  project_id: number;
  /** defaults | group | device */
  kind: string;
  /** "" (defaults), the group's name, or the device id. */
  name: string;
  /** Groups: the label selector. */
  selector: string | null;
  /** Groups: the merge priority (lower merges first). */
  priority: number | null;
  /** The layer's current revision; null while it has never been written. */
  revision: number | null;
  /** 1 for a deleted group (its history stays readable). */
  deleted: number;
  created_at: string;
  /** JSON LayerContent of the current revision (secrets as ciphertext). */
  content: string;
  updated_at: string | null;
  updated_by: string | null;
}

/** One revision: a change to one layer (or a retarget of one device: layer_id null). */
export interface ConfigRevisionsTable {
  project_id: number;
  revision: number;
  layer_id: number | null;
  /** Retarget revisions: the device. */
  device_id: string | null;
  kind: string;
  author: string;
  at: string;
  message: string;
  /** JSON: the layer's LayerContent after this revision (with `group` for groups), or null for a retarget. */
  content: string | null;
  /** JSON array: dotted keys and `file:PATH` entries it changed. */
  changed: string;
  /** For a rollback: the revision restored. */
  restored: number | null;
}

/** File contents by SHA-256 of the plaintext; secret ones are encrypted at rest. */
export interface ConfigBlobsTable {
  hash: string;
  size: number;
  secret: number;
  content: Buffer;
  created_at: string;
}

/**
 * The newest revision that changed a device's set of layers without any of its remaining
 * layers saying so (a retarget, a group it left or that was deleted): its effective revision
 * is at least this.
 */
export interface ConfigDeviceFloorsTable {
  device_id: string;
  project_id: number;
  revision: number;
}

export interface ConfigModelTables {
  config_projects: ConfigProjectsTable;
  config_layers: ConfigLayersTable;
  config_revisions: ConfigRevisionsTable;
  config_blobs: ConfigBlobsTable;
  config_device_floors: ConfigDeviceFloorsTable;
}

export type ConfigDB = DB & ConfigModelTables;

export const configDb = (db: Kysely<DB>): Kysely<ConfigDB> => db as unknown as Kysely<ConfigDB>;
