/**
 * What the configuration REST API shows (docs/protocol.md §18.6): layers with secrets masked,
 * history, revisions, diffs, groups, a device's effective configuration with the source of each
 * key, and the fleet's status. Reads only.
 */
import {
  CONFIG_LIMITS,
  type ConfigDeviceStatus,
  type ConfigDeviceView,
  type ConfigDiff,
  type ConfigDiffEntry,
  type ConfigExplainEntry,
  type ConfigFileEntry,
  type ConfigGroup,
  type ConfigLayerSummary,
  type ConfigLayerView,
  type ConfigRevision,
  type ConfigStatusView,
  diffValues,
  flattenValues,
  getPath,
  SECRET_MASK,
  setPath,
  TetherError,
} from "@tether/protocol";
import type { DeviceRow } from "../../../devices.js";
import type { DeviceConfigState, LayerId } from "../types.js";
import { type LayerContent, isSecretKey, maskedTree, parseContent } from "./content.js";
import type { ConfigModelImpl, LayerRow } from "./model.js";
import { unifiedDiff } from "./textdiff.js";

type RevisionRow = Awaited<ReturnType<ConfigModelImpl["revisionRow"]>>;

const fileEntries = (c: LayerContent): ConfigFileEntry[] =>
  Object.entries(c.files)
    .sort((a, b) => (a[0] < b[0] ? -1 : 1))
    .map(([path, f]) => ({ path, hash: f.hash, size: f.size, kind: f.kind, secret: f.secret }));

export class ConfigViews {
  constructor(private readonly m: ConfigModelImpl) {}

  /** The layer's values with secrets masked, and its secret keys. */
  masked(c: LayerContent): { values: Record<string, unknown>; secretKeys: string[] } {
    const secretKeys = Object.keys(c.secrets).sort();
    let v = c.values;
    for (const k of secretKeys) v = setPath(v, k.split("."), SECRET_MASK);
    return { values: v, secretKeys };
  }

  async layer(projectId: number, ref: string): Promise<ConfigLayerView> {
    const r = await this.m.resolve(projectId, ref);
    const c = parseContent(r.row?.content);
    const id = r.row
      ? this.m.layerId(r.row, r.device?.name)
      : this.m.layerId({ id: 0, project_id: projectId, kind: r.kind, name: r.name }, r.device?.name);
    const rollout = r.row ? await this.m.deps.delivery().activeRollout(r.row.id) : null;
    return {
      layer: id.ref,
      kind: r.kind,
      layerLabel: id.label,
      ...(r.device ? { device: { id: r.device.id, name: r.device.name } } : {}),
      ...(r.row?.kind === "group"
        ? { group: { selector: r.row.selector ?? "", priority: r.row.priority ?? 0 } }
        : {}),
      revision: r.row?.revision ?? null,
      updatedAt: r.row?.revision != null ? r.row.updated_at : null,
      updatedBy: r.row?.revision != null ? r.row.updated_by : null,
      ...this.masked(c),
      files: fileEntries(c),
      rollout,
    };
  }

  async summaries(projectId: number): Promise<ConfigLayerSummary[]> {
    const rows = await this.m.loadLayers(this.m.db, projectId);
    const devices = await this.m.acceptedDevices(projectId);
    const names = new Map(devices.map((d) => [d.id, d.name]));
    const out: ConfigLayerSummary[] = [];
    const defaults = rows.find((r) => r.kind === "defaults");
    const one = async (row: LayerRow): Promise<ConfigLayerSummary> => {
      const c = parseContent(row.content);
      const id = this.m.layerId(
        row,
        row.kind === "device" ? (names.get(row.name) ?? (await this.m.deviceName(row.name))) : undefined,
      );
      return {
        layer: id.ref,
        kind: id.kind,
        layerLabel: id.label,
        revision: row.revision,
        updatedAt: row.revision !== null ? row.updated_at : null,
        keys: flattenValues(this.m.tree(c)).length,
        files: Object.keys(c.files).length,
        devices:
          row.kind === "defaults"
            ? devices.length
            : row.kind === "device"
              ? devices.filter((d) => d.id === row.name).length
              : devices.filter((d) => this.m.groupMatches(row, d)).length,
      };
    };
    if (defaults) out.push(await one(defaults));
    else
      out.push({
        layer: "defaults",
        kind: "defaults",
        layerLabel: "project defaults",
        revision: null,
        updatedAt: null,
        keys: 0,
        files: 0,
        devices: devices.length,
      });
    const groups = rows
      .filter((r) => r.kind === "group")
      .sort((a, b) => (a.priority ?? 0) - (b.priority ?? 0) || (a.name < b.name ? -1 : 1));
    for (const g of groups) out.push(await one(g));
    const own = rows.filter((r) => r.kind === "device");
    const dl = await Promise.all(own.map(one));
    out.push(...dl.sort((a, b) => (a.layer < b.layer ? -1 : 1)));
    return out;
  }

  async revisionOf(r: RevisionRow): Promise<ConfigRevision> {
    let layer: string | null = null;
    let layerLabel: string;
    if (r.layer_id !== null) {
      const row = await this.m.db
        .selectFrom("config_layers")
        .selectAll()
        .where("id", "=", r.layer_id)
        .executeTakeFirst();
      const id = row ? await this.m.layerIdOf(row) : undefined;
      layer = id?.ref ?? null;
      layerLabel = id?.label ?? "a removed layer";
    } else layerLabel = `device ${await this.m.deviceName(r.device_id ?? "")}`;
    return {
      revision: r.revision,
      layer,
      layerLabel,
      kind: r.kind as ConfigRevision["kind"],
      author: r.author,
      at: r.at,
      message: r.message,
      changed: JSON.parse(r.changed) as string[],
      restored: r.restored,
    };
  }

  async history(projectId: number, ref: string, limit?: number): Promise<ConfigRevision[]> {
    const n = Math.min(Math.max(1, limit ?? CONFIG_LIMITS.historyDefault), CONFIG_LIMITS.historyMax);
    const r = await this.m.resolve(projectId, ref, { deletedGroups: true });
    // A group's history covers every row of that name (a deleted and re-created group too).
    const ids = (
      await this.m.db
        .selectFrom("config_layers")
        .select("id")
        .where("project_id", "=", projectId)
        .where("kind", "=", r.kind)
        .where("name", "=", r.name)
        .execute()
    ).map((x) => x.id);
    if (!ids.length) return [];
    const rows = await this.m.db
      .selectFrom("config_revisions")
      .selectAll()
      .where("project_id", "=", projectId)
      .where("layer_id", "in", ids)
      .orderBy("revision", "desc")
      .limit(n)
      .execute();
    const out: ConfigRevision[] = [];
    for (const x of rows) out.push(await this.revisionOf(x));
    return out;
  }

  async revision(projectId: number, rev: number) {
    const r = await this.m.revisionRow(projectId, rev);
    const c = parseContent(r.content);
    return { ...(await this.revisionOf(r)), ...this.masked(c), files: fileEntries(c) };
  }

  async diff(projectId: number, from: number, to: number): Promise<ConfigDiff> {
    const a = await this.m.revisionRow(projectId, from);
    const b = await this.m.revisionRow(projectId, to);
    if (a.layer_id === null || a.layer_id !== b.layer_id) {
      const la = (await this.revisionOf(a)).layerLabel;
      const lb = (await this.revisionOf(b)).layerLabel;
      throw new TetherError(
        "TETHER_ERR_BAD_REQUEST",
        `revisions ${from} and ${to} are of different layers (${la}, ${lb}); diff compares two revisions of one layer`,
      );
    }
    const ca = parseContent(a.content);
    const cb = parseContent(b.content);
    const secret = [...Object.keys(ca.secrets), ...Object.keys(cb.secrets)];
    const entries: ConfigDiffEntry[] = diffValues(this.m.tree(ca), this.m.tree(cb)).map((e) => {
      const s = isSecretKey(e.key, secret);
      return s
        ? { key: e.key, op: e.op, secret: true }
        : {
            key: e.key,
            op: e.op,
            secret: false,
            ...(e.op !== "added" ? { from: e.from } : {}),
            ...(e.op !== "removed" ? { to: e.to } : {}),
          };
    });
    // A key that only became (or stopped being) secret, same value.
    for (const k of new Set(secret))
      if (
        !!ca.secrets[k] !== !!cb.secrets[k] &&
        !entries.some((e) => e.key === k || e.key.startsWith(`${k}.`))
      )
        entries.push({ key: k, op: "changed", secret: true });
    const files: ConfigDiff["files"] = [];
    const paths = [...new Set([...Object.keys(ca.files), ...Object.keys(cb.files)])].sort();
    for (const p of paths) {
      const x = ca.files[p];
      const y = cb.files[p];
      if (x && y && x.hash === y.hash && x.secret === y.secret) continue;
      const op = !x ? "added" : !y ? "removed" : "changed";
      const isSecret = !!(x?.secret || y?.secret);
      let text: string | null = null;
      if (!isSecret && (x?.size ?? 0) < 64 * 1024 && (y?.size ?? 0) < 64 * 1024) {
        const tx = x ? await this.m.blob(x.hash) : Buffer.alloc(0);
        const ty = y ? await this.m.blob(y.hash) : Buffer.alloc(0);
        if (tx && ty && !tx.includes(0) && !ty.includes(0))
          text = unifiedDiff(tx.toString("utf8"), ty.toString("utf8"), `${p}@${from}`, `${p}@${to}`);
      }
      files.push({ path: p, op, secret: isSecret, text });
    }
    const id = (await this.revisionOf(b)).layer ?? "";
    return { layer: id, layerLabel: (await this.revisionOf(b)).layerLabel, from, to, entries, files };
  }

  /** A layer's file bytes (a secret file is write-only). */
  async file(projectId: number, ref: string, path: string): Promise<Buffer> {
    const r = await this.m.resolve(projectId, ref);
    const f = parseContent(r.row?.content).files[path];
    if (!f) throw new TetherError("TETHER_ERR_NOT_FOUND", `${ref} has no file ${path}`);
    if (f.secret)
      throw new TetherError(
        "TETHER_ERR_FORBIDDEN",
        `${path} is a secret file: it is write-only (only the device can read it)`,
      );
    const b = await this.m.blob(f.hash);
    if (!b) throw new TetherError("TETHER_ERR_NOT_FOUND", `the content of ${path} is missing`);
    return b;
  }

  async groups(projectId: number): Promise<ConfigGroup[]> {
    const rows = (await this.m.loadLayers(this.m.db, projectId)).filter((r) => r.kind === "group");
    const devices = await this.m.acceptedDevices(projectId);
    return rows
      .sort((a, b) => (a.priority ?? 0) - (b.priority ?? 0) || (a.name < b.name ? -1 : 1))
      .map((r) => this.group(r, devices));
  }

  group(r: LayerRow, devices: readonly DeviceRow[]): ConfigGroup {
    return {
      name: r.name,
      selector: r.selector ?? "",
      priority: r.priority ?? 0,
      revision: r.revision,
      devices: devices.filter((d) => this.m.groupMatches(r, d)).length,
      createdAt: r.created_at,
    };
  }

  async groupByName(projectId: number, name: string): Promise<ConfigGroup> {
    const row = await this.m.findRow(this.m.db, projectId, "group", name);
    if (!row)
      throw new TetherError(
        "TETHER_ERR_CONFIG_GROUP_NOT_FOUND",
        `no configuration group ${name} in this project`,
      );
    return this.group(row, await this.m.acceptedDevices(projectId));
  }

  private statusOf(d: DeviceRow, s: DeviceConfigState | undefined, configured: boolean): ConfigDeviceStatus {
    return {
      device: { id: d.id, name: d.name },
      online: d.online === 1,
      status: s?.status ?? (configured ? "pending" : "none"),
      desired: s?.desired ?? null,
      reported: s?.reported ?? null,
      reportedAt: s?.reportedAt ?? null,
      error: s?.error ?? null,
      hookOutput: s?.hookOutput ?? null,
      drift: s?.drift ?? [],
      heldBy: s?.heldBy ?? null,
    };
  }

  async device(projectId: number, ref: string): Promise<ConfigDeviceView> {
    const d = await this.m.deps.devices.find(projectId, ref);
    const eff = (await this.m.effectiveMany(projectId, [d])).get(d.id);
    const rows = await this.m.loadLayers(this.m.db, projectId);
    const { used } = this.m.applicable(rows, d, (r) => ({
      content: parseContent(r.content),
      revision: r.revision,
    }));
    const ids = new Map<number, LayerId>();
    for (const u of used) ids.set(u.row.id, this.m.layerId(u.row, d.name));
    const trees = used.map((u) => ({
      u,
      tree: this.m.tree(u.content),
      secret: Object.keys(u.content.secrets),
    }));
    const secretKeys = eff?.secretKeys ?? [];
    const values = eff ? maskedTree(eff.values, secretKeys) : {};
    const explain: ConfigExplainEntry[] = [];
    for (const [key] of flattenValues(eff?.values ?? {})) {
      const path = key.split(".");
      const setters = trees.filter((t) => getPath(t.tree, path) !== undefined).reverse();
      const top = setters[0];
      if (!top) continue;
      const id = ids.get(top.u.row.id) as LayerId;
      const secret = isSecretKey(key, secretKeys);
      explain.push({
        key,
        value: secret ? SECRET_MASK : getPath(eff?.values, path),
        secret,
        layer: id.ref,
        layerLabel: id.label,
        revision: top.u.revision ?? 0,
        overrides: setters.slice(1).map((t) => {
          const lid = ids.get(t.u.row.id) as LayerId;
          return {
            layer: lid.ref,
            layerLabel: lid.label,
            value: isSecretKey(key, t.secret) ? SECRET_MASK : getPath(t.tree, path),
          };
        }),
      });
    }
    const st = (await this.m.deps.delivery().statusOf([d.id])).get(d.id);
    return {
      ...this.statusOf(d, st, eff?.revision != null),
      values,
      files: (eff?.files ?? []).map((f) => ({
        path: f.path,
        hash: f.hash,
        size: f.size,
        kind: f.kind,
        secret: f.secret,
        layer: f.layer.ref,
        layerLabel: f.layer.label,
      })),
      layers: (eff?.layers ?? []).map((l) => ({
        layer: l.layer.ref,
        layerLabel: l.layer.label,
        revision: l.revision,
      })),
      explain,
      warnings: eff?.warnings ?? [],
    };
  }

  async status(projectId: number, o: { selector?: string; device?: string }): Promise<ConfigStatusView> {
    let devices: DeviceRow[];
    if (o.device) devices = [await this.m.deps.devices.find(projectId, o.device)];
    else
      devices = (await this.m.deps.devices.list(projectId, o.selector || undefined)).filter(
        (d) => d.state === "accepted",
      );
    const rows = await this.m.loadLayers(this.m.db, projectId);
    const floors = await this.m.floors(projectId);
    const states = await this.m.deps.delivery().statusOf(devices.map((d) => d.id));
    const warnings = new Set<string>();
    const out: ConfigDeviceStatus[] = [];
    const counts: Record<string, number> = { "in-sync": 0, pending: 0, applying: 0, failed: 0, none: 0 };
    for (const d of devices) {
      const { used, warnings: w } = this.m.applicable(rows, d, (r) => ({
        content: { values: {}, secrets: {}, files: {} },
        revision: r.revision,
      }));
      for (const x of w) warnings.add(x);
      const s = this.statusOf(d, states.get(d.id), used.length > 0 || floors.has(d.id));
      counts[s.status] = (counts[s.status] ?? 0) + 1;
      out.push(s);
    }
    return { devices: out, counts, warnings: [...warnings] };
  }
}
