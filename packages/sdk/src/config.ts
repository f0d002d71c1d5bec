/**
 * The remote configuration REST API (docs/protocol.md §18) over a TetherClient: layers
 * (defaults, groups, devices) and their values and files, history, diff, rollback, groups,
 * a device's effective configuration with the source of each key, fleet status, the project's
 * JSON Schema and staged rollouts. Every answer is checked against its @tether/protocol/config
 * schema. Browser-safe.
 */
import {
  ConfigChange,
  ConfigDeviceView,
  ConfigDiff,
  type ConfigFileEntry,
  ConfigGroup,
  type ConfigGroupCreate,
  type ConfigGroupUpdate,
  ConfigLayerSummary,
  ConfigLayerView,
  type ConfigPatch,
  ConfigRevision,
  ConfigRollout,
  ConfigRolloutDetail,
  ConfigSchemaView,
  ConfigStatusView,
  type RolloutSpec,
} from "@tether/protocol/config";
import { validator } from "@tether/protocol/validate";
import { arrayOf, checkedCall, lazy } from "./checked.js";
import type { TetherClient } from "./client.js";

/** One revision of a layer with the layer's content at that revision (secret values masked). */
export type ConfigRevisionDetail = ConfigRevision & {
  values: Record<string, unknown>;
  secretKeys: string[];
  files: ConfigFileEntry[];
};

const checkSummaries = arrayOf(lazy(() => validator(ConfigLayerSummary)));
const checkLayer = lazy(() => validator(ConfigLayerView));
const checkChange = lazy(() => validator(ConfigChange));
const checkRevisions = arrayOf(lazy(() => validator(ConfigRevision)));
const checkRevision = lazy(() => validator(ConfigRevision));
const checkRevisionDetail = lazy(() => ({
  check: (v: unknown): v is ConfigRevisionDetail => checkRevision().check(v) && hasContent(v),
  parse(v: unknown): ConfigRevisionDetail {
    checkRevision().parse(v);
    if (!hasContent(v)) throw new Error("invalid message: values, secretKeys and files are required");
    return v;
  },
}));
const checkDiff = lazy(() => validator(ConfigDiff));
const checkGroup = lazy(() => validator(ConfigGroup));
const checkGroups = arrayOf(checkGroup);
const checkDevice = lazy(() => validator(ConfigDeviceView));
const checkStatus = lazy(() => validator(ConfigStatusView));
const checkSchema = lazy(() => validator(ConfigSchemaView));
const checkRollout = lazy(() => validator(ConfigRollout));
const checkRollouts = arrayOf(checkRollout);
const checkRolloutDetail = lazy(() => validator(ConfigRolloutDetail));

/** The options of a file upload (PUT /api/v1/config/layers/:layer/files). */
export interface ConfigFileUpload {
  secret?: boolean;
  /** The layer revision the upload is based on (null: the layer was never written); absent: no check. */
  baseRevision?: number | null;
  message?: string;
  rollout?: RolloutSpec;
}

export interface ConfigRollbackBody {
  /** The revision whose layer content is restored (as a new revision). */
  revision: number;
  baseRevision?: number | null;
  message?: string;
  rollout?: RolloutSpec;
}

export interface ConfigApi {
  /** Every layer of the project: defaults, groups, device layers. */
  layers(): Promise<ConfigLayerSummary[]>;
  /** One layer (`defaults`, `group:NAME`, `device:DEVICE`) as stored; secrets masked. */
  layer(ref: string): Promise<ConfigLayerView>;
  /** Set/unset keys, remove files (`file:PATH` in `unset`), or replace the non-secret values. */
  patch(ref: string, patch: ConfigPatch): Promise<ConfigChange>;
  /** Upload a file (≤ 16 MiB) into a layer. */
  putFile(ref: string, path: string, content: Uint8Array, o?: ConfigFileUpload): Promise<ConfigChange>;
  /** A layer's file as text (a secret file is refused: write-only). */
  fileText(ref: string, path: string): Promise<string>;
  /** A layer's revisions, newest first. */
  history(ref: string, limit?: number): Promise<ConfigRevision[]>;
  /** One revision with the layer's content at it. */
  revision(rev: number): Promise<ConfigRevisionDetail>;
  /** The difference between two revisions of one layer. */
  diff(from: number, to: number): Promise<ConfigDiff>;
  /** Restore a layer as it was at `revision` (a new revision). */
  rollback(body: ConfigRollbackBody): Promise<ConfigChange>;
  groups(): Promise<ConfigGroup[]>;
  createGroup(g: ConfigGroupCreate): Promise<ConfigGroup>;
  updateGroup(name: string, u: ConfigGroupUpdate): Promise<ConfigGroup>;
  deleteGroup(name: string, message?: string): Promise<void>;
  /** A device's effective configuration, where each key comes from, and its status. */
  device(ref: string): Promise<ConfigDeviceView>;
  /** Desired vs reported per device (all, one device, or a selector), counts and warnings. */
  status(q?: { device?: string; selector?: string }): Promise<ConfigStatusView>;
  schema(): Promise<ConfigSchemaView>;
  /** Set the project's JSON Schema (admin): every device's current values are checked first. */
  setSchema(schema: Record<string, unknown>): Promise<ConfigSchemaView>;
  clearSchema(): Promise<void>;
  /** Rollouts, unfinished first; finished ones too with `all`. */
  rollouts(all?: boolean): Promise<ConfigRollout[]>;
  rollout(id: string): Promise<ConfigRolloutDetail>;
  pauseRollout(id: string): Promise<ConfigRollout>;
  resumeRollout(id: string): Promise<ConfigRollout>;
  abortRollout(id: string): Promise<ConfigRollout>;
}

const BASE = "/api/v1/config";
const enc = encodeURIComponent;
/** `group:NAME` keeps its colon (legal in a path, and readable in logs). */
const layerPath = (ref: string) => `${BASE}/layers/${enc(ref).replace(/%3A/g, ":")}`;

/** A revision as a query value: null (no revision yet) as "null". */
const revQuery = (r: number | null | undefined) => (r === undefined ? undefined : r === null ? "null" : r);

export function configApi(c: TetherClient): ConfigApi {
  const call = checkedCall(c);
  const rolloutAction = (id: string, action: string) =>
    call(checkRollout, "POST", `${BASE}/rollouts/${enc(id)}/${action}`, {});
  return {
    layers: () => call(checkSummaries, "GET", `${BASE}/layers`),
    layer: (ref) => call(checkLayer, "GET", layerPath(ref)),
    patch: (ref, p) => call(checkChange, "PATCH", layerPath(ref), p),
    putFile: (ref, path, content, o = {}) =>
      call(checkChange, "PUT", `${layerPath(ref)}/files`, content, {
        path,
        secret: o.secret ? 1 : undefined,
        baseRevision: revQuery(o.baseRevision),
        message: o.message,
        canary: o.rollout?.canary,
        waitMs: o.rollout?.waitMs,
        maxFailures: o.rollout?.maxFailures,
      }),
    fileText: (ref, path) => c.requestText(`${layerPath(ref)}/files`, { path }),
    history: (ref, limit) => call(checkRevisions, "GET", `${layerPath(ref)}/history`, undefined, { limit }),
    revision: (rev) => call(checkRevisionDetail, "GET", `${BASE}/revisions/${rev}`),
    diff: (from, to) => call(checkDiff, "GET", `${BASE}/diff`, undefined, { from, to }),
    rollback: (body) => call(checkChange, "POST", `${BASE}/rollback`, body),
    groups: () => call(checkGroups, "GET", `${BASE}/groups`),
    createGroup: (g) => call(checkGroup, "POST", `${BASE}/groups`, g),
    updateGroup: (name, u) => call(checkGroup, "PATCH", `${BASE}/groups/${enc(name)}`, u),
    async deleteGroup(name, message) {
      await c.request("DELETE", `${BASE}/groups/${enc(name)}`, undefined, { message });
    },
    device: (ref) => call(checkDevice, "GET", `${BASE}/devices/${enc(ref)}`),
    status: (q = {}) =>
      call(checkStatus, "GET", `${BASE}/status`, undefined, { device: q.device, selector: q.selector }),
    schema: () => call(checkSchema, "GET", `${BASE}/schema`),
    async setSchema(schema) {
      const answer = await c.request<unknown>("PUT", `${BASE}/schema`, { schema });
      // The view when the server answers it; else read it back.
      return checkSchema().check(answer) ? answer : call(checkSchema, "GET", `${BASE}/schema`);
    },
    async clearSchema() {
      await c.request("DELETE", `${BASE}/schema`);
    },
    rollouts: (all) =>
      call(checkRollouts, "GET", `${BASE}/rollouts`, undefined, { all: all ? 1 : undefined }),
    rollout: (id) => call(checkRolloutDetail, "GET", `${BASE}/rollouts/${enc(id)}`),
    pauseRollout: (id) => rolloutAction(id, "pause"),
    resumeRollout: (id) => rolloutAction(id, "resume"),
    abortRollout: (id) => rolloutAction(id, "abort"),
  };
}

function hasContent(v: unknown): v is ConfigRevisionDetail {
  const o = v as Partial<ConfigRevisionDetail>;
  return (
    !!o &&
    typeof o.values === "object" &&
    o.values !== null &&
    Array.isArray(o.secretKeys) &&
    Array.isArray(o.files)
  );
}
