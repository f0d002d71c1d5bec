/**
 * Remote configuration (docs/protocol.md §18): the shared rules and REST shapes of layered,
 * versioned parameters and files. Browser-safe (`@tether/protocol/config`): the server, the
 * CLI, the SDK and the console use the same key rule, value parsing and merge.
 *
 * A project's configuration is layers: its defaults, groups (a label selector and a
 * priority) and single devices. A device's effective configuration is the deep merge of every
 * layer that applies to it, defaults first, then groups by (priority, name), the device's own
 * layer last; `null` deletes an inherited key. Every change to a layer takes the project's
 * next revision number.
 */
import { type Static, Type } from "typebox";
import { TetherError } from "./errors.js";

export { TetherError };

export const CONFIG_LIMITS = {
  /** Characters of one key segment (between dots). */
  keySegmentChars: 64,
  /** Nesting depth of a key path and of values. */
  depth: 16,
  /** A whole dotted key. */
  keyChars: 512,
  /** JSON bytes of one layer's values (secrets included). */
  layerValuesBytes: 64 * 1024,
  /** JSON bytes of a device's merged values (they travel inside one control message). */
  effectiveValuesBytes: 128 * 1024,
  /** Bytes of one file. */
  fileBytes: 16 * 1024 * 1024,
  /** Files per layer. */
  layerFiles: 64,
  /** Characters of a file path (relative, under config/files/). */
  filePathChars: 255,
  /** Files up to this size, not secret, travel inside the `config.apply` message; larger ones are fetched over HTTPS. */
  inlineFileBytes: 16 * 1024,
  /** Inline file bytes per message, all files together. */
  inlineTotalBytes: 64 * 1024,
  /** Characters of a change message. */
  messageChars: 1000,
  /** Groups per project. */
  groups: 200,
  /** JSON bytes of a project's JSON Schema. */
  schemaBytes: 64 * 1024,
  /** History entries per request: default and ceiling. */
  historyDefault: 50,
  historyMax: 1000,
  /** Bytes of the hook's output kept in a report. */
  hookOutputBytes: 4096,
  /** Characters of an error in a report. */
  errorChars: 2048,
  /** Drifted paths in one report. */
  driftPaths: 64,
  /** Rollouts that are not finished, per project. */
  activeRollouts: 20,
} as const;

/** A group's name: like a device name. */
export const CONFIG_GROUP_NAME = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$";
/** One key segment: letters, digits, `_` and `-`, not starting with `-`. */
export const CONFIG_KEY_SEGMENT = "^[A-Za-z0-9_][A-Za-z0-9_-]{0,63}$";
const SEGMENT_RE = new RegExp(CONFIG_KEY_SEGMENT);
/** Segments that would reach an object's prototype in JavaScript: refused everywhere. */
const FORBIDDEN_SEGMENTS = new Set(["__proto__", "constructor", "prototype"]);
/** One file path segment. */
const FILE_SEGMENT_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;

/** The rule in words, for errors and --help. */
export const CONFIG_KEY_RULE =
  "a key is dot-separated names of letters, digits, _ and - (not starting with -), e.g. nav.max_speed";
export const CONFIG_FILE_RULE =
  "a file path is relative, /-separated names of letters, digits, . _ and - (no .. and no leading /), e.g. nav/params.yaml";

const keyError = (key: string, why: string) =>
  new TetherError("TETHER_ERR_CONFIG_KEY", `invalid key ${JSON.stringify(key)}: ${why}; ${CONFIG_KEY_RULE}`);

/** A dotted key as its segments; throws TETHER_ERR_CONFIG_KEY naming the key and the reason. */
export function parseKeyPath(key: string): string[] {
  if (typeof key !== "string" || key.length === 0) throw keyError(String(key), "empty");
  if (key.length > CONFIG_LIMITS.keyChars) throw keyError(key.slice(0, 40), "too long");
  const parts = key.split(".");
  if (parts.length > CONFIG_LIMITS.depth) throw keyError(key, `deeper than ${CONFIG_LIMITS.depth} levels`);
  for (const p of parts) {
    if (FORBIDDEN_SEGMENTS.has(p)) throw keyError(key, `"${p}" is reserved`);
    if (!SEGMENT_RE.test(p)) throw keyError(key, p === "" ? "empty segment" : `bad segment "${p}"`);
  }
  return parts;
}

/** Check every key of a values tree (object keys at every depth); throws like parseKeyPath. */
export function checkValueKeys(values: unknown, prefix = "", depth = 0): void {
  if (!isPlainObject(values)) return;
  if (depth >= CONFIG_LIMITS.depth) throw keyError(prefix, `deeper than ${CONFIG_LIMITS.depth} levels`);
  for (const [k, v] of Object.entries(values)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (FORBIDDEN_SEGMENTS.has(k)) throw keyError(key, `"${k}" is reserved`);
    if (!SEGMENT_RE.test(k)) throw keyError(key, k === "" ? "empty segment" : `bad segment "${k}"`);
    checkValueKeys(v, key, depth + 1);
  }
}

/** A file path's segments; throws TETHER_ERR_CONFIG_KEY. */
export function parseFilePath(path: string): string[] {
  const bad = (why: string) =>
    new TetherError(
      "TETHER_ERR_CONFIG_KEY",
      `invalid file path ${JSON.stringify(path)}: ${why}; ${CONFIG_FILE_RULE}`,
    );
  if (typeof path !== "string" || !path) throw bad("empty");
  if (path.length > CONFIG_LIMITS.filePathChars) throw bad("too long");
  if (path.startsWith("/")) throw bad("absolute");
  const parts = path.split("/");
  if (parts.length > 8) throw bad("deeper than 8 directories");
  for (const p of parts)
    if (p === "." || p === ".." || !FILE_SEGMENT_RE.test(p)) throw bad(`bad segment "${p}"`);
  return parts;
}

/** How a file merges across layers: JSON and YAML files merge like values; others are replaced. */
export type ConfigFileKind = "json" | "yaml" | "raw";
export function fileKind(path: string): ConfigFileKind {
  const p = path.toLowerCase();
  if (p.endsWith(".json")) return "json";
  if (p.endsWith(".yaml") || p.endsWith(".yml")) return "yaml";
  return "raw";
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return !!v && typeof v === "object" && !Array.isArray(v);
}

/**
 * `KEY=VALUE` as a key path and a value: a VALUE that is valid JSON is taken as JSON, else as a
 * string; with `asString` every VALUE is a string (`version=1.10`). Throws TETHER_ERR_CONFIG_KEY.
 */
export function parseAssignment(
  arg: string,
  asString = false,
): { key: string; path: string[]; value: unknown } {
  const eq = arg.indexOf("=");
  if (eq <= 0)
    throw new TetherError("TETHER_ERR_CONFIG_KEY", `expected KEY=VALUE, got ${JSON.stringify(arg)}`);
  const key = arg.slice(0, eq);
  const raw = arg.slice(eq + 1);
  const path = parseKeyPath(key);
  if (asString) return { key, path, value: raw };
  try {
    const value: unknown = JSON.parse(raw);
    checkValueKeys(value, key);
    return { key, path, value };
  } catch (err) {
    if (err instanceof TetherError) throw err;
    return { key, path, value: raw };
  }
}

/** A copy of `base` with `over` merged in: objects merge key by key, `null` deletes, anything else replaces. */
export function deepMerge(base: unknown, over: unknown): unknown {
  if (!isPlainObject(over)) return over;
  const out: Record<string, unknown> = isPlainObject(base) ? { ...base } : {};
  for (const [k, v] of Object.entries(over)) {
    if (v === null) delete out[k];
    else out[k] = isPlainObject(v) ? deepMerge(out[k], v) : v;
  }
  return out;
}

/** A copy of `obj` with `value` at `path` (intermediate objects created or replaced). */
export function setPath(
  obj: Record<string, unknown>,
  path: readonly string[],
  value: unknown,
): Record<string, unknown> {
  const [head, ...rest] = path;
  if (head === undefined) return obj;
  const out = { ...obj };
  out[head] = rest.length ? setPath(isPlainObject(out[head]) ? out[head] : {}, rest, value) : value;
  return out;
}

/** A copy of `obj` without the key at `path` (empty parents removed); `obj` itself when absent. */
export function unsetPath(obj: Record<string, unknown>, path: readonly string[]): Record<string, unknown> {
  const [head, ...rest] = path;
  if (head === undefined || !Object.hasOwn(obj, head)) return obj;
  const out = { ...obj };
  if (!rest.length) {
    delete out[head];
    return out;
  }
  const child = out[head];
  if (!isPlainObject(child)) return obj;
  const next = unsetPath(child, rest);
  if (Object.keys(next).length === 0) delete out[head];
  else out[head] = next;
  return out;
}

export function getPath(obj: unknown, path: readonly string[]): unknown {
  let cur = obj;
  for (const p of path) {
    if (!isPlainObject(cur) || !Object.hasOwn(cur, p)) return undefined;
    cur = cur[p];
  }
  return cur;
}

/** Every leaf as [dotted key, value], depth first in key order (an empty object is a leaf). */
export function flattenValues(values: unknown, prefix = ""): [string, unknown][] {
  if (!isPlainObject(values) || (prefix && Object.keys(values).length === 0))
    return prefix ? [[prefix, values]] : [];
  const out: [string, unknown][] = [];
  for (const k of Object.keys(values).sort())
    out.push(...flattenValues(values[k], prefix ? `${prefix}.${k}` : k));
  return out;
}

/** Leaf differences between two value trees, by dotted key. */
export function diffValues(
  a: unknown,
  b: unknown,
): { key: string; op: "added" | "removed" | "changed"; from?: unknown; to?: unknown }[] {
  const fa = new Map(flattenValues(a));
  const fb = new Map(flattenValues(b));
  const keys = [...new Set([...fa.keys(), ...fb.keys()])].sort();
  const out: { key: string; op: "added" | "removed" | "changed"; from?: unknown; to?: unknown }[] = [];
  for (const k of keys) {
    const x = fa.get(k);
    const y = fb.get(k);
    if (!fa.has(k)) out.push({ key: k, op: "added", to: y });
    else if (!fb.has(k)) out.push({ key: k, op: "removed", from: x });
    else if (JSON.stringify(x) !== JSON.stringify(y)) out.push({ key: k, op: "changed", from: x, to: y });
  }
  return out;
}

/**
 * Where an agent fetches a file of its configuration by hash (`GET CONFIG_BLOB_PATH/HASH`, the
 * device's telemetry token), and the header that marks the answer as sealed to the device's key.
 */
export const CONFIG_BLOB_PATH = "/api/v1/config/blobs";
export const CONFIG_SEALED_HEADER = "x-tether-sealed";

/** What secret values are shown as, everywhere outside the device. */
export const SECRET_MASK = "••••••";

/**
 * A layer as written on the command line and in URLs: `defaults`, `group:NAME` or
 * `device:DEVICE` (a device name or id).
 */
export const CONFIG_LAYER_REF = "^(defaults|group:[a-z0-9-]{1,63}|device:[A-Za-z0-9_.-]{1,128})$";
export type ConfigLayerKind = "defaults" | "group" | "device";
export function parseLayerRef(ref: string): { kind: ConfigLayerKind; name: string } {
  if (ref === "defaults") return { kind: "defaults", name: "" };
  const m = /^(group|device):(.+)$/.exec(ref);
  if (!m || !new RegExp(CONFIG_LAYER_REF).test(ref))
    throw new TetherError(
      "TETHER_ERR_BAD_REQUEST",
      `invalid layer ${JSON.stringify(ref)}: expected defaults, group:NAME or device:DEVICE`,
    );
  return { kind: m[1] as ConfigLayerKind, name: m[2] as string };
}

/** `--canary N` or `--canary P%`. */
export const CANARY_PATTERN = "^([1-9][0-9]{0,5}|([1-9][0-9]?|100)%)$";

// ---- REST shapes (docs/protocol.md §18.6) ----

const Rev = Type.Integer({ minimum: 1 });
const NullableRev = Type.Union([Rev, Type.Null()]);
const Json = Type.Unknown();
const When = Type.String({ description: "ISO 8601" });
const NullableWhen = Type.Union([When, Type.Null()]);
const NullableString = Type.Union([Type.String(), Type.Null()]);
const Message = Type.Optional(Type.String({ maxLength: 1000 }));
const Selector = Type.String({ minLength: 1, maxLength: 1024 });
const Priority = Type.Integer({ minimum: -1000000, maximum: 1000000 });
const DeviceRef = Type.Object({ id: Type.String(), name: Type.String() });
const LayerKind = Type.Union([Type.Literal("defaults"), Type.Literal("group"), Type.Literal("device")]);
const DiffOp = Type.Union([Type.Literal("added"), Type.Literal("removed"), Type.Literal("changed")]);
/** A layer by its ref and its label for people ("group site-tokyo"). */
const LayerNamed = { layer: Type.String(), layerLabel: Type.String() };

export const ConfigFileEntry = Type.Object(
  {
    path: Type.String(),
    /** SHA-256 of the content, hex (for a secret file: of the plaintext). */
    hash: Type.String({ pattern: "^[0-9a-f]{64}$" }),
    size: Type.Integer({ minimum: 0 }),
    kind: Type.Union([Type.Literal("json"), Type.Literal("yaml"), Type.Literal("raw")]),
    secret: Type.Boolean(),
  },
  { additionalProperties: false },
);
export type ConfigFileEntry = Static<typeof ConfigFileEntry>;

export const RolloutSpec = Type.Object(
  {
    /** The canary: a number of devices or a percentage (`5`, `10%`). */
    canary: Type.String({ pattern: CANARY_PATTERN }),
    /** After the canary applied: release the rest after this long; absent: wait for resume. */
    waitMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 30 * 24 * 3600 * 1000 })),
    /** Pause when more devices than this report failures (default 0). */
    maxFailures: Type.Optional(Type.Integer({ minimum: 0, maximum: 100000 })),
  },
  { additionalProperties: false },
);
export type RolloutSpec = Static<typeof RolloutSpec>;

/** A change to one layer (PATCH /api/v1/config/layers/:layer). */
export const ConfigPatch = Type.Object(
  {
    /** The layer revision the edit is based on (null: the layer does not exist yet); a mismatch is TETHER_ERR_CONFIG_CONFLICT. Absent: no check. */
    baseRevision: Type.Optional(NullableRev),
    /** Keys to set (dotted), in order. */
    set: Type.Optional(
      Type.Array(
        Type.Object(
          { key: Type.String({ maxLength: 512 }), value: Json, secret: Type.Optional(Type.Boolean()) },
          { additionalProperties: false },
        ),
        { maxItems: 1000 },
      ),
    ),
    /** Keys (dotted) or files (`file:PATH`) to remove from the layer. */
    unset: Type.Optional(Type.Array(Type.String({ maxLength: 512 }), { maxItems: 1000 })),
    /** Replace the layer's non-secret values with this tree (the console's editor); secrets stay. */
    values: Type.Optional(Type.Record(Type.String(), Json)),
    message: Message,
    rollout: Type.Optional(RolloutSpec),
  },
  { additionalProperties: false },
);
export type ConfigPatch = Static<typeof ConfigPatch>;

export const ConfigRolloutState = Type.Union([
  Type.Literal("canary"),
  Type.Literal("waiting"),
  Type.Literal("rolling"),
  Type.Literal("paused"),
  Type.Literal("done"),
  Type.Literal("aborted"),
]);
export type ConfigRolloutState = Static<typeof ConfigRolloutState>;

export const ConfigRollout = Type.Object({
  /** `rol_` and 20 lowercase letters or digits. */
  id: Type.String(),
  layer: Type.String(),
  /** For people: "group site-tokyo", "project defaults", "device robot-7". */
  layerLabel: Type.String(),
  revision: Rev,
  /** The layer's revision before the change (what held devices keep), or null if it was new. */
  baseRevision: NullableRev,
  state: ConfigRolloutState,
  /** Why it is paused (automatic pause) or how it ended. */
  reason: NullableString,
  canary: Type.String(),
  waitMs: Type.Union([Type.Integer(), Type.Null()]),
  maxFailures: Type.Integer(),
  /** When the rest is released (state waiting with waitMs), ISO. */
  releaseAt: NullableWhen,
  counts: Type.Object({
    total: Type.Integer(),
    canary: Type.Integer(),
    released: Type.Integer(),
    applied: Type.Integer(),
    failed: Type.Integer(),
    pending: Type.Integer(),
  }),
  createdBy: Type.String(),
  createdAt: When,
  updatedAt: When,
});
export type ConfigRollout = Static<typeof ConfigRollout>;

export const ConfigRolloutDetail = Type.Object({
  ...ConfigRollout.properties,
  devices: Type.Array(
    Type.Object({
      id: Type.String(),
      name: Type.String(),
      stage: Type.Union([Type.Literal("canary"), Type.Literal("rest")]),
      released: Type.Boolean(),
      status: Type.String(),
      error: NullableString,
    }),
  ),
});
export type ConfigRolloutDetail = Static<typeof ConfigRolloutDetail>;

/** What a write answers. */
export const ConfigChange = Type.Object({
  revision: Rev,
  ...LayerNamed,
  /** Devices whose effective configuration changed (now or when the rollout releases them). */
  affected: Type.Integer(),
  rollout: Type.Union([ConfigRollout, Type.Null()]),
});
export type ConfigChange = Static<typeof ConfigChange>;

export const ConfigGroup = Type.Object({
  name: Type.String(),
  selector: Type.String(),
  priority: Type.Integer(),
  /** The group layer's revision, null before its first value. */
  revision: NullableRev,
  /** Devices it matches now. */
  devices: Type.Integer(),
  createdAt: When,
});
export type ConfigGroup = Static<typeof ConfigGroup>;

export const ConfigGroupCreate = Type.Object(
  {
    name: Type.String({ pattern: CONFIG_GROUP_NAME }),
    /** Label selector (labels only: `fact.` keys are refused). */
    selector: Selector,
    priority: Priority,
    message: Message,
  },
  { additionalProperties: false },
);
export type ConfigGroupCreate = Static<typeof ConfigGroupCreate>;

export const ConfigGroupUpdate = Type.Object(
  {
    selector: Type.Optional(Selector),
    priority: Type.Optional(Priority),
    baseRevision: Type.Optional(NullableRev),
    message: Message,
  },
  { additionalProperties: false },
);
export type ConfigGroupUpdate = Static<typeof ConfigGroupUpdate>;

/** One layer as stored (GET /api/v1/config/layers/:layer); secret values are SECRET_MASK. */
export const ConfigLayerView = Type.Object({
  layer: Type.String(),
  kind: LayerKind,
  layerLabel: Type.String(),
  /** Device layers: the device. */
  device: Type.Optional(DeviceRef),
  group: Type.Optional(Type.Object({ selector: Type.String(), priority: Type.Integer() })),
  /** The layer's current revision, null when it has never been written. */
  revision: NullableRev,
  updatedAt: NullableWhen,
  updatedBy: NullableString,
  values: Type.Record(Type.String(), Json),
  /** Dotted keys whose values are secret (shown as SECRET_MASK in `values`). */
  secretKeys: Type.Array(Type.String()),
  files: Type.Array(ConfigFileEntry),
  /** The unfinished rollout of this layer, if any. */
  rollout: Type.Union([ConfigRollout, Type.Null()]),
});
export type ConfigLayerView = Static<typeof ConfigLayerView>;

export const ConfigLayerSummary = Type.Object({
  layer: Type.String(),
  kind: LayerKind,
  layerLabel: Type.String(),
  revision: NullableRev,
  updatedAt: NullableWhen,
  keys: Type.Integer(),
  files: Type.Integer(),
  /** Devices it applies to now. */
  devices: Type.Integer(),
});
export type ConfigLayerSummary = Static<typeof ConfigLayerSummary>;

export const ConfigRevisionKind = Type.Union([
  Type.Literal("change"),
  Type.Literal("rollback"),
  Type.Literal("group-create"),
  Type.Literal("group-update"),
  Type.Literal("group-delete"),
  Type.Literal("rollout-abort"),
  /** A device's labels changed which layers apply to it (no layer changed). */
  Type.Literal("retarget"),
]);

export const ConfigRevision = Type.Object({
  revision: Rev,
  /** Null for a retarget. */
  layer: NullableString,
  layerLabel: Type.String(),
  kind: ConfigRevisionKind,
  author: Type.String(),
  at: When,
  message: Type.String(),
  /** Dotted keys and `file:PATH` entries the revision changed (secret keys named, never their values). */
  changed: Type.Array(Type.String()),
  /** For a rollback: the revision restored. */
  restored: NullableRev,
});
export type ConfigRevision = Static<typeof ConfigRevision>;

export const ConfigDiffEntry = Type.Object({
  key: Type.String(),
  op: DiffOp,
  /** Absent for secrets and for the side that has no value. */
  from: Type.Optional(Json),
  to: Type.Optional(Json),
  secret: Type.Boolean(),
});
export type ConfigDiffEntry = Static<typeof ConfigDiffEntry>;

export const ConfigDiff = Type.Object({
  ...LayerNamed,
  from: Rev,
  to: Rev,
  entries: Type.Array(ConfigDiffEntry),
  files: Type.Array(
    Type.Object({
      path: Type.String(),
      op: DiffOp,
      secret: Type.Boolean(),
      /** A unified diff of a non-secret text file under 64 KiB, else null. */
      text: NullableString,
    }),
  ),
});
export type ConfigDiff = Static<typeof ConfigDiff>;

export const ConfigStatus = Type.Union([
  /** The device applied its desired revision. */
  Type.Literal("in-sync"),
  /** A newer revision waits to be delivered (offline device, or held by a rollout's later stage). */
  Type.Literal("pending"),
  /** Delivered (the agent acknowledged it), not yet reported. */
  Type.Literal("applying"),
  /** The agent reported a failure (the hook's error, a write error, a fetch error). */
  Type.Literal("failed"),
  /** No layer applies to the device. */
  Type.Literal("none"),
]);
export type ConfigStatus = Static<typeof ConfigStatus>;

export const ConfigDeviceStatus = Type.Object({
  device: DeviceRef,
  online: Type.Boolean(),
  status: ConfigStatus,
  desired: NullableRev,
  reported: NullableRev,
  reportedAt: NullableWhen,
  error: NullableString,
  /** The hook's output tail with the failure, else null. */
  hookOutput: NullableString,
  /** Managed files changed by hand on the device (paths under the agent's config/), as last reported. */
  drift: Type.Array(Type.String()),
  /** The rollout holding this device back, if any. */
  heldBy: NullableString,
});
export type ConfigDeviceStatus = Static<typeof ConfigDeviceStatus>;

export const ConfigStatusView = Type.Object({
  devices: Type.Array(ConfigDeviceStatus),
  counts: Type.Record(Type.String(), Type.Integer()),
  /** E.g. two groups of equal priority that both match a device (merged in name order). */
  warnings: Type.Array(Type.String()),
});
export type ConfigStatusView = Static<typeof ConfigStatusView>;

export const ConfigExplainEntry = Type.Object({
  key: Type.String(),
  /** SECRET_MASK for a secret. */
  value: Json,
  secret: Type.Boolean(),
  /** The layer that set it (the most specific that has it). */
  ...LayerNamed,
  revision: Rev,
  /** Less specific layers whose value it overrides, most specific first. */
  overrides: Type.Array(Type.Object({ ...LayerNamed, value: Json })),
});
export type ConfigExplainEntry = Static<typeof ConfigExplainEntry>;

/** A device's effective configuration (GET /api/v1/config/devices/:device). */
export const ConfigDeviceView = Type.Object({
  ...ConfigDeviceStatus.properties,
  /** The merged values (secrets masked). */
  values: Type.Record(Type.String(), Json),
  files: Type.Array(Type.Object({ ...ConfigFileEntry.properties, ...LayerNamed })),
  /** The layers that apply, in merge order (least specific first). */
  layers: Type.Array(Type.Object({ ...LayerNamed, revision: NullableRev })),
  explain: Type.Array(ConfigExplainEntry),
  warnings: Type.Array(Type.String()),
});
export type ConfigDeviceView = Static<typeof ConfigDeviceView>;

export const ConfigSchemaView = Type.Object({
  /** The project's JSON Schema for effective values, or null. */
  schema: Type.Union([Type.Record(Type.String(), Json), Type.Null()]),
  updatedAt: NullableWhen,
  updatedBy: NullableString,
});
export type ConfigSchemaView = Static<typeof ConfigSchemaView>;

/** The agent's own settings that remote configuration may set (docs/protocol.md §14.6, §15, §18.5). */
export const AGENT_SETTINGS_PREFIX = "tether";
export * from "./config-agent-settings.js";
