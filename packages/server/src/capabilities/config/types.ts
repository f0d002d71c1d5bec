/**
 * Remote configuration, server side (docs/protocol.md §18): the contract between the model
 * (layers, revisions, groups, schema, secrets at rest, effective configuration: model/*.ts) and
 * delivery (desired vs reported per device, the outbox, reports, blobs, rollouts:
 * delivery/*.ts). index.ts wires them; nothing else of this folder is imported from outside.
 */
import type {
  ConfigDeviceStatus,
  ConfigFileKind,
  ConfigLayerKind,
  ConfigRollout,
  RolloutSpec,
} from "@tether/protocol";
import type { Principal } from "../../accounts.js";
import type { DeviceRow } from "../../devices.js";

/** A layer row's identity. `name`: "" (defaults), the group's name, or the device id. */
export interface LayerId {
  /** The config_layers row id. */
  id: number;
  projectId: number;
  kind: ConfigLayerKind;
  name: string;
  /** `defaults`, `group:NAME`, `device:DEVICE_NAME` (for URLs and the CLI). */
  ref: string;
  /** For people: "project defaults", "group site-tokyo", "device robot-7". */
  label: string;
}

export interface EffectiveFile {
  path: string;
  /** SHA-256 of the plaintext, hex: the key of the blob store. */
  hash: string;
  size: number;
  kind: ConfigFileKind;
  secret: boolean;
  /** The most specific layer that contributed (for merged JSON/YAML files: the last one). */
  layer: LayerId;
}

/** One device's effective configuration, plaintext (secrets included: for delivery only). */
export interface Effective {
  deviceId: string;
  values: Record<string, unknown>;
  files: EffectiveFile[];
  /** The newest revision among the layer versions used; null when no layer applies. */
  revision: number | null;
  /** configHash(values, files). */
  hash: string;
  /** The layers used, least specific first, with the revision of each version used. */
  layers: { layer: LayerId; revision: number | null }[];
  /** Dotted keys that are secret. */
  secretKeys: string[];
  /** Equal-priority groups that both match, etc. */
  warnings: string[];
}

/**
 * Layer versions a rollout holds back for devices it has not released yet: layer row id →
 * the revision to use instead of the current one (null: as if the layer did not exist).
 */
export type Held = ReadonlyMap<number, number | null>;

/** What a committed write tells delivery (after its transaction committed). */
export interface LayerChange {
  projectId: number;
  layer: LayerId;
  revision: number;
  /** The layer's revision before the change (null: it had none). */
  baseRevision: number | null;
  actor: string;
  /** Devices whose set of layers or whose layer content changed: before and after the change. */
  deviceIds: string[];
  /** A staged rollout was asked for (the model checked that no rollout of the layer is unfinished). */
  rollout?: RolloutSpec;
}

/** The model: owned by model/*.ts; used by delivery and the routes. */
export interface ConfigModel {
  /** The effective configuration of devices of one project (layers read once), optionally with held layers per device. */
  effectiveMany(
    projectId: number,
    devices: readonly DeviceRow[],
    held?: (deviceId: string) => Held | undefined,
  ): Promise<Map<string, Effective>>;
  /** A blob's plaintext by hash (secret blobs decrypted from rest), or null. */
  blob(hash: string): Promise<Buffer | null>;
  /** The devices (accepted, of the project) a layer applies to now. */
  devicesOf(layer: LayerId): Promise<DeviceRow[]>;
  /** A layer by row id (null when deleted), for rollouts. */
  layerById(id: number): Promise<LayerId | null>;
  /**
   * Restore a layer to its content at `revision` as a new revision (rollback, rollout abort);
   * calls the change listener like any write. Answers the new revision.
   */
  restore(
    actor: Pick<Principal, "username" | "projectId">,
    layer: LayerId,
    revision: number | null,
    kind: "rollback" | "rollout-abort",
    message: string,
  ): Promise<number>;
  /** A retarget revision (a device's labels changed the layers that apply to it); answers its number. */
  retarget(projectId: number, deviceId: string, actor: string, message: string): Promise<number>;
}

/** Delivery: owned by delivery/*.ts; the model calls it after every committed change. */
export interface ConfigDelivery {
  /**
   * A change committed: re-compute and deliver the devices' desired configuration now, or start a
   * staged rollout when `change.rollout` is set (answering it).
   */
  changed(change: LayerChange): Promise<ConfigRollout | null>;
  /** The unfinished rollout of a layer, if any (writes to it are refused while one runs, unless it is the write's own). */
  activeRollout(layerId: number): Promise<ConfigRollout | null>;
  /**
   * Throws TETHER_ERR_CONFIG_LIMIT when the project already has CONFIG_LIMITS.activeRollouts
   * unfinished rollouts (call before a write that asks for a rollout).
   */
  checkRolloutLimit(projectId: number): Promise<void>;
  /** Desired vs reported per device (devices never configured are absent: status `none`). */
  statusOf(deviceIds: readonly string[]): Promise<Map<string, DeviceConfigState>>;
}

/** What delivery knows of one device (ConfigDeviceStatus without the device and online). */
export type DeviceConfigState = Omit<ConfigDeviceStatus, "device" | "online">;
