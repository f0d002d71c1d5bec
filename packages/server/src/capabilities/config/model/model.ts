/**
 * The configuration model (docs/protocol.md §18.1–18.2): layers, revisions, groups, the project's
 * JSON Schema, secrets at rest and the effective configuration of devices.
 *
 * Constructed by ../index.ts:
 *
 *   const model = new ConfigModelImpl({
 *     db: ctx.db, dialect: ctx.dialect, devices: ctx.devices, audit: ctx.audit,
 *     log: ctx.log.child({ part: "config" }), dataDir: ctx.dataDir,
 *     delivery: () => delivery,   // read lazily: delivery may be built after the model
 *   });
 *   routes: await configModelRoutes(app, model)
 *   migrations: configModelMigrations (0010_config_layers) beside delivery's.
 *
 * Every write runs in one transaction with the allocation of its revision number (PostgreSQL:
 * the project's config_projects row is locked FOR UPDATE; SQLite serializes transactions).
 * After the commit the model writes the audit entry and calls `delivery.changed(change)`.
 * Nothing inside a transaction uses `db` (only `trx`): on SQLite that would wait on itself.
 */
import {
  CONFIG_LIMITS,
  type ConfigChange,
  type ConfigFileKind,
  type ConfigLayerKind,
  type ConfigPatch,
  type ConfigRollout,
  checkAgentSettings,
  checkValueKeys,
  configHash,
  deepMerge,
  diffValues,
  fileKind,
  isPlainObject,
  parseFilePath,
  parseKeyPath,
  parseLayerRef,
  parseSelector,
  type RolloutSpec,
  type SelectorTerm,
  setPath,
  sha256Hex,
  TetherError,
  unsetPath,
} from "@tether/protocol";
import { Ajv, type ValidateFunction } from "ajv";
import type { Kysely, Selectable, Transaction } from "kysely";
import type { Logger } from "pino";
import { parseDocument, stringify as yamlStringify } from "yaml";
import type { Principal } from "../../../accounts.js";
import type { Audit, AuditInput } from "../../../audit.js";
import type { DeviceRow, Devices } from "../../../devices.js";
import { matches } from "../../../selector.js";
import type { Dialect } from "../../../store/db.js";
import { nowIso } from "../../../store/db.js";
import type { DB } from "../../../store/schema.js";
import type { ConfigDelivery, ConfigModel, Effective, EffectiveFile, Held, LayerId } from "../types.js";
import {
  emptyContent,
  type LayerContent,
  layerTree,
  leafKeys,
  mergeTrees,
  overlaps,
  parseContent,
  type StoredFile,
} from "./content.js";
import { type ConfigDB, type ConfigLayersTable, configDb } from "./schema.js";
import { SecretBox } from "./secrets.js";

export interface ConfigModelDeps {
  db: Kysely<DB>;
  dialect: Dialect;
  devices: Devices;
  audit: Audit;
  log: Logger;
  dataDir: string;
  /** Read at each use (delivery may be created after the model). */
  delivery: () => ConfigDelivery;
}

export type LayerRow = Selectable<ConfigLayersTable>;
type Trx = Transaction<ConfigDB> | Kysely<ConfigDB>;
export type RevisionKind =
  | "change"
  | "rollback"
  | "group-create"
  | "group-update"
  | "group-delete"
  | "rollout-abort"
  | "retarget";

type Actor = Pick<Principal, "username" | "projectId">;

/** One layer as used for a device: its row, the content used and that content's revision. */
export interface UsedLayer {
  row: LayerRow;
  content: LayerContent;
  revision: number | null;
}

/** What a write function decides, given the layer's current state. */
interface Next {
  content: LayerContent;
  changed: string[];
  selector?: string;
  priority?: number;
  deleted?: boolean;
  restored?: number | null;
  /** Give the layer the new revision (default true; a group's creation does not). */
  bump?: boolean;
}

interface WriteSpec {
  actor: Actor;
  target: { kind: ConfigLayerKind; name: string };
  kind: RevisionKind;
  message: string;
  baseRevision?: number | null;
  rollout?: RolloutSpec;
  /** A rollout's own abort may write while its rollout is unfinished. */
  skipRolloutCheck?: boolean;
  /** Groups: the row must exist (404 otherwise); a new group: must not. */
  mustExist?: boolean;
  create?: { selector: string; priority: number };
  apply(cur: { row: LayerRow | undefined; content: LayerContent }, trx: Trx): Promise<Next> | Next;
  audit(revision: number, layer: LayerId, next: Next): AuditInput;
}

export interface WriteResult {
  change: ConfigChange;
  layer: LayerId;
  revision: number;
}

const MiB = 1024 * 1024;
const KiB = 1024;
const fmtBytes = (n: number) => (n >= MiB ? `${(n / MiB).toFixed(1)} MiB` : `${(n / KiB).toFixed(1)} KiB`);
const bad = (code: ConstructorParameters<typeof TetherError>[0], msg: string) => new TetherError(code, msg);

export class ConfigModelImpl implements ConfigModel {
  readonly db: Kysely<ConfigDB>;
  readonly box: SecretBox;
  private readonly ajv = new Ajv({ strict: false, allErrors: false });
  private schemaCache: { text: string; fn: ValidateFunction } | undefined;
  private readonly selectorCache = new Map<string, SelectorTerm[]>();

  constructor(readonly deps: ConfigModelDeps) {
    this.db = configDb(deps.db);
    this.box = new SecretBox(deps.dataDir);
  }

  private get delivery(): ConfigDelivery {
    return this.deps.delivery();
  }

  // ---- identities ----

  terms(selector: string): SelectorTerm[] {
    let t = this.selectorCache.get(selector);
    if (!t) {
      t = parseSelector(selector);
      if (this.selectorCache.size > 1000) this.selectorCache.clear();
      this.selectorCache.set(selector, t);
    }
    return t;
  }

  /** Labels only: a group selector with a `fact.` term is refused. */
  checkGroupSelector(selector: string): void {
    const t = parseSelector(selector);
    const f = t.find((x) => x.key.startsWith("fact."));
    if (f)
      throw bad(
        "TETHER_ERR_BAD_SELECTOR",
        `a group selector names labels only, not facts (${f.key}): facts change without an operator, so a group must not follow them`,
      );
  }

  groupMatches(row: { selector: string | null }, d: DeviceRow): boolean {
    if (!row.selector) return false;
    return matches(this.terms(row.selector), JSON.parse(d.labels), null);
  }

  layerId(row: Pick<LayerRow, "id" | "project_id" | "kind" | "name">, deviceName?: string): LayerId {
    const kind = row.kind as ConfigLayerKind;
    if (kind === "defaults")
      return {
        id: row.id,
        projectId: row.project_id,
        kind,
        name: "",
        ref: "defaults",
        label: "project defaults",
      };
    if (kind === "group")
      return {
        id: row.id,
        projectId: row.project_id,
        kind,
        name: row.name,
        ref: `group:${row.name}`,
        label: `group ${row.name}`,
      };
    const n = deviceName ?? row.name;
    return {
      id: row.id,
      projectId: row.project_id,
      kind,
      name: row.name,
      ref: `device:${n}`,
      label: `device ${n}`,
    };
  }

  async deviceName(id: string): Promise<string> {
    const d = await this.deps.devices.get(id);
    return d?.name ?? id;
  }

  async layerIdOf(row: LayerRow): Promise<LayerId> {
    return this.layerId(row, row.kind === "device" ? await this.deviceName(row.name) : undefined);
  }

  /** Accepted devices of the project, by name. */
  async acceptedDevices(projectId: number): Promise<DeviceRow[]> {
    return (await this.deps.devices.list(projectId)).filter((d) => d.state === "accepted");
  }

  async loadLayers(db: Trx, projectId: number): Promise<LayerRow[]> {
    return db
      .selectFrom("config_layers")
      .selectAll()
      .where("project_id", "=", projectId)
      .where("deleted", "=", 0)
      .orderBy("id")
      .execute();
  }

  /**
   * A layer reference (`defaults`, `group:NAME`, `device:NAME_OR_ID`) as its kind and row name,
   * with its current row if it has one. A group that does not exist is 404; so is a device.
   */
  async resolve(
    projectId: number,
    ref: string,
    o: { deletedGroups?: boolean } = {},
  ): Promise<{ kind: ConfigLayerKind; name: string; row: LayerRow | undefined; device?: DeviceRow }> {
    const p = parseLayerRef(ref);
    if (p.kind === "device") {
      const d = await this.deps.devices.find(projectId, p.name);
      const row = await this.findRow(this.db, projectId, "device", d.id);
      return { kind: "device", name: d.id, row, device: d };
    }
    const row = await this.findRow(this.db, projectId, p.kind, p.name);
    if (p.kind === "group" && !row) {
      if (o.deletedGroups) {
        const old = await this.db
          .selectFrom("config_layers")
          .selectAll()
          .where("project_id", "=", projectId)
          .where("kind", "=", "group")
          .where("name", "=", p.name)
          .orderBy("id", "desc")
          .executeTakeFirst();
        if (old) return { kind: "group", name: p.name, row: old };
      }
      throw bad("TETHER_ERR_CONFIG_GROUP_NOT_FOUND", `no configuration group ${p.name} in this project`);
    }
    return { kind: p.kind, name: p.name, row };
  }

  async findRow(db: Trx, projectId: number, kind: string, name: string): Promise<LayerRow | undefined> {
    return db
      .selectFrom("config_layers")
      .selectAll()
      .where("project_id", "=", projectId)
      .where("kind", "=", kind)
      .where("name", "=", name)
      .where("deleted", "=", 0)
      .executeTakeFirst();
  }

  async layerById(id: number): Promise<LayerId | null> {
    const row = await this.db
      .selectFrom("config_layers")
      .selectAll()
      .where("id", "=", id)
      .where("deleted", "=", 0)
      .executeTakeFirst();
    return row ? this.layerIdOf(row) : null;
  }

  // ---- merge ----

  tree(c: LayerContent): Record<string, unknown> {
    return layerTree(c, (s) => this.box.openValue(s));
  }

  /** The layers that apply to a device, least specific first (rows whose revision is null do not apply). */
  applicable(
    rows: readonly LayerRow[],
    d: DeviceRow,
    contentOf: (row: LayerRow) => { content: LayerContent; revision: number | null },
  ): { used: UsedLayer[]; warnings: string[] } {
    const used: UsedLayer[] = [];
    const add = (row: LayerRow) => {
      const c = contentOf(row);
      if (c.revision !== null) used.push({ row, ...c });
    };
    const defaults = rows.find((r) => r.kind === "defaults");
    if (defaults) add(defaults);
    const groups = rows
      .filter((r) => r.kind === "group" && this.groupMatches(r, d))
      .sort(
        (a, b) => (a.priority ?? 0) - (b.priority ?? 0) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
      );
    const warnings: string[] = [];
    for (let i = 0; i + 1 < groups.length; i++) {
      const a = groups[i] as LayerRow;
      const b = groups[i + 1] as LayerRow;
      if (a.priority === b.priority)
        warnings.push(
          `groups ${a.name} and ${b.name} both have priority ${a.priority} and match ${d.name}; merged in name order (${a.name} first)`,
        );
    }
    for (const g of groups) add(g);
    const own = rows.find((r) => r.kind === "device" && r.name === d.id);
    if (own) add(own);
    return { used, warnings };
  }

  /** The merged values tree and secret keys of some used layers. */
  mergeValues(used: readonly UsedLayer[], trees = new Map<string, Record<string, unknown>>()) {
    return mergeTrees(
      used.map((u) => {
        const key = `${u.row.id}@${u.revision}`;
        let t = trees.get(key);
        if (!t) {
          t = this.tree(u.content);
          trees.set(key, t);
        }
        return { tree: t, secretKeys: Object.keys(u.content.secrets) };
      }),
    );
  }

  /** Content of a layer at a revision (from its snapshot); empty for null. */
  async contentAt(layerId: number, revision: number | null): Promise<LayerContent> {
    if (revision === null) return emptyContent();
    const r = await this.db
      .selectFrom("config_revisions")
      .select(["content", "layer_id"])
      .where("revision", "=", revision)
      .where("layer_id", "=", layerId)
      .executeTakeFirst();
    if (!r) throw new Error(`layer ${layerId} has no revision ${revision}`);
    return parseContent(r.content);
  }

  async effectiveMany(
    projectId: number,
    devices: readonly DeviceRow[],
    held?: (deviceId: string) => Held | undefined,
  ): Promise<Map<string, Effective>> {
    const out = new Map<string, Effective>();
    if (!devices.length) return out;
    const rows = await this.loadLayers(this.db, projectId);
    const current = new Map(rows.map((r) => [r.id, parseContent(r.content)]));
    const snapshots = new Map<string, LayerContent>();
    const floors = await this.floors(projectId);
    const names = new Map<number, LayerId>();
    const idOf = async (row: LayerRow) => {
      let l = names.get(row.id);
      if (!l) {
        l = await this.layerIdOf(row);
        names.set(row.id, l);
      }
      return l;
    };
    // Held revisions need their snapshots: read them first (applicable() is synchronous).
    const heldOf = new Map<string, Held>();
    if (held)
      for (const d of devices) {
        const h = held(d.id);
        if (!h) continue;
        heldOf.set(d.id, h);
        for (const [id, rev] of h) {
          const k = `${id}@${rev}`;
          if (rev !== null && !snapshots.has(k) && current.has(id))
            snapshots.set(k, await this.contentAt(id, rev));
        }
      }
    const trees = new Map<string, Record<string, unknown>>();
    const fileCache = new Map<string, EffectiveFile>();
    for (const d of devices) {
      const h = heldOf.get(d.id);
      const { used, warnings } = this.applicable(rows, d, (row) => {
        if (h?.has(row.id)) {
          const rev = h.get(row.id) ?? null;
          return {
            content: rev === null ? emptyContent() : (snapshots.get(`${row.id}@${rev}`) as LayerContent),
            revision: rev,
          };
        }
        return { content: current.get(row.id) as LayerContent, revision: row.revision };
      });
      const { values, secretKeys } = this.mergeValues(used, trees);
      const files: EffectiveFile[] = [];
      const byPath = new Map<string, { u: UsedLayer; f: StoredFile }[]>();
      for (const u of used)
        for (const [p, f] of Object.entries(u.content.files)) {
          const l = byPath.get(p) ?? [];
          l.push({ u, f });
          byPath.set(p, l);
        }
      for (const [path, list] of [...byPath].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
        const last = list[list.length - 1] as { u: UsedLayer; f: StoredFile };
        const kind = fileKind(path);
        if (list.length === 1 || kind === "raw") {
          files.push({
            path,
            hash: last.f.hash,
            size: last.f.size,
            kind,
            secret: last.f.secret,
            layer: await idOf(last.u.row),
          });
          continue;
        }
        const key = `${path}:${list.map((x) => x.f.hash).join(",")}`;
        let ef = fileCache.get(key);
        if (!ef) {
          ef = await this.mergeFile(
            path,
            kind,
            list.map((x) => x.f),
            await idOf(last.u.row),
          );
          fileCache.set(key, ef);
        }
        files.push(ef);
      }
      const revs = used.map((u) => u.revision ?? 0);
      const floor = floors.get(d.id);
      if (floor !== undefined) revs.push(floor);
      const revision = revs.length ? Math.max(...revs) : null;
      const layers = [];
      for (const u of used) layers.push({ layer: await idOf(u.row), revision: u.revision });
      out.set(d.id, {
        deviceId: d.id,
        values,
        files,
        revision: revision === 0 ? null : revision,
        hash: configHash(values, files),
        layers,
        secretKeys,
        warnings,
      });
    }
    return out;
  }

  async floors(projectId: number): Promise<Map<string, number>> {
    const r = await this.db
      .selectFrom("config_device_floors")
      .select(["device_id", "revision"])
      .where("project_id", "=", projectId)
      .execute();
    return new Map(r.map((x) => [x.device_id, x.revision]));
  }

  /** JSON/YAML files of several layers, parsed, merged and stored as one blob. */
  private async mergeFile(
    path: string,
    kind: ConfigFileKind,
    fs: StoredFile[],
    layer: LayerId,
  ): Promise<EffectiveFile> {
    let merged: unknown;
    for (const f of fs) {
      const b = await this.blob(f.hash);
      if (!b) throw new Error(`configuration file ${path}: blob ${f.hash} is missing`);
      const text = b.toString("utf8");
      const v = kind === "json" ? JSON.parse(text) : parseDocument(text).toJS();
      merged = merged === undefined ? deepMerge({}, v) : deepMerge(merged, v);
    }
    const bytes = Buffer.from(
      kind === "json" ? `${JSON.stringify(merged, null, 2)}\n` : yamlStringify(merged),
    );
    const secret = fs.some((f) => f.secret);
    const hash = await this.putBlob(this.db, bytes, secret);
    return { path, hash, size: bytes.length, kind, secret, layer };
  }

  // ---- blobs ----

  /**
   * Non-secret blobs lately read, by hash: a file pushed to a hundred devices is read from the
   * database once, not once per download. Bounded by BLOB_CACHE_BYTES (oldest read dropped first).
   */
  private readonly blobCache = new Map<string, Promise<Buffer | null>>();
  private readonly blobSizes = new Map<string, number>();
  private blobCacheBytes = 0;

  async blob(hash: string): Promise<Buffer | null> {
    if (!/^[0-9a-f]{64}$/.test(hash)) return null;
    const cached = this.blobCache.get(hash);
    if (cached) {
      this.blobCache.delete(hash);
      this.blobCache.set(hash, cached);
      return cached;
    }
    const read = this.readBlob(hash);
    // Concurrent downloads of the same file share one read.
    this.blobCache.set(
      hash,
      read.then((b) => b?.bytes ?? null),
    );
    let b: Awaited<typeof read>;
    try {
      b = await read;
    } catch (err) {
      this.blobCache.delete(hash);
      throw err;
    }
    if (!b || b.secret) {
      this.blobCache.delete(hash);
      return b?.bytes ?? null;
    }
    this.blobSizes.set(hash, b.bytes.length);
    this.blobCacheBytes += b.bytes.length;
    for (const h of this.blobCache.keys()) {
      if (this.blobCacheBytes <= BLOB_CACHE_BYTES) break;
      if (h === hash) continue;
      this.blobCache.delete(h);
      this.blobCacheBytes -= this.blobSizes.get(h) ?? 0;
      this.blobSizes.delete(h);
    }
    return b.bytes;
  }

  private async readBlob(hash: string): Promise<{ bytes: Buffer; secret: boolean } | null> {
    const r = await this.db
      .selectFrom("config_blobs")
      .select(["content", "secret"])
      .where("hash", "=", hash)
      .executeTakeFirst();
    if (!r) return null;
    const b = Buffer.isBuffer(r.content) ? r.content : Buffer.from(r.content);
    return r.secret ? { bytes: this.box.open(b), secret: true } : { bytes: b, secret: false };
  }

  /** Store bytes by their hash (secret ones sealed); a secret push of bytes stored in clear seals them. */
  async putBlob(db: Trx, bytes: Buffer, secret: boolean): Promise<string> {
    const hash = sha256Hex(bytes);
    const have = await db
      .selectFrom("config_blobs")
      .select(["secret"])
      .where("hash", "=", hash)
      .executeTakeFirst();
    if (!have) {
      await db
        .insertInto("config_blobs")
        .values({
          hash,
          size: bytes.length,
          secret: secret ? 1 : 0,
          content: secret ? this.box.seal(bytes) : bytes,
          created_at: nowIso(),
        })
        .onConflict((oc) => oc.column("hash").doNothing())
        .execute();
    } else if (secret && !have.secret) {
      await db
        .updateTable("config_blobs")
        .set({ secret: 1, content: this.box.seal(bytes) })
        .where("hash", "=", hash)
        .execute();
    }
    return hash;
  }

  // ---- devices of a layer ----

  async devicesOf(layer: LayerId): Promise<DeviceRow[]> {
    const all = await this.acceptedDevices(layer.projectId);
    if (layer.kind === "defaults") return all;
    if (layer.kind === "device") return all.filter((d) => d.id === layer.name);
    const row = await this.db
      .selectFrom("config_layers")
      .selectAll()
      .where("id", "=", layer.id)
      .executeTakeFirst();
    if (!row || row.deleted) return [];
    return all.filter((d) => this.groupMatches(row, d));
  }

  private rowMatches(row: Pick<LayerRow, "kind" | "name" | "selector">, d: DeviceRow): boolean {
    if (row.kind === "defaults") return true;
    if (row.kind === "device") return d.id === row.name;
    return this.groupMatches(row, d);
  }

  // ---- schema ----

  validator(schemaText: string | null): ValidateFunction | undefined {
    if (!schemaText) return undefined;
    if (this.schemaCache?.text === schemaText) return this.schemaCache.fn;
    const fn = this.ajv.compile(JSON.parse(schemaText));
    this.schemaCache = { text: schemaText, fn };
    return fn;
  }

  schemaError(fn: ValidateFunction, values: unknown, who: string): TetherError | undefined {
    if (fn(values)) return undefined;
    const e = fn.errors?.[0];
    const where = e?.instancePath || "/";
    return bad(
      "TETHER_ERR_CONFIG_SCHEMA",
      `${who} would get an invalid configuration: ${where} ${e?.message ?? "is not valid"}`,
    );
  }

  // ---- the write pipeline ----

  /** Make sure the project has its config_projects row, and lock it (PostgreSQL) for this transaction. */
  private async lockProject(trx: Trx, projectId: number) {
    await trx
      .insertInto("config_projects")
      .values({
        project_id: projectId,
        revision: 0,
        schema: null,
        schema_updated_at: null,
        schema_updated_by: null,
      })
      .onConflict((oc) => oc.column("project_id").doNothing())
      .execute();
    let q = trx.selectFrom("config_projects").selectAll().where("project_id", "=", projectId);
    if (this.deps.dialect === "postgres") q = q.forUpdate();
    return (await q.executeTakeFirstOrThrow()) as Selectable<ConfigDB["config_projects"]>;
  }

  private async conflict(
    trx: Trx,
    layer: LayerId,
    base: number | null,
    now: number | null,
  ): Promise<TetherError> {
    const last =
      now === null
        ? undefined
        : await trx
            .selectFrom("config_revisions")
            .select(["author", "message"])
            .where("project_id", "=", layer.projectId)
            .where("revision", "=", now)
            .executeTakeFirst();
    const by = last ? `, by ${last.author}${last.message ? `: ${JSON.stringify(last.message)}` : ""}` : "";
    const since = base === null ? "you read it (it had no revision then)" : `revision ${base}`;
    return bad(
      "TETHER_ERR_CONFIG_CONFLICT",
      `${layer.label} changed since ${since} (now ${now ?? "none"}${by}); reload and retry`,
    );
  }

  private checkLayerLimits(c: LayerContent, label: string, tree: Record<string, unknown>) {
    const n = Buffer.byteLength(JSON.stringify(tree));
    if (n > CONFIG_LIMITS.layerValuesBytes)
      throw bad(
        "TETHER_ERR_CONFIG_TOO_LARGE",
        `the values of ${label} would be ${fmtBytes(n)} of JSON; the limit is ${fmtBytes(CONFIG_LIMITS.layerValuesBytes)} per layer (put large data in a file)`,
      );
    const files = Object.keys(c.files).length;
    if (files > CONFIG_LIMITS.layerFiles)
      throw bad(
        "TETHER_ERR_CONFIG_TOO_LARGE",
        `${label} would have ${files} files; the limit is ${CONFIG_LIMITS.layerFiles} per layer`,
      );
    const why = checkAgentSettings(tree);
    if (why) throw bad("TETHER_ERR_CONFIG_INVALID", why);
  }

  /** Equal priorities that both match a device now are refused. */
  private checkPriority(
    rows: readonly LayerRow[],
    self: { id?: number; name: string; selector: string; priority: number },
    devices: readonly DeviceRow[],
  ) {
    for (const other of rows) {
      if (other.kind !== "group" || other.id === self.id || other.priority !== self.priority) continue;
      const d = devices.find((x) => this.groupMatches(self, x) && this.groupMatches(other, x));
      if (d)
        throw bad(
          "TETHER_ERR_CONFIG_PRIORITY",
          `group ${other.name} also has priority ${self.priority} and matches ${d.name} too; give group ${self.name} another priority so the merge order is clear`,
        );
    }
  }

  async write(spec: WriteSpec): Promise<WriteResult> {
    const projectId = spec.actor.projectId;
    if (spec.message.length > CONFIG_LIMITS.messageChars)
      throw bad(
        "TETHER_ERR_BAD_REQUEST",
        `the message is longer than ${CONFIG_LIMITS.messageChars} characters`,
      );
    const devices = await this.acceptedDevices(projectId);
    const names = new Map(devices.map((d) => [d.id, d.name]));
    const pre = await this.findRow(this.db, projectId, spec.target.kind, spec.target.name);
    if (pre && !spec.skipRolloutCheck) {
      const r = await this.delivery.activeRollout(pre.id);
      if (r)
        throw bad(
          "TETHER_ERR_ROLLOUT_ACTIVE",
          `${r.layerLabel} has an unfinished rollout ${r.id} (${r.state}); resume, wait for or abort it first`,
        );
    }
    if (spec.rollout) await this.delivery.checkRolloutLimit(projectId);
    const deviceName =
      spec.target.kind === "device"
        ? (names.get(spec.target.name) ?? (await this.deviceName(spec.target.name)))
        : undefined;
    const res = await this.db.transaction().execute(async (trx) => {
      const project = await this.lockProject(trx, projectId);
      const rows = await this.loadLayers(trx, projectId);
      let row = rows.find((r) => r.kind === spec.target.kind && r.name === spec.target.name);
      if (spec.mustExist && !row)
        throw bad(
          "TETHER_ERR_CONFIG_GROUP_NOT_FOUND",
          `no configuration group ${spec.target.name} in this project`,
        );
      if (spec.create && row)
        throw bad(
          "TETHER_ERR_CONFIG_GROUP_EXISTS",
          `a configuration group ${spec.target.name} exists already`,
        );
      if (spec.create) {
        const groups = rows.filter((r) => r.kind === "group").length;
        if (groups >= CONFIG_LIMITS.groups)
          throw bad(
            "TETHER_ERR_CONFIG_LIMIT",
            `this project has ${groups} configuration groups, the most it may have (${CONFIG_LIMITS.groups})`,
          );
      }
      const idNow = row ? this.layerId(row, deviceName) : undefined;
      const provisional: LayerId = idNow ?? {
        ...this.layerId(
          { id: 0, project_id: projectId, kind: spec.target.kind, name: spec.target.name },
          deviceName,
        ),
      };
      if (spec.baseRevision !== undefined && (row?.revision ?? null) !== spec.baseRevision)
        throw await this.conflict(trx, provisional, spec.baseRevision, row?.revision ?? null);
      const baseRevision = row?.revision ?? null;
      const curContent = row ? parseContent(row.content) : emptyContent();
      const next = await spec.apply({ row, content: curContent }, trx);
      const nextTree = this.tree(next.content);
      if (!next.deleted) this.checkLayerLimits(next.content, provisional.label, nextTree);

      const selector = next.selector ?? row?.selector ?? spec.create?.selector ?? null;
      const priority = next.priority ?? row?.priority ?? spec.create?.priority ?? null;
      if (spec.target.kind === "group" && !next.deleted && selector !== null && priority !== null)
        this.checkPriority(rows, { id: row?.id, name: spec.target.name, selector, priority }, devices);

      // Who is affected: devices the layer applied to before or applies to after.
      const shape = { kind: spec.target.kind, name: spec.target.name };
      const before =
        row && row.revision !== null ? devices.filter((d) => this.rowMatches(row as LayerRow, d)) : [];
      const revision = project.revision + 1;
      const bump = next.bump ?? true;
      const layerRevision = bump ? revision : (row?.revision ?? null);
      const after =
        next.deleted || layerRevision === null
          ? []
          : devices.filter((d) => this.rowMatches({ ...shape, selector }, d));
      const affected = [...new Map([...before, ...after].map((d) => [d.id, d])).values()];
      const at = nowIso();
      // The rows after the change, for validation.
      const afterRow: LayerRow = {
        id: row?.id ?? -1,
        project_id: projectId,
        kind: spec.target.kind,
        name: spec.target.name,
        selector,
        priority,
        revision: layerRevision,
        deleted: next.deleted ? 1 : 0,
        created_at: row?.created_at ?? at,
        content: "",
        updated_at: at,
        updated_by: spec.actor.username,
      };
      const afterRows = [...rows.filter((r) => r !== row), ...(next.deleted ? [] : [afterRow])];
      const contents = new Map<LayerRow, LayerContent>(
        afterRows.map((r) => [r, r === afterRow ? next.content : parseContent(r.content)]),
      );
      const fn = this.validator(project.schema);
      const trees = new Map<string, Record<string, unknown>>();
      if (!next.deleted || affected.length) {
        if (affected.length) {
          for (const d of affected) {
            const { used } = this.applicable(afterRows, d, (r) => ({
              content: contents.get(r) as LayerContent,
              revision: r.revision,
            }));
            const { values } = this.mergeValues(used, trees);
            const n = Buffer.byteLength(JSON.stringify(values));
            if (n > CONFIG_LIMITS.effectiveValuesBytes)
              throw bad(
                "TETHER_ERR_CONFIG_TOO_LARGE",
                `${d.name}'s merged configuration would be ${fmtBytes(n)} of JSON; the limit is ${fmtBytes(CONFIG_LIMITS.effectiveValuesBytes)} per device`,
              );
            const err = fn && this.schemaError(fn, values, d.name);
            if (err) throw err;
          }
        } else if (fn && !next.deleted) {
          const defaults = afterRows.find((r) => r.kind === "defaults" && r !== afterRow);
          const values = deepMerge(
            defaults ? this.tree(contents.get(defaults) as LayerContent) : {},
            nextTree,
          );
          const err = this.schemaError(fn, values, `a device of ${provisional.label}`);
          if (err) throw err;
        }
      }

      await trx
        .updateTable("config_projects")
        .set({ revision })
        .where("project_id", "=", projectId)
        .execute();
      const contentText = JSON.stringify({
        ...next.content,
        ...(spec.target.kind === "group" && selector !== null && priority !== null
          ? { group: { selector, priority } }
          : {}),
      });
      let layerRowId: number;
      if (row) {
        layerRowId = row.id;
        await trx
          .updateTable("config_layers")
          .set({
            selector,
            priority,
            revision: layerRevision,
            deleted: next.deleted ? 1 : 0,
            content: contentText,
            updated_at: at,
            updated_by: spec.actor.username,
          })
          .where("id", "=", row.id)
          .execute();
      } else {
        const ins = await trx
          .insertInto("config_layers")
          .values({
            project_id: projectId,
            kind: spec.target.kind,
            name: spec.target.name,
            selector,
            priority,
            revision: layerRevision,
            deleted: 0,
            created_at: at,
            content: contentText,
            updated_at: at,
            updated_by: spec.actor.username,
          })
          .returning("id")
          .executeTakeFirstOrThrow();
        layerRowId = ins.id;
        row = { ...afterRow, id: ins.id, content: contentText };
      }
      await trx
        .insertInto("config_revisions")
        .values({
          project_id: projectId,
          revision,
          layer_id: layerRowId,
          device_id: null,
          kind: spec.kind,
          author: spec.actor.username,
          at,
          message: spec.message,
          content: contentText,
          changed: JSON.stringify(next.changed),
          restored: next.restored ?? null,
        })
        .execute();
      // Devices that lose this layer keep a revision at least this new (their configuration changed).
      const afterIds = new Set(after.map((d) => d.id));
      const leavers = before.filter((d) => !afterIds.has(d.id));
      for (const d of leavers) await this.setFloor(trx, projectId, d.id, revision);
      return {
        revision,
        baseRevision,
        layer: this.layerId(
          { id: layerRowId, project_id: projectId, kind: spec.target.kind, name: spec.target.name },
          deviceName,
        ),
        affected: affected.map((d) => d.id),
        next,
      };
    });
    await this.deps.audit
      .write(spec.audit(res.revision, res.layer, res.next))
      .catch((err) => this.deps.log.warn({ err }, "config: audit entry not written"));
    let rollout: ConfigRollout | null = null;
    try {
      rollout = await this.delivery.changed({
        projectId,
        layer: res.layer,
        revision: res.revision,
        baseRevision: res.baseRevision,
        actor: spec.actor.username,
        deviceIds: res.affected,
        ...(spec.rollout ? { rollout: spec.rollout } : {}),
      });
    } catch (err) {
      // Committed: delivery re-computes at its next occasion; the caller learns the revision.
      this.deps.log.error({ err, revision: res.revision }, "config: delivery of a committed change failed");
      if (spec.rollout) throw err;
    }
    return {
      revision: res.revision,
      layer: res.layer,
      change: {
        revision: res.revision,
        layer: res.layer.ref,
        layerLabel: res.layer.label,
        affected: res.affected.length,
        rollout,
      },
    };
  }

  private async setFloor(trx: Trx, projectId: number, deviceId: string, revision: number) {
    await trx
      .insertInto("config_device_floors")
      .values({ device_id: deviceId, project_id: projectId, revision })
      .onConflict((oc) => oc.column("device_id").doUpdateSet({ revision, project_id: projectId }))
      .execute();
  }

  // ---- writes ----

  private changedAudit(actor: Actor, action: string, extra: Record<string, unknown> = {}) {
    return (revision: number, layer: LayerId, next: Next): AuditInput => ({
      actor: actor.username,
      action,
      projectId: actor.projectId,
      deviceId: layer.kind === "device" ? layer.name : null,
      detail: { layer: layer.ref, revision, changed: next.changed, ...extra },
    });
  }

  /** Keys and files that differ between two contents (names only). */
  changedBetween(a: LayerContent, b: LayerContent): string[] {
    const ta = this.tree(a);
    const tb = this.tree(b);
    const keys = new Set(diffValues(ta, tb).map((e) => e.key));
    const sa = Object.keys(a.secrets);
    const sb = Object.keys(b.secrets);
    for (const k of sa) if (!sb.includes(k)) keys.add(k);
    for (const k of sb) if (!sa.includes(k)) keys.add(k);
    const out = [...keys].sort();
    const paths = new Set([...Object.keys(a.files), ...Object.keys(b.files)]);
    for (const p of [...paths].sort()) {
      const x = a.files[p];
      const y = b.files[p];
      if (!x || !y || x.hash !== y.hash || x.secret !== y.secret) out.push(`file:${p}`);
    }
    return out;
  }

  private target(r: { kind: ConfigLayerKind; name: string }) {
    return { kind: r.kind, name: r.name };
  }

  /** PATCH a layer: set/unset keys, remove files, replace the non-secret values. */
  async patch(actor: Actor, ref: string, p: ConfigPatch): Promise<ConfigChange> {
    const r = await this.resolve(actor.projectId, ref);
    if (r.kind === "device" && r.device?.state !== "accepted")
      throw bad("TETHER_ERR_DEVICE_STATE", `device ${r.device?.name} is ${r.device?.state}; accept it first`);
    const sets = (p.set ?? []).map((s) => {
      const path = parseKeyPath(s.key);
      if (s.value === undefined) throw bad("TETHER_ERR_BAD_REQUEST", `no value for ${s.key}`);
      checkValueKeys(s.value, s.key);
      return { ...s, path };
    });
    const unsets = (p.unset ?? []).map((u) => {
      if (u.startsWith("file:")) {
        parseFilePath(u.slice(5));
        return { file: u.slice(5) };
      }
      return { key: u, path: parseKeyPath(u) };
    });
    if (p.values !== undefined) checkValueKeys(p.values);
    if (!sets.length && !unsets.length && p.values === undefined)
      throw bad("TETHER_ERR_BAD_REQUEST", "nothing to change: give set, unset or values");
    const res = await this.write({
      actor,
      target: this.target(r),
      kind: "change",
      message: p.message ?? "",
      ...(p.baseRevision !== undefined ? { baseRevision: p.baseRevision } : {}),
      ...(p.rollout ? { rollout: p.rollout } : {}),
      mustExist: r.kind === "group",
      apply: ({ content }) => {
        let c: LayerContent = {
          values: content.values,
          secrets: { ...content.secrets },
          files: { ...content.files },
        };
        if (p.values !== undefined) {
          let v = p.values as Record<string, unknown>;
          // The editor shows secrets masked: whatever it sends at a secret key is not a new value.
          for (const s of Object.keys(c.secrets)) v = unsetPath(v, s.split("."));
          c.values = v;
        }
        for (const s of sets) {
          for (const k of Object.keys(c.secrets)) if (overlaps(k, s.key)) delete c.secrets[k];
          if (s.secret && s.value !== null) {
            c.values = unsetPath(c.values, s.path);
            c.secrets[s.key] = this.box.sealValue(s.value);
          } else c.values = setPath(c.values, s.path, s.value);
        }
        for (const u of unsets) {
          if ("file" in u) {
            delete c.files[u.file as string];
            continue;
          }
          const key = u.key as string;
          c.values = unsetPath(c.values, u.path as string[]);
          for (const k of Object.keys(c.secrets)) {
            if (k === key || k.startsWith(`${key}.`)) delete c.secrets[k];
            else if (key.startsWith(`${k}.`)) {
              // A key inside a secret object: take it out of the secret value.
              const inner = this.box.openValue(c.secrets[k] as string);
              if (isPlainObject(inner)) {
                const rest = unsetPath(inner, key.slice(k.length + 1).split("."));
                c.secrets[k] = this.box.sealValue(rest);
              }
            }
          }
        }
        c = { ...c };
        return { content: c, changed: this.changedBetween(content, c) };
      },
      audit: this.changedAudit(actor, "config.change", { message: p.message ?? "" }),
    });
    return res.change;
  }

  /** PUT one file into a layer (the bytes as sent). */
  async putFile(
    actor: Actor,
    ref: string,
    path: string,
    bytes: Buffer,
    o: { secret?: boolean; baseRevision?: number | null; message?: string; rollout?: RolloutSpec },
  ): Promise<ConfigChange> {
    parseFilePath(path);
    if (bytes.length > CONFIG_LIMITS.fileBytes)
      throw bad(
        "TETHER_ERR_CONFIG_TOO_LARGE",
        `file ${path} is ${bytes.length.toLocaleString("en-US")} bytes, more than the limit of ${fmtBytes(CONFIG_LIMITS.fileBytes)} per file`,
      );
    const kind = fileKind(path);
    if (kind !== "raw") checkParses(path, kind, bytes);
    const r = await this.resolve(actor.projectId, ref);
    if (r.kind === "device" && r.device?.state !== "accepted")
      throw bad("TETHER_ERR_DEVICE_STATE", `device ${r.device?.name} is ${r.device?.state}; accept it first`);
    const res = await this.write({
      actor,
      target: this.target(r),
      kind: "change",
      message: o.message ?? "",
      ...(o.baseRevision !== undefined ? { baseRevision: o.baseRevision } : {}),
      ...(o.rollout ? { rollout: o.rollout } : {}),
      mustExist: r.kind === "group",
      apply: async ({ content }, trx) => {
        const hash = await this.putBlob(trx, bytes, !!o.secret);
        const c = {
          ...content,
          files: { ...content.files, [path]: { hash, size: bytes.length, kind, secret: !!o.secret } },
        };
        return { content: c, changed: this.changedBetween(content, c) };
      },
      audit: this.changedAudit(actor, "config.change", { message: o.message ?? "" }),
    });
    return res.change;
  }

  /** The revision row (404 when not of this project). */
  async revisionRow(projectId: number, revision: number) {
    const r = await this.db
      .selectFrom("config_revisions")
      .selectAll()
      .where("project_id", "=", projectId)
      .where("revision", "=", revision)
      .executeTakeFirst();
    if (!r)
      throw bad(
        "TETHER_ERR_CONFIG_REVISION_NOT_FOUND",
        `no configuration revision ${revision} in this project`,
      );
    return r;
  }

  async rollback(
    actor: Actor,
    revision: number,
    o: { baseRevision?: number | null; message?: string; rollout?: RolloutSpec },
  ): Promise<ConfigChange> {
    const rev = await this.revisionRow(actor.projectId, revision);
    if (rev.layer_id === null)
      throw bad(
        "TETHER_ERR_BAD_REQUEST",
        `revision ${revision} re-targeted device ${await this.deviceName(rev.device_id ?? "")}; it changed no layer, so there is nothing to roll back to`,
      );
    const row = await this.db
      .selectFrom("config_layers")
      .selectAll()
      .where("id", "=", rev.layer_id)
      .executeTakeFirstOrThrow();
    const layer = await this.layerIdOf(row);
    if (row.deleted)
      throw bad(
        "TETHER_ERR_CONFIG_GROUP_NOT_FOUND",
        `${layer.label} was deleted; create it again and set its values`,
      );
    const res = await this.restoreWrite(
      actor,
      row,
      revision,
      "rollback",
      o.message ?? `rollback to revision ${revision}`,
      {
        ...(o.baseRevision !== undefined ? { baseRevision: o.baseRevision } : {}),
        ...(o.rollout ? { rollout: o.rollout } : {}),
      },
    );
    return res.change;
  }

  private async restoreWrite(
    actor: Actor,
    row: LayerRow,
    revision: number | null,
    kind: "rollback" | "rollout-abort",
    message: string,
    o: { baseRevision?: number | null; rollout?: RolloutSpec },
  ): Promise<WriteResult> {
    const old = await this.contentAt(row.id, revision);
    const restoredContent: LayerContent = { values: old.values, secrets: old.secrets, files: old.files };
    return this.write({
      actor,
      target: { kind: row.kind as ConfigLayerKind, name: row.name },
      kind,
      message,
      ...o,
      skipRolloutCheck: kind === "rollout-abort",
      mustExist: true,
      apply: ({ content }) => ({
        content: restoredContent,
        changed: this.changedBetween(content, restoredContent),
        restored: revision,
      }),
      audit: (rev, layer) => ({
        actor: actor.username,
        action: "config.rollback",
        projectId: actor.projectId,
        deviceId: layer.kind === "device" ? layer.name : null,
        detail: { layer: layer.ref, revision: rev, restored: revision, kind },
      }),
    });
  }

  async restore(
    actor: Actor,
    layer: LayerId,
    revision: number | null,
    kind: "rollback" | "rollout-abort",
    message: string,
  ): Promise<number> {
    const row = await this.db
      .selectFrom("config_layers")
      .selectAll()
      .where("id", "=", layer.id)
      .executeTakeFirst();
    if (!row || row.deleted)
      throw bad("TETHER_ERR_CONFIG_GROUP_NOT_FOUND", `${layer.label} no longer exists`);
    return (await this.restoreWrite(actor, row, revision, kind, message, {})).revision;
  }

  /** A deleted device: its own layer is marked deleted (its history stays readable) and its floor goes. */
  async forgetDevice(deviceId: string): Promise<void> {
    await this.db
      .updateTable("config_layers")
      .set({ deleted: 1 })
      .where("kind", "=", "device")
      .where("name", "=", deviceId)
      .execute();
    await this.db.deleteFrom("config_device_floors").where("device_id", "=", deviceId).execute();
  }

  async retarget(projectId: number, deviceId: string, actor: string, message: string): Promise<number> {
    return this.db.transaction().execute(async (trx) => {
      const project = await this.lockProject(trx, projectId);
      const revision = project.revision + 1;
      await trx
        .updateTable("config_projects")
        .set({ revision })
        .where("project_id", "=", projectId)
        .execute();
      await trx
        .insertInto("config_revisions")
        .values({
          project_id: projectId,
          revision,
          layer_id: null,
          device_id: deviceId,
          kind: "retarget",
          author: actor,
          at: nowIso(),
          message: message.slice(0, CONFIG_LIMITS.messageChars),
          content: null,
          changed: "[]",
          restored: null,
        })
        .execute();
      await this.setFloor(trx, projectId, deviceId, revision);
      return revision;
    });
  }

  // ---- groups ----

  private groupAudit(actor: Actor, action: string) {
    return (revision: number, layer: LayerId, next: Next): AuditInput => ({
      actor: actor.username,
      action,
      projectId: actor.projectId,
      detail: {
        group: layer.name,
        selector: next.selector ?? null,
        priority: next.priority ?? null,
        revision,
      },
    });
  }

  async createGroup(
    actor: Actor,
    g: { name: string; selector: string; priority: number; message?: string },
  ): Promise<void> {
    if (!/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(g.name))
      throw bad(
        "TETHER_ERR_BAD_REQUEST",
        `invalid group name ${JSON.stringify(g.name)}: lowercase letters, digits and -`,
      );
    this.checkGroupSelector(g.selector);
    await this.write({
      actor,
      target: { kind: "group", name: g.name },
      kind: "group-create",
      message: g.message ?? "",
      create: { selector: g.selector, priority: g.priority },
      apply: () => ({
        content: emptyContent(),
        changed: [],
        selector: g.selector,
        priority: g.priority,
        bump: false,
      }),
      audit: this.groupAudit(actor, "config.group.create"),
    });
  }

  async updateGroup(
    actor: Actor,
    name: string,
    u: { selector?: string; priority?: number; baseRevision?: number | null; message?: string },
  ): Promise<void> {
    if (u.selector !== undefined) this.checkGroupSelector(u.selector);
    await this.write({
      actor,
      target: { kind: "group", name },
      kind: "group-update",
      message: u.message ?? "",
      mustExist: true,
      ...(u.baseRevision !== undefined ? { baseRevision: u.baseRevision } : {}),
      apply: ({ content, row }) => ({
        content,
        changed: [],
        selector: u.selector ?? (row?.selector as string),
        priority: u.priority ?? (row?.priority as number),
      }),
      audit: this.groupAudit(actor, "config.group.update"),
    });
  }

  async deleteGroup(actor: Actor, name: string, message?: string): Promise<void> {
    await this.write({
      actor,
      target: { kind: "group", name },
      kind: "group-delete",
      message: message ?? "",
      mustExist: true,
      apply: ({ content, row }) => ({
        content,
        changed: [...leafKeys(this.tree(content)), ...Object.keys(content.files).map((f) => `file:${f}`)],
        selector: row?.selector as string,
        priority: row?.priority as number,
        deleted: true,
      }),
      audit: this.groupAudit(actor, "config.group.delete"),
    });
  }

  // ---- schema ----

  async setSchema(actor: Actor, schema: Record<string, unknown> | null): Promise<void> {
    const projectId = actor.projectId;
    let text: string | null = null;
    if (schema !== null) {
      text = JSON.stringify(schema);
      if (Buffer.byteLength(text) > CONFIG_LIMITS.schemaBytes)
        throw bad(
          "TETHER_ERR_CONFIG_TOO_LARGE",
          `the schema is ${fmtBytes(Buffer.byteLength(text))} of JSON; the limit is ${fmtBytes(CONFIG_LIMITS.schemaBytes)}`,
        );
      let fn: ValidateFunction;
      try {
        fn = new Ajv({ strict: false }).compile(schema);
      } catch (err) {
        throw bad(
          "TETHER_ERR_CONFIG_INVALID",
          `the schema is not a valid JSON Schema: ${(err as Error).message}`,
        );
      }
      const devices = await this.acceptedDevices(projectId);
      const eff = await this.effectiveMany(projectId, devices);
      for (const d of devices) {
        const e = eff.get(d.id);
        if (!e || e.revision === null) continue;
        const err = this.schemaError(fn, e.values, d.name);
        if (err) throw err;
      }
    }
    await this.db.transaction().execute(async (trx) => {
      await this.lockProject(trx, projectId);
      await trx
        .updateTable("config_projects")
        .set({ schema: text, schema_updated_at: nowIso(), schema_updated_by: actor.username })
        .where("project_id", "=", projectId)
        .execute();
    });
    await this.deps.audit.write({
      actor: actor.username,
      action: schema === null ? "config.schema.clear" : "config.schema.set",
      projectId,
      detail: {},
    });
  }

  async getSchema(projectId: number) {
    const r = await this.db
      .selectFrom("config_projects")
      .selectAll()
      .where("project_id", "=", projectId)
      .executeTakeFirst();
    return {
      schema: r?.schema ? (JSON.parse(r.schema) as Record<string, unknown>) : null,
      updatedAt: r?.schema_updated_at ?? null,
      updatedBy: r?.schema_updated_by ?? null,
    };
  }
}

/** A .json or .yaml file must parse; the error names the line and column. */
/** Bytes of non-secret file contents the model keeps in memory for downloads. */
const BLOB_CACHE_BYTES = 64 * 1024 * 1024;

export function checkParses(path: string, kind: "json" | "yaml", bytes: Buffer): void {
  const text = bytes.toString("utf8");
  if (kind === "json") {
    try {
      JSON.parse(text);
    } catch {
      // Never Node's message: it quotes the content (which may be a secret file).
      const at = jsonErrorAt(text);
      const before = text.slice(0, at.pos);
      const where = ` at line ${before.split("\n").length} column ${at.pos - before.lastIndexOf("\n")}`;
      throw bad("TETHER_ERR_CONFIG_INVALID", `${path} is not valid JSON: ${at.reason}${where}`);
    }
    return;
  }
  const doc = parseDocument(text, { prettyErrors: true });
  const e = doc.errors[0];
  if (e) {
    const pos = e.linePos?.[0];
    const first = e.message.split("\n")[0] ?? e.message;
    throw bad(
      "TETHER_ERR_CONFIG_INVALID",
      `${path} is not valid YAML: ${first.replace(/ at line \d+, column \d+:?$/, "")}${pos ? ` at line ${pos.line} column ${pos.col}` : ""}`,
    );
  }
}

/**
 * Where JSON text stops being valid, and why in a few words (JSON.parse says neither in every
 * Node version, and quotes the text). A small scanner, iterative, for text JSON.parse refused.
 */
export function jsonErrorAt(text: string): { pos: number; reason: string } {
  let i = 0;
  const n = text.length;
  const ws = () => {
    while (i < n && (text[i] === " " || text[i] === "\t" || text[i] === "\n" || text[i] === "\r")) i++;
  };
  const fail = (reason: string) => ({
    pos: Math.min(i, n),
    reason: i >= n ? "the text ends too early" : reason,
  });
  // Stack of containers: "{" expects a key next, ":" a value after a key, "[" a value, "," after a value.
  const stack: ("obj" | "arr")[] = [];
  const NUM = /-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/y;
  const str = (): boolean => {
    i++;
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 34) {
        i++;
        return true;
      }
      if (c < 0x20) return false;
      if (c === 92) {
        const e = text[i + 1];
        if (e === "u") {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) return false;
          i += 6;
        } else if (e !== undefined && '"\\/bfnrt'.includes(e)) i += 2;
        else return false;
      } else i++;
    }
    return false;
  };
  const value = (): { pos: number; reason: string } | "open" | null => {
    ws();
    const c = text[i];
    if (c === "{" || c === "[") {
      stack.push(c === "{" ? "obj" : "arr");
      i++;
      return "open";
    }
    if (c === '"') return str() ? null : fail("a string is not closed or has a bad escape");
    for (const lit of ["true", "false", "null"])
      if (text.startsWith(lit, i)) {
        i += lit.length;
        return null;
      }
    NUM.lastIndex = i;
    if (NUM.exec(text)) {
      i = NUM.lastIndex;
      return null;
    }
    return fail("expected a value (a string, number, object, array, true, false or null)");
  };
  // After a value inside a container (or at the top): a comma, a closing bracket, or the end.
  let r = value();
  for (;;) {
    if (r && r !== "open") return r;
    if (r === "open") {
      ws();
      const top = stack[stack.length - 1];
      if (text[i] === (top === "obj" ? "}" : "]")) {
        i++;
        stack.pop();
      } else if (top === "obj") {
        if (text[i] !== '"') return fail("expected a property name in double quotes");
        if (!str()) return fail("a string is not closed or has a bad escape");
        ws();
        if (text[i] !== ":") return fail("expected ':' after the property name");
        i++;
        r = value();
        continue;
      } else {
        r = value();
        continue;
      }
    }
    ws();
    const top = stack[stack.length - 1];
    if (!top)
      return i < n ? fail("unexpected text after the JSON value") : { pos: n, reason: "invalid JSON" };
    if (text[i] === ",") {
      i++;
      ws();
      if (top === "obj") {
        if (text[i] !== '"') return fail("expected a property name in double quotes");
        if (!str()) return fail("a string is not closed or has a bad escape");
        ws();
        if (text[i] !== ":") return fail("expected ':' after the property name");
        i++;
      }
      r = value();
      continue;
    }
    if (text[i] === (top === "obj" ? "}" : "]")) {
      i++;
      stack.pop();
      r = null;
      continue;
    }
    return fail(`expected ',' or '${top === "obj" ? "}" : "]"}'`);
  }
}
