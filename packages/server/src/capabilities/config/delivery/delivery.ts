/**
 * Configuration delivery (docs/protocol.md §18.3): per device the desired (rev, hash) and
 * what it reported. A change re-computes the affected devices' effective configuration; each
 * device whose (rev, hash) changed gets one durable `config.apply` in the outbox, in one
 * transaction for all of them, and its previous undelivered `config.apply` is taken back, so
 * an offline device receives only the newest.
 */
import { CONFIG_LIMITS, type ConfigRollout, type DownBody, type UpBody } from "@tether/protocol";
import { type Kysely, sql } from "kysely";
import type { Logger } from "pino";
import type { Audit } from "../../../audit.js";
import type { ControlLink, DurableContext, StoredMessage } from "../../../control/link.js";
import type { DeviceRow } from "../../../devices.js";
import { nowIso } from "../../../store/db.js";
import type { DB } from "../../../store/schema.js";
import type { ConfigDelivery, ConfigModel, DeviceConfigState, Effective, LayerChange } from "../types.js";
import type { Rollouts } from "./rollouts.js";
import { type ConfigDeviceStateTable, deliveryDb, SENT_KEEP, type SentEntry } from "./schema.js";

export interface DeliveryDeps {
  db: Kysely<DB>;
  link: ControlLink;
  audit: Audit;
  log: Logger;
  model: () => ConfigModel;
}

type ApplyBody = DownBody<"config.apply">;
type ReportBody = UpBody<"config.report">;

const CHUNK = 400;

function chunks<T>(xs: readonly T[], n = CHUNK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += n) out.push(xs.slice(i, i + n));
  return out;
}

const parseSent = (s: string | null | undefined): SentEntry[] => {
  try {
    const v = JSON.parse(s ?? "[]");
    return Array.isArray(v) ? (v as SentEntry[]) : [];
  } catch {
    return [];
  }
};

export class Delivery implements ConfigDelivery {
  rollouts!: Rollouts;
  /** Reports refused (a (rev, hash) never sent to that device). */
  refusedReports = 0;
  /** Re-computations run one at a time (two changes never race on a device's outbox entry). */
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly d: DeliveryDeps) {}

  private get db() {
    return deliveryDb(this.d.db);
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.chain.then(fn, fn);
    this.chain = p.catch(() => {});
    return p;
  }

  async changed(change: LayerChange): Promise<ConfigRollout | null> {
    const rolloutId = change.rollout ? await this.rollouts.create(change) : null;
    await this.recompute(change.projectId, change.deviceIds, change.actor);
    if (!rolloutId) return null;
    await this.rollouts.evaluateNow(rolloutId);
    return this.rollouts.view(rolloutId);
  }

  activeRollout(layerId: number): Promise<ConfigRollout | null> {
    return this.rollouts.activeOf(layerId);
  }

  /** TETHER_ERR_CONFIG_LIMIT when the project has the most unfinished rollouts (call before a write with a rollout). */
  checkRolloutLimit(projectId: number): Promise<void> {
    return this.rollouts.checkLimit(projectId);
  }

  /**
   * Re-compute and deliver devices of a project. Devices whose effective configuration changed
   * without a newer revision (a relabel, a layer they left) first take a retarget revision, so
   * a device's revision never goes down. `retarget: "changed"` retargets every changed device (relabel).
   */
  async recompute(
    projectId: number,
    deviceIds: readonly string[],
    actor: string,
    o: { retarget?: "changed" } = {},
  ): Promise<void> {
    if (deviceIds.length === 0) return;
    const again = await this.serial(() => this.deliverNow(projectId, deviceIds, o.retarget ?? "lower"));
    if (again.length === 0) return;
    for (const id of again) {
      await this.d
        .model()
        .retarget(projectId, id, actor, "labels changed which layers apply")
        .catch((err) => this.d.log.error({ err, deviceId: id }, "config: retarget failed"));
    }
    await this.serial(() => this.deliverNow(projectId, again, "never"));
  }

  /** Answers the devices that need a retarget revision first. */
  private async deliverNow(
    projectId: number,
    deviceIds: readonly string[],
    retarget: "lower" | "changed" | "never",
  ): Promise<string[]> {
    const db = this.db;
    const rows: DeviceRow[] = [];
    for (const part of chunks([...new Set(deviceIds)])) {
      rows.push(
        ...(await this.d.db
          .selectFrom("devices")
          .selectAll()
          .where("project_id", "=", projectId)
          .where("state", "=", "accepted")
          .where("id", "in", part)
          .execute()),
      );
    }
    if (rows.length === 0) return [];
    const model = this.d.model();
    let held = await this.rollouts.heldFor(projectId);
    const effs = await model.effectiveMany(projectId, rows, held);
    // Devices that newly match a layer under a rollout join its rest (held back).
    const adopted = await this.rollouts.adopt(projectId, rows, effs);
    if (adopted.length) {
      held = await this.rollouts.heldFor(projectId);
      const again = await model.effectiveMany(
        projectId,
        rows.filter((r) => adopted.includes(r.id)),
        held,
      );
      for (const [k, v] of again) effs.set(k, v);
    }
    const states = new Map<string, ConfigDeviceStateTable>();
    for (const part of chunks(rows.map((r) => r.id))) {
      for (const s of await db
        .selectFrom("config_device_state")
        .selectAll()
        .where("device_id", "in", part)
        .execute())
        states.set(s.device_id, s);
    }
    const send: { row: DeviceRow; eff: Effective & { revision: number }; st?: ConfigDeviceStateTable }[] = [];
    const needRetarget: string[] = [];
    for (const row of rows) {
      const eff = effs.get(row.id);
      if (!eff) continue;
      const st = states.get(row.id);
      const desired = st?.desired_rev ?? null;
      if (eff.revision === null) {
        // No layer applies any more: only a retarget revision can tell the device.
        if (desired !== null && eff.hash !== st?.desired_hash && retarget !== "never")
          needRetarget.push(row.id);
        continue;
      }
      if (desired === eff.revision && st?.desired_hash === eff.hash) continue;
      const hashChanged = eff.hash !== st?.desired_hash;
      if (
        desired !== null &&
        hashChanged &&
        retarget !== "never" &&
        (eff.revision <= desired || retarget === "changed")
      ) {
        needRetarget.push(row.id);
        continue;
      }
      if (desired !== null && eff.revision <= desired) {
        // Never send a revision lower than (or equal to, with other content) what was sent.
        if (hashChanged)
          this.d.log.warn(
            { deviceId: row.id, revision: eff.revision, desired },
            "config: a device's configuration changed without a newer revision; not sent",
          );
        continue;
      }
      send.push({ row, eff: eff as Effective & { revision: number }, st });
    }
    if (send.length) await this.send(projectId, send);
    return needRetarget;
  }

  private async send(
    projectId: number,
    send: { row: DeviceRow; eff: Effective & { revision: number }; st?: ConfigDeviceStateTable }[],
  ): Promise<void> {
    const model = this.d.model();
    const blobs = new Map<string, Buffer | null>();
    const bodies: ApplyBody[] = [];
    for (const { eff } of send) {
      let inline = 0;
      const files: ApplyBody["files"] = [];
      for (const f of [...eff.files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))) {
        const e: ApplyBody["files"][number] = { path: f.path, hash: f.hash, size: f.size, secret: f.secret };
        if (
          !f.secret &&
          f.size <= CONFIG_LIMITS.inlineFileBytes &&
          inline + f.size <= CONFIG_LIMITS.inlineTotalBytes
        ) {
          if (!blobs.has(f.hash)) blobs.set(f.hash, await model.blob(f.hash));
          const b = blobs.get(f.hash);
          if (b && b.length === f.size) {
            e.d = b.toString("base64");
            inline += f.size;
          }
        }
        files.push(e);
      }
      bodies.push({ rev: eff.revision, hash: eff.hash, values: eff.values, files });
    }
    const at = nowIso();
    const stored = await this.d.db.transaction().execute(async (trx) => {
      for (const { row, st } of send) {
        if (st?.mid != null) await this.d.link.cancel(row.id, st.mid, trx);
      }
      const msgs = await this.d.link.enqueueIn(
        trx,
        send.map((s, i) => ({ deviceId: s.row.id, type: "config.apply" as const, body: bodies[i] })),
      );
      const values = send.map(({ row, eff, st }, i) => {
        const sent: SentEntry[] = [
          ...parseSent(st?.sent),
          [
            eff.revision,
            eff.hash,
            eff.files.map((f) => f.hash),
            eff.files.filter((f) => f.secret).map((f) => f.hash),
          ] as SentEntry,
        ].slice(-SENT_KEEP);
        return {
          device_id: row.id,
          project_id: projectId,
          desired_rev: eff.revision,
          desired_hash: eff.hash,
          mid: msgs[i]?.mid ?? null,
          delivered: 0,
          sent: JSON.stringify(sent),
          reported_rev: st?.reported_rev ?? null,
          reported_hash: st?.reported_hash ?? null,
          reported_at: st?.reported_at ?? null,
          status: "pending",
          error: null,
          hook_output: null,
          drift: st?.drift ?? "[]",
          updated_at: at,
        };
      });
      const t = deliveryDb(trx);
      for (const part of chunks(values, 200)) {
        await t
          .insertInto("config_device_state")
          .values(part)
          .onConflict((oc) =>
            oc.column("device_id").doUpdateSet((eb) => ({
              project_id: eb.ref("excluded.project_id"),
              desired_rev: eb.ref("excluded.desired_rev"),
              desired_hash: eb.ref("excluded.desired_hash"),
              mid: eb.ref("excluded.mid"),
              delivered: eb.ref("excluded.delivered"),
              sent: eb.ref("excluded.sent"),
              status: eb.ref("excluded.status"),
              error: eb.ref("excluded.error"),
              hook_output: eb.ref("excluded.hook_output"),
              updated_at: eb.ref("excluded.updated_at"),
            })),
          )
          .execute();
      }
      return msgs;
    });
    await flushAll(
      this.d.link,
      send.map((s, i) => [s.row, stored[i] as StoredMessage]),
    );
  }

  /**
   * At start: catch up with changes committed before a crash could deliver them. Devices whose
   * desired configuration is already current (in the outbox or applied) get nothing new.
   */
  async reconcile(): Promise<void> {
    const projects = (
      await sql<{ id: number }>`select project_id as id from config_projects where revision > 0`.execute(
        this.d.db,
      )
    ).rows;
    for (const p of projects) {
      const ids = await this.d.db
        .selectFrom("devices")
        .select("id")
        .where("project_id", "=", p.id)
        .where("state", "=", "accepted")
        .execute();
      await this.recompute(
        p.id,
        ids.map((x) => x.id),
        "system",
      );
    }
  }

  /** The agent acknowledged a `config.apply`: applying (unless it already reported). */
  async delivered(device: DeviceRow, mid: number): Promise<void> {
    await this.db
      .updateTable("config_device_state")
      .set({
        delivered: 1,
        mid: null,
        status: sql<string>`case when status = 'pending' then 'applying' else status end`,
        updated_at: nowIso(),
      })
      .where("device_id", "=", device.id)
      .where("mid", "=", mid)
      .execute();
  }

  /**
   * `config.report`, inside the transport's transaction (ctx.trx only: on SQLite another
   * connection would wait for this one). Answers whether a rollout may need to re-evaluate.
   */
  async report(ctx: DurableContext, b: ReportBody): Promise<void> {
    const t = deliveryDb(ctx.trx);
    const dev = ctx.device;
    const st = await t
      .selectFrom("config_device_state")
      .selectAll()
      .where("device_id", "=", dev.id)
      .executeTakeFirst();
    const wasSent = parseSent(st?.sent).some(([rev, hash]) => rev === b.rev && hash === b.hash);
    if (!st || !wasSent) {
      this.refusedReports++;
      this.d.log.warn(
        { deviceId: dev.id, rev: b.rev, hash: b.hash, status: b.status },
        "config: report refused: the server never sent this revision to the device",
      );
      ctx.after(() => {
        void this.d.audit
          .write({
            actor: `device:${dev.name}`,
            action: "config.report-refused",
            projectId: dev.project_id,
            deviceId: dev.id,
            detail: { name: dev.name, rev: b.rev, hash: b.hash, status: b.status },
          })
          .catch((err) => this.d.log.error({ err }, "config: audit write failed"));
      });
      return;
    }
    const at = nowIso();
    const current = st.desired_rev === b.rev && st.desired_hash === b.hash;
    switch (b.status) {
      case "ignored":
        this.d.log.info(
          { deviceId: dev.id, rev: b.rev, desired: st.desired_rev },
          "config: the device ignored an older revision than the one it has applied",
        );
        return;
      case "drift":
        await t
          .updateTable("config_device_state")
          .set({ drift: JSON.stringify(b.drift.slice(0, CONFIG_LIMITS.driftPaths)), updated_at: at })
          .where("device_id", "=", dev.id)
          .execute();
        return;
      case "applied":
      case "failed": {
        const failed = b.status === "failed";
        const hookOut = b.hook ? b.hook.output.slice(-CONFIG_LIMITS.hookOutputBytes * 2) : null;
        const error = failed
          ? (b.error ??
            (b.hook
              ? b.hook.timedOut
                ? "the apply hook timed out"
                : `the apply hook exited with ${b.hook.code ?? b.hook.signal}`
              : "failed"))
          : null;
        await t
          .updateTable("config_device_state")
          .set({
            // What the device runs: never moved back by a late report of an older revision.
            ...(b.rev >= (st.reported_rev ?? 0)
              ? { reported_rev: b.rev, reported_hash: b.hash, reported_at: at }
              : {}),
            updated_at: at,
            ...(failed ? {} : { drift: "[]" }),
            ...(current
              ? {
                  status: failed ? "failed" : "in-sync",
                  error,
                  hook_output: failed ? hookOut : null,
                  delivered: 1,
                  mid: null,
                }
              : {}),
          })
          .where("device_id", "=", dev.id)
          .execute();
        if (current) ctx.after(() => this.rollouts.reported(dev.id));
        return;
      }
    }
  }

  async statusOf(deviceIds: readonly string[]): Promise<Map<string, DeviceConfigState>> {
    const out = new Map<string, DeviceConfigState>();
    const heldBy = await this.rollouts.heldBy(deviceIds);
    for (const part of chunks([...deviceIds])) {
      const rows = await this.db
        .selectFrom("config_device_state")
        .selectAll()
        .where("device_id", "in", part)
        .execute();
      for (const r of rows) {
        const h = heldBy.get(r.device_id) ?? null;
        let drift: string[] = [];
        try {
          drift = JSON.parse(r.drift);
        } catch {}
        out.set(r.device_id, {
          status: (h && r.status === "in-sync" ? "pending" : r.status) as DeviceConfigState["status"],
          desired: r.desired_rev,
          reported: r.reported_rev,
          reportedAt: r.reported_at,
          error: r.error,
          hookOutput: r.hook_output,
          drift,
          heldBy: h,
        });
      }
    }
    // Held devices never configured before are pending too.
    for (const [id, h] of heldBy) {
      if (!out.has(id))
        out.set(id, {
          status: "pending",
          desired: null,
          reported: null,
          reportedAt: null,
          error: null,
          hookOutput: null,
          drift: [],
          heldBy: h,
        });
    }
    return out;
  }

  /** Whether a file hash is in the device's last 8 sent configurations, and whether it is secret there. */
  async sentFile(deviceId: string, hash: string): Promise<{ secret: boolean } | null> {
    const r = await this.db
      .selectFrom("config_device_state")
      .select("sent")
      .where("device_id", "=", deviceId)
      .executeTakeFirst();
    const sent = parseSent(r?.sent);
    if (!sent.some((e) => e[2]?.includes(hash))) return null;
    return { secret: sent.some((e) => e[3]?.includes(hash)) };
  }

  async forget(deviceId: string): Promise<void> {
    await this.db.deleteFrom("config_device_state").where("device_id", "=", deviceId).execute();
  }

  idle(): Promise<void> {
    return this.serial(async () => {});
  }
}

/** Send stored messages now to connected devices (a few at a time). */
async function flushAll(link: ControlLink, items: [DeviceRow, StoredMessage][]): Promise<void> {
  for (const part of chunks(items, 64)) {
    await Promise.all(part.map(([row, m]) => link.flush(row, m).catch(() => {})));
  }
}
