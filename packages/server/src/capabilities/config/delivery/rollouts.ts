/**
 * Staged rollouts (docs/protocol.md §18.7). The layer change is saved at once (revision R);
 * devices not yet released keep the layer at its base revision (Held). The canary goes first;
 * when every canary device reported, the rollout waits (`releaseAt`, or an operator's resume),
 * then releases the rest; more failures than `maxFailures` pause it; abort restores the layer
 * to its base revision as a new revision.
 */
import { randomBytes } from "node:crypto";
import { CONFIG_LIMITS, type ConfigRollout, type ConfigRolloutDetail, TetherError } from "@tether/protocol";
import type { Kysely } from "kysely";
import type { Logger } from "pino";
import type { Principal } from "../../../accounts.js";
import type { Audit } from "../../../audit.js";
import type { DeviceRow } from "../../../devices.js";
import { nowIso } from "../../../store/db.js";
import type { DB } from "../../../store/schema.js";
import type { ConfigModel, Effective, Held, LayerChange } from "../types.js";
import { type ConfigRolloutsTable, deliveryDb } from "./schema.js";

const UNFINISHED = ["canary", "waiting", "rolling", "paused"] as const;
/** setTimeout's ceiling; a longer wait re-arms. */
const MAX_TIMER = 2 ** 31 - 1;

export interface RolloutDeps {
  db: Kysely<DB>;
  audit: Audit;
  log: Logger;
  model: () => ConfigModel;
  /** Re-compute and deliver devices (the delivery's recompute). */
  recompute(projectId: number, deviceIds: string[], actor: string): Promise<void>;
  now?: () => number;
}

export function rolloutId(): string {
  const a = "abcdefghijklmnopqrstuvwxyz0123456789";
  const b = randomBytes(20);
  let s = "rol_";
  for (const x of b) s += a[x % 36];
  return s;
}

/** How many devices the canary takes of `total`. */
export function canaryCount(canary: string, total: number): number {
  if (total === 0) return 0;
  const m = /^(\d+)(%?)$/.exec(canary);
  if (!m) return 1;
  const n = Number(m[1]);
  return Math.min(total, m[2] ? Math.max(1, Math.ceil((n * total) / 100)) : Math.max(1, n));
}

interface Counts {
  total: number;
  canary: number;
  released: number;
  applied: number;
  failed: number;
  pending: number;
  /** Canary devices that reported (applied or failed). */
  canaryReported: number;
}

const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? "" : "s"}`;

export class Rollouts {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private chain: Promise<unknown> = Promise.resolve();
  private closed = false;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly now: () => number;

  constructor(private readonly d: RolloutDeps) {
    this.now = d.now ?? Date.now;
  }

  private get db() {
    return deliveryDb(this.d.db);
  }

  /** State transitions one at a time. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.chain.then(fn, fn);
    this.chain = p.catch(() => {});
    return p;
  }

  async checkLimit(projectId: number): Promise<void> {
    const r = await this.db
      .selectFrom("config_rollouts")
      .select((eb) => eb.fn.countAll<number>().as("n"))
      .where("project_id", "=", projectId)
      .where("state", "in", [...UNFINISHED])
      .executeTakeFirst();
    if (Number(r?.n ?? 0) >= CONFIG_LIMITS.activeRollouts)
      throw new TetherError(
        "TETHER_ERR_CONFIG_LIMIT",
        `the project already has ${CONFIG_LIMITS.activeRollouts} unfinished rollouts; finish or abort one first`,
      );
  }

  /** A change with `rollout`: its devices, the canary first by name. Answers the rollout id. */
  async create(change: LayerChange): Promise<string> {
    const spec = change.rollout as NonNullable<LayerChange["rollout"]>;
    const devices = (await this.d.model().devicesOf(change.layer))
      .slice()
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.id < b.id ? -1 : 1));
    const n = canaryCount(spec.canary, devices.length);
    const id = rolloutId();
    const at = nowIso();
    await this.d.db.transaction().execute(async (trx) => {
      const t = deliveryDb(trx);
      await t
        .insertInto("config_rollouts")
        .values({
          id,
          project_id: change.projectId,
          layer_id: change.layer.id,
          layer_ref: change.layer.ref,
          layer_label: change.layer.label,
          revision: change.revision,
          base_revision: change.baseRevision,
          state: "canary",
          reason: null,
          canary: spec.canary,
          wait_ms: spec.waitMs ?? null,
          max_failures: spec.maxFailures ?? 0,
          release_at: null,
          rest_released: 0,
          failures_seen: 0,
          created_by: change.actor,
          created_at: at,
          updated_at: at,
        })
        .execute();
      for (let i = 0; i < devices.length; i += 200) {
        await t
          .insertInto("config_rollout_devices")
          .values(
            devices.slice(i, i + 200).map((dv, j) => ({
              rollout_id: id,
              device_id: dv.id,
              device_name: dv.name,
              stage: i + j < n ? "canary" : "rest",
              released: i + j < n ? 1 : 0,
            })),
          )
          .execute();
      }
    });
    this.d.log.info(
      { rollout: id, layer: change.layer.ref, revision: change.revision, devices: devices.length, canary: n },
      "config: rollout started",
    );
    return id;
  }

  /** Held layer versions for the project's devices not yet released by an unfinished rollout. */
  async heldFor(projectId: number): Promise<(deviceId: string) => Held | undefined> {
    const rows = await this.db
      .selectFrom("config_rollout_devices as rd")
      .innerJoin("config_rollouts as r", "r.id", "rd.rollout_id")
      .select(["rd.device_id", "r.layer_id", "r.base_revision"])
      .where("r.project_id", "=", projectId)
      .where("r.state", "in", [...UNFINISHED])
      .where("rd.released", "=", 0)
      .execute();
    if (rows.length === 0) return () => undefined;
    const m = new Map<string, Map<number, number | null>>();
    for (const r of rows) {
      let h = m.get(r.device_id);
      if (!h) {
        h = new Map();
        m.set(r.device_id, h);
      }
      h.set(r.layer_id, r.base_revision);
    }
    return (id) => m.get(id);
  }

  /** Devices that now use a layer whose rollout has not released its rest: they join the rest. Answers their ids. */
  async adopt(
    projectId: number,
    rows: readonly DeviceRow[],
    effs: Map<string, Effective>,
  ): Promise<string[]> {
    const open = await this.db
      .selectFrom("config_rollouts")
      .select(["id", "layer_id"])
      .where("project_id", "=", projectId)
      .where("state", "in", [...UNFINISHED])
      .where("rest_released", "=", 0)
      .execute();
    if (open.length === 0) return [];
    const adopted = new Set<string>();
    for (const r of open) {
      const users = rows.filter((row) => effs.get(row.id)?.layers.some((l) => l.layer.id === r.layer_id));
      if (users.length === 0) continue;
      const known = new Set(
        (
          await this.db
            .selectFrom("config_rollout_devices")
            .select("device_id")
            .where("rollout_id", "=", r.id)
            .where(
              "device_id",
              "in",
              users.map((u) => u.id),
            )
            .execute()
        ).map((x) => x.device_id),
      );
      const fresh = users.filter((u) => !known.has(u.id));
      if (fresh.length === 0) continue;
      for (let i = 0; i < fresh.length; i += 200) {
        await this.db
          .insertInto("config_rollout_devices")
          .values(
            fresh.slice(i, i + 200).map((u) => ({
              rollout_id: r.id,
              device_id: u.id,
              device_name: u.name,
              stage: "rest",
              released: 0,
            })),
          )
          .onConflict((oc) => oc.columns(["rollout_id", "device_id"]).doNothing())
          .execute();
      }
      for (const u of fresh) adopted.add(u.id);
    }
    return [...adopted];
  }

  /** Per device: the unfinished rollout holding it back. */
  async heldBy(deviceIds: readonly string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (let i = 0; i < deviceIds.length; i += 400) {
      const rows = await this.db
        .selectFrom("config_rollout_devices as rd")
        .innerJoin("config_rollouts as r", "r.id", "rd.rollout_id")
        .select(["rd.device_id", "r.id"])
        .where("rd.device_id", "in", deviceIds.slice(i, i + 400))
        .where("r.state", "in", [...UNFINISHED])
        .where("rd.released", "=", 0)
        .execute();
      for (const r of rows) out.set(r.device_id, r.id);
    }
    return out;
  }

  async activeOf(layerId: number): Promise<ConfigRollout | null> {
    const r = await this.db
      .selectFrom("config_rollouts")
      .selectAll()
      .where("layer_id", "=", layerId)
      .where("state", "in", [...UNFINISHED])
      .orderBy("created_at", "desc")
      .executeTakeFirst();
    return r ? this.toView(r, await this.counts(r)) : null;
  }

  /** A device reported its desired revision: re-evaluate the unfinished rollouts it is in. */
  reported(deviceId: string): void {
    const p = (async () => {
      const rows = await this.db
        .selectFrom("config_rollout_devices as rd")
        .innerJoin("config_rollouts as r", "r.id", "rd.rollout_id")
        .select("r.id")
        .where("rd.device_id", "=", deviceId)
        .where("r.state", "in", ["canary", "rolling", "waiting"])
        .execute();
      for (const r of rows) await this.evaluateNow(r.id);
    })()
      .catch((err) => this.d.log.error({ err, deviceId }, "config: rollout evaluation failed"))
      .finally(() => this.inFlight.delete(p));
    this.inFlight.add(p);
  }

  /** Resolves once the evaluations that reports started have finished (tests). */
  async idle(): Promise<void> {
    while (this.inFlight.size) await Promise.all([...this.inFlight]);
    await this.serial(async () => {});
  }

  evaluateNow(id: string): Promise<void> {
    return this.serial(() => this.evaluate(id));
  }

  private async row(id: string, projectId?: number): Promise<ConfigRolloutsTable> {
    let q = this.db.selectFrom("config_rollouts").selectAll().where("id", "=", id);
    if (projectId !== undefined) q = q.where("project_id", "=", projectId);
    const r = await q.executeTakeFirst();
    if (!r) throw new TetherError("TETHER_ERR_ROLLOUT_NOT_FOUND", `no rollout ${id} in this project`);
    return r;
  }

  private async counts(r: ConfigRolloutsTable): Promise<Counts> {
    const rows = await this.db
      .selectFrom("config_rollout_devices as rd")
      .leftJoin("config_device_state as s", "s.device_id", "rd.device_id")
      .select(["rd.stage", "rd.released", "s.status", "s.desired_rev"])
      .where("rd.rollout_id", "=", r.id)
      .execute();
    const c: Counts = {
      total: 0,
      canary: 0,
      released: 0,
      applied: 0,
      failed: 0,
      pending: 0,
      canaryReported: 0,
    };
    for (const x of rows) {
      c.total++;
      if (x.stage === "canary") c.canary++;
      if (x.released) c.released++;
      const atR = x.released === 1 && x.desired_rev != null && x.desired_rev >= r.revision;
      if (atR && x.status === "in-sync") c.applied++;
      else if (atR && x.status === "failed") c.failed++;
      else c.pending++;
      if (x.stage === "canary" && atR && (x.status === "in-sync" || x.status === "failed"))
        c.canaryReported++;
    }
    return c;
  }

  private async set(id: string, s: Partial<ConfigRolloutsTable>): Promise<void> {
    await this.db
      .updateTable("config_rollouts")
      .set({ ...s, updated_at: nowIso() })
      .where("id", "=", id)
      .execute();
  }

  private async evaluate(id: string): Promise<void> {
    if (this.closed) return;
    const r = await this.row(id);
    if (r.state === "paused" || r.state === "done" || r.state === "aborted") return;
    const c = await this.counts(r);
    if (c.failed - r.failures_seen > r.max_failures) {
      this.disarm(id);
      const reason = `${plural(c.failed, "device")} failed, more than --max-failures ${r.max_failures}`;
      await this.set(id, { state: "paused", reason, release_at: null });
      this.d.log.warn({ rollout: id, failed: c.failed }, `config: rollout paused: ${reason}`);
      return;
    }
    if (r.state === "canary" && c.canaryReported >= c.canary) {
      if (c.total === c.canary) {
        await this.finish(r, c);
        return;
      }
      if (r.wait_ms === null) {
        await this.set(id, { state: "waiting", release_at: null });
        return;
      }
      const at = this.now() + r.wait_ms;
      if (r.wait_ms > 0) {
        await this.set(id, { state: "waiting", release_at: new Date(at).toISOString() });
        this.arm(id, at);
        return;
      }
      await this.releaseRest(r);
      return;
    }
    if (r.state === "waiting" && r.release_at && Date.parse(r.release_at) <= this.now()) {
      await this.releaseRest(r);
      return;
    }
    if (r.state === "rolling" && c.pending === 0) await this.finish(r, c);
  }

  private async finish(r: ConfigRolloutsTable, c: Counts): Promise<void> {
    this.disarm(r.id);
    await this.set(r.id, {
      state: "done",
      release_at: null,
      reason: c.failed ? `${plural(c.failed, "device")} failed` : null,
    });
    this.d.log.info({ rollout: r.id, applied: c.applied, failed: c.failed }, "config: rollout done");
  }

  private async releaseRest(r: ConfigRolloutsTable): Promise<void> {
    this.disarm(r.id);
    const rest = await this.db
      .selectFrom("config_rollout_devices")
      .select("device_id")
      .where("rollout_id", "=", r.id)
      .where("released", "=", 0)
      .execute();
    await this.db
      .updateTable("config_rollout_devices")
      .set({ released: 1 })
      .where("rollout_id", "=", r.id)
      .execute();
    await this.d.recompute(
      r.project_id,
      rest.map((x) => x.device_id),
      r.created_by,
    );
    // Rolling once the rest's messages are stored.
    await this.set(r.id, { state: "rolling", rest_released: 1, release_at: null, reason: null });
    const fresh = await this.row(r.id);
    const c = await this.counts(fresh);
    if (c.pending === 0) await this.finish(fresh, c);
  }

  private arm(id: string, at: number): void {
    this.disarm(id);
    if (this.closed) return;
    const delay = Math.min(MAX_TIMER, Math.max(0, at - this.now()));
    const t = setTimeout(() => {
      this.timers.delete(id);
      this.evaluateNow(id).catch((err) =>
        this.d.log.error({ err, rollout: id }, "config: rollout release failed"),
      );
    }, delay);
    t.unref();
    this.timers.set(id, t);
  }

  private disarm(id: string): void {
    const t = this.timers.get(id);
    if (t) clearTimeout(t);
    this.timers.delete(id);
  }

  /** After a restart: re-arm the timers of waiting rollouts, and evaluate the unfinished ones. */
  async start(): Promise<void> {
    const rows = await this.db
      .selectFrom("config_rollouts")
      .selectAll()
      .where("state", "in", ["canary", "waiting", "rolling"])
      .execute();
    for (const r of rows) {
      if (r.state === "waiting" && r.release_at) this.arm(r.id, Date.parse(r.release_at));
      else await this.evaluateNow(r.id).catch(() => {});
    }
  }

  close(): void {
    this.closed = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  /** Forget a deleted device (it no longer counts in any rollout). */
  async forget(deviceId: string): Promise<void> {
    await this.db.deleteFrom("config_rollout_devices").where("device_id", "=", deviceId).execute();
  }

  // ---- views and operator actions ----

  private toView(r: ConfigRolloutsTable, c: Counts): ConfigRollout {
    return {
      id: r.id,
      layer: r.layer_ref,
      layerLabel: r.layer_label,
      revision: r.revision,
      baseRevision: r.base_revision,
      state: r.state as ConfigRollout["state"],
      reason: r.reason,
      canary: r.canary,
      waitMs: r.wait_ms,
      maxFailures: r.max_failures,
      releaseAt: r.release_at,
      counts: {
        total: c.total,
        canary: c.canary,
        released: c.released,
        applied: c.applied,
        failed: c.failed,
        pending: c.pending,
      },
      createdBy: r.created_by,
      createdAt: r.created_at,
      updatedAt: r.updated_at,
    };
  }

  async view(id: string, projectId?: number): Promise<ConfigRollout> {
    const r = await this.row(id, projectId);
    return this.toView(r, await this.counts(r));
  }

  /** Unfinished first, then newest; at most 100. `all`: finished ones too. */
  async list(projectId: number, all: boolean): Promise<ConfigRollout[]> {
    let q = this.db.selectFrom("config_rollouts").selectAll().where("project_id", "=", projectId);
    if (!all) q = q.where("state", "in", [...UNFINISHED]);
    const rows = await q.orderBy("created_at", "desc").orderBy("id", "desc").limit(500).execute();
    const open = (s: string) => (UNFINISHED as readonly string[]).includes(s);
    rows.sort((a, b) => Number(open(b.state)) - Number(open(a.state)));
    const out: ConfigRollout[] = [];
    for (const r of rows.slice(0, 100)) out.push(this.toView(r, await this.counts(r)));
    return out;
  }

  async detail(projectId: number, id: string): Promise<ConfigRolloutDetail> {
    const r = await this.row(id, projectId);
    const rows = await this.db
      .selectFrom("config_rollout_devices as rd")
      .leftJoin("config_device_state as s", "s.device_id", "rd.device_id")
      .leftJoin("devices as d", "d.id", "rd.device_id")
      .select([
        "rd.device_id",
        "rd.device_name",
        "d.name",
        "rd.stage",
        "rd.released",
        "s.status",
        "s.error",
        "s.desired_rev",
      ])
      .where("rd.rollout_id", "=", id)
      .orderBy("rd.stage")
      .orderBy("rd.device_name")
      .execute();
    return {
      ...this.toView(r, await this.counts(r)),
      devices: rows.map((x) => {
        const atR = x.released === 1 && x.desired_rev != null && x.desired_rev >= r.revision;
        return {
          id: x.device_id,
          name: x.name ?? x.device_name,
          stage: x.stage as "canary" | "rest",
          released: x.released === 1,
          status: atR ? (x.status ?? "pending") : "pending",
          error: atR ? (x.error ?? null) : null,
        };
      }),
    };
  }

  private async audit(
    p: Principal,
    action: string,
    r: ConfigRolloutsTable,
    revision = r.revision,
  ): Promise<void> {
    await this.d.audit.write({
      actor: p.username,
      action,
      projectId: r.project_id,
      detail: { rollout: r.id, layer: r.layer_ref, revision },
    });
  }

  private stateError(r: ConfigRolloutsTable, what: string): TetherError {
    return new TetherError(
      "TETHER_ERR_ROLLOUT_STATE",
      `rollout ${r.id} is ${r.state}${r.reason ? ` (${r.reason})` : ""}; it cannot be ${what}`,
    );
  }

  pause(p: Principal, id: string): Promise<ConfigRollout> {
    return this.serial(async () => {
      const r = await this.row(id, p.projectId);
      if (!["canary", "waiting", "rolling"].includes(r.state)) throw this.stateError(r, "paused");
      this.disarm(id);
      await this.set(id, { state: "paused", reason: `paused by ${p.username}`, release_at: null });
      await this.audit(p, "config.rollout.pause", r);
      return this.view(id);
    });
  }

  resume(p: Principal, id: string): Promise<ConfigRollout> {
    return this.serial(async () => {
      const r = await this.row(id, p.projectId);
      if (r.state !== "paused" && r.state !== "waiting") throw this.stateError(r, "resumed");
      const c = await this.counts(r);
      await this.set(id, { failures_seen: c.failed, reason: null });
      const fresh = { ...r, failures_seen: c.failed, reason: null };
      if (fresh.rest_released) {
        await this.set(id, { state: "rolling" });
        await this.evaluate(id);
      } else if (c.canaryReported >= c.canary) {
        await this.releaseRest(fresh);
      } else {
        await this.set(id, { state: "canary" });
        await this.evaluate(id);
      }
      await this.audit(p, "config.rollout.resume", r);
      return this.view(id);
    });
  }

  async abort(p: Principal, id: string): Promise<ConfigRollout> {
    const r = await this.serial(async () => {
      const r = await this.row(id, p.projectId);
      if (!(UNFINISHED as readonly string[]).includes(r.state)) throw this.stateError(r, "aborted");
      this.disarm(id);
      await this.set(id, { state: "aborted", reason: `aborted by ${p.username}`, release_at: null });
      return r;
    });
    const layer = await this.d.model().layerById(r.layer_id);
    let revision = r.revision;
    if (layer) {
      try {
        revision = await this.d
          .model()
          .restore(p, layer, r.base_revision, "rollout-abort", `rollout ${id} aborted`);
      } catch (err) {
        // The layer stays as it was: so does the rollout.
        await this.set(id, { state: r.state, reason: r.reason, release_at: r.release_at });
        if (r.state === "waiting" && r.release_at) this.arm(id, Date.parse(r.release_at));
        throw err;
      }
    }
    await this.audit(p, "config.rollout.abort", r, revision);
    return this.view(id);
  }
}
