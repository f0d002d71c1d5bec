/**
 * The evaluator (docs/protocol.md §16). Nothing here scans raw data on a tick: state is kept
 * per rule and device, updated on ingest —
 * - metric rules: the latest value of each matching series of each device (stamped with the
 *   server's receive time), and whether the condition holds and since when;
 * - log rules: per device, matches counted in buckets (withinMs / 60, at least 1 s) over the
 *   window; memory only for devices that matched;
 * - offline rules: the set of offline devices, from presence events, reconciled with one
 *   query of the offline devices of projects that have offline rules every refreshMs.
 * A tick (every evalMs) visits only the devices whose condition holds or that have a state,
 * moves states (pending → firing → resolved), stores the changes and the history, and queues
 * the notifications. Device labels (selector membership) are cached and reloaded every
 * refreshMs. States are stored, so a restart neither forgets nor re-notifies an alert.
 */
import { createHash } from "node:crypto";
import type { AlertState } from "@tether/protocol";
import type { Kysely } from "kysely";
import type { Logger } from "pino";
import { matches } from "../../selector.js";
import type { DB } from "../../store/schema.js";
import type { MetricFeed, StoredSamples } from "../../query/metric-feed.js";
import {
  type CompiledRule,
  compare,
  compileRule,
  conditionText,
  labelsInclude,
  type RuleSpec,
  resolvedText,
  summaryText,
} from "./rules.js";
import { type AlertsDB, alertsDb } from "./schema.js";
import type { Deliveries, HookRef } from "./webhooks.js";

export interface AlertsOptions {
  evalMs: number;
  staleMs: number;
  resolvedKeepMs: number;
  refreshMs: number;
  historyPerProject: number;
  deliveriesPerWebhook: number;
}

/** A stored log line as the logs capability hands it to listeners (only what alerts read). */
export interface LogLineIn {
  deviceId: string;
  message: string;
  kind: "line" | "gap";
}

/** What alerts listen to; attached by the server after every capability exists. */
export interface AlertSources {
  metrics?: MetricFeed;
  logs?: { onStored(listener: (deviceId: string, lines: LogLineIn[]) => void): () => void };
  presence?: {
    on(event: "change", l: (e: { deviceId: string; online: boolean }) => void): unknown;
    off(event: "change", l: (e: { deviceId: string; online: boolean }) => void): unknown;
  };
}

export interface DeviceInfo {
  id: string;
  projectId: number;
  name: string;
  labels: Record<string, string>;
  facts: Record<string, unknown> | null;
  accepted: boolean;
}

export interface AlertSt {
  state: AlertState;
  since: number;
  firedAt: number | null;
  resolvedAt: number | null;
  value: number | null;
  notified: boolean;
}

interface SeriesIn {
  value: number;
  /** Receive time (the server's clock). */
  at: number;
  /** The point's own (server-corrected) time: an older point does not replace a newer one. */
  pointAt: number;
  ok: boolean;
}
interface MetricIn {
  series: Map<string, SeriesIn>;
  since: number | null;
  value: number | null;
  /** Restored from a stored state at start; replaced by the first real sample. */
  restored: boolean;
}
interface LogIn {
  buckets: [number, number][];
  since: number | null;
  count: number;
}

export class RuleRt {
  readonly states = new Map<string, AlertSt>();
  readonly member = new Map<string, boolean>();
  readonly metricIn = new Map<string, MetricIn>();
  readonly holding = new Set<string>();
  readonly logIn = new Map<string, LogIn>();
  silencedUntil: number | null = null;
  readonly c: CompiledRule;
  constructor(
    readonly id: number,
    readonly projectId: number,
    readonly name: string,
    readonly spec: RuleSpec,
    public webhooks: string[],
    readonly createdAt: string,
    readonly createdBy: string,
  ) {
    this.c = compileRule(spec);
  }
  /** How long the condition must hold before the alert fires. */
  get need(): number {
    return this.spec.kind === "offline" ? this.spec.offlineMs! : this.spec.forMs;
  }
  get bucketMs(): number {
    return Math.max(1000, Math.ceil((this.spec.withinMs ?? 60_000) / 60 / 1000) * 1000);
  }
  silenced(now: number): boolean {
    return this.silencedUntil !== null && this.silencedUntil > now;
  }
}

interface Transition {
  rule: RuleRt;
  deviceId: string;
  st: AlertSt;
  /** The state row: written, or deleted. */
  write: "upsert" | "delete";
  /** A history entry (firing, resolved). */
  event: boolean;
  notify: boolean;
}

const ISO = (ms: number) => new Date(ms).toISOString();
const RESTORED = "\u0000restored";
const NO_END = "0001-01-01T00:00:00Z";
/** Alerts in one webhook request (more make more requests). */
const ALERTS_PER_REQUEST = 1000;

export function fingerprint(projectId: number, rule: string, deviceId: string): string {
  return createHash("sha256").update(`${projectId}/${rule}/${deviceId}`).digest("hex").slice(0, 16);
}

export class AlertEngine {
  readonly db: Kysely<AlertsDB>;
  readonly rules = new Map<number, RuleRt>();
  readonly devices = new Map<string, DeviceInfo>();
  /** Offline devices (accepted, seen once) of projects with offline rules: id → offline since. */
  readonly offline = new Map<string, number>();
  private readonly projectNames = new Map<number, string>();
  private metricIndex: Map<number, Map<string, RuleRt[]>> | null = null;
  private logIndex: Map<number, RuleRt[]> | null = null;
  private lastRefresh = Number.NEGATIVE_INFINITY;
  private startedAt = 0;
  private running: Promise<void> = Promise.resolve();
  private fetching = new Map<string, Promise<DeviceInfo | undefined>>();
  private unsub: (() => void)[] = [];
  sources: AlertSources = {};
  ticks = 0;

  constructor(
    db: Kysely<DB>,
    private readonly log: Logger,
    readonly o: AlertsOptions,
    readonly deliveries: Deliveries,
    readonly clock: () => number,
    private readonly publicUrl: string | undefined,
  ) {
    this.db = alertsDb(db);
  }

  // ---- loading ----

  async load(): Promise<void> {
    this.startedAt = this.clock();
    const now = this.startedAt;
    for (const h of await this.db.selectFrom("webhooks").selectAll().execute())
      this.deliveries.hooks.set(h.id, {
        id: h.id,
        projectId: h.project_id,
        name: h.name,
        url: h.url,
        secret: h.secret,
      });
    for (const r of await this.db.selectFrom("alert_rules").selectAll().orderBy("id").execute()) {
      try {
        this.addRule(
          new RuleRt(
            r.id,
            r.project_id,
            r.name,
            JSON.parse(r.spec),
            JSON.parse(r.webhooks),
            r.created_at,
            r.created_by,
          ),
        );
      } catch (err) {
        this.log.error({ err, rule: r.name }, "alert rule could not be loaded; it is not evaluated");
      }
    }
    const silences = await this.db
      .selectFrom("alert_silences")
      .select(["rule_id", "until"])
      .where("ended_at", "is", null)
      .where("until", ">", ISO(now))
      .execute();
    for (const s of silences) {
      const r = this.rules.get(s.rule_id);
      if (r) r.silencedUntil = Math.max(r.silencedUntil ?? 0, Date.parse(s.until));
    }
    for (const s of await this.db.selectFrom("alert_states").selectAll().execute()) {
      const r = this.rules.get(s.rule_id);
      if (!r) continue;
      const st: AlertSt = {
        state: s.state as AlertState,
        since: Date.parse(s.since),
        firedAt: s.fired_at ? Date.parse(s.fired_at) : null,
        resolvedAt: s.resolved_at ? Date.parse(s.resolved_at) : null,
        value: s.value,
        notified: s.notified === 1,
      };
      r.states.set(s.device_id, st);
      if (st.state === "resolved") continue;
      // The inputs are memory: a held condition is assumed to hold until fresh data says otherwise.
      if (r.spec.kind === "metric") {
        r.metricIn.set(s.device_id, {
          series: new Map([[RESTORED, { value: st.value ?? Number.NaN, at: now, pointAt: 0, ok: true }]]),
          since: st.since,
          value: st.value,
          restored: true,
        });
        r.holding.add(s.device_id);
      } else if (r.spec.kind === "log") {
        const n = Math.max(st.value ?? 0, r.spec.count ?? 1);
        r.logIn.set(s.device_id, { buckets: [[this.bucket(r, now), n]], since: st.since, count: n });
      }
    }
    await this.refresh(now);
  }

  addRule(r: RuleRt): void {
    this.rules.set(r.id, r);
    this.metricIndex = null;
    this.logIndex = null;
  }

  removeRule(r: RuleRt): void {
    this.rules.delete(r.id);
    this.metricIndex = null;
    this.logIndex = null;
  }

  projectName(id: number): string {
    return this.projectNames.get(id) ?? String(id);
  }

  /** Device labels and names, presence, pruning: every refreshMs (and when a rule is added). */
  async refresh(now = this.clock()): Promise<void> {
    this.lastRefresh = now;
    const rows = await this.db
      .selectFrom("devices")
      .select(["id", "project_id", "name", "labels", "facts", "state"])
      .execute();
    this.devices.clear();
    for (const d of rows) this.devices.set(d.id, this.deviceInfo(d));
    for (const p of await this.db.selectFrom("projects").select(["id", "name"]).execute())
      this.projectNames.set(p.id, p.name);
    for (const r of this.rules.values()) r.member.clear();
    await this.refreshPresence();
    // Series not heard from for staleMs are forgotten (holding ones are checked every tick).
    for (const r of this.rules.values()) {
      if (r.spec.kind !== "metric") continue;
      for (const [d, m] of r.metricIn) {
        for (const [k, s] of m.series) if (s.at < now - this.o.staleMs) m.series.delete(k);
        if (m.series.size === 0 && !r.holding.has(d)) r.metricIn.delete(d);
      }
    }
    await this.prune();
  }

  private deviceInfo(d: {
    id: string;
    project_id: number;
    name: string;
    labels: string;
    facts: string | null;
    state: string;
  }): DeviceInfo {
    return {
      id: d.id,
      projectId: d.project_id,
      name: d.name,
      labels: JSON.parse(d.labels),
      facts: d.facts ? JSON.parse(d.facts) : null,
      accepted: d.state === "accepted",
    };
  }

  /** One query: the offline devices of projects with offline rules (accepted, seen at least once). */
  async refreshPresence(): Promise<void> {
    const projects = [
      ...new Set([...this.rules.values()].filter((r) => r.spec.kind === "offline").map((r) => r.projectId)),
    ];
    if (projects.length === 0) {
      this.offline.clear();
      return;
    }
    const rows = await this.db
      .selectFrom("devices")
      .select(["id", "last_seen_at"])
      .where("project_id", "in", projects)
      .where("online", "=", 0)
      .where("state", "=", "accepted")
      .where("last_seen_at", "is not", null)
      .execute();
    const seen = new Set<string>();
    for (const d of rows) {
      seen.add(d.id);
      // While the server was down nobody could connect: offline time counts from its start.
      if (!this.offline.has(d.id))
        this.offline.set(d.id, Math.max(Date.parse(d.last_seen_at!), this.startedAt));
    }
    for (const id of this.offline.keys()) if (!seen.has(id)) this.offline.delete(id);
  }

  /** A device not in the cache (enrolled since the last refresh). */
  private fetchDevice(id: string): Promise<DeviceInfo | undefined> {
    let p = this.fetching.get(id);
    if (!p) {
      p = this.db
        .selectFrom("devices")
        .select(["id", "project_id", "name", "labels", "facts", "state"])
        .where("id", "=", id)
        .executeTakeFirst()
        .then((d) => {
          if (!d) return undefined;
          const info = this.deviceInfo(d);
          this.devices.set(id, info);
          return info;
        })
        .finally(() => this.fetching.delete(id));
      this.fetching.set(id, p);
    }
    return p;
  }

  member(r: RuleRt, deviceId: string): boolean {
    let m = r.member.get(deviceId);
    if (m === undefined) {
      const d = this.devices.get(deviceId);
      m = !!d && d.accepted && d.projectId === r.projectId && matches(r.c.terms, d.labels, d.facts);
      r.member.set(deviceId, m);
    }
    return m;
  }

  // ---- ingest ----

  attach(s: AlertSources): void {
    this.sources = { ...this.sources, ...s };
    if (s.metrics) this.unsub.push(s.metrics.onStored((x) => this.onMetric(x)));
    if (s.logs) this.unsub.push(s.logs.onStored((d, lines) => this.onLog(d, lines)));
    if (s.presence) {
      const l = (e: { deviceId: string; online: boolean }) => this.onPresence(e);
      s.presence.on("change", l);
      this.unsub.push(() => void s.presence!.off("change", l));
    }
  }

  private metricRules(projectId: number): Map<string, RuleRt[]> | undefined {
    if (!this.metricIndex) {
      this.metricIndex = new Map();
      for (const r of this.rules.values()) {
        if (r.spec.kind !== "metric") continue;
        let byName = this.metricIndex.get(r.projectId);
        if (!byName) {
          byName = new Map();
          this.metricIndex.set(r.projectId, byName);
        }
        const list = byName.get(r.spec.metric!) ?? [];
        list.push(r);
        byName.set(r.spec.metric!, list);
      }
    }
    return this.metricIndex.get(projectId);
  }

  private logRules(projectId: number): RuleRt[] | undefined {
    if (!this.logIndex) {
      this.logIndex = new Map();
      for (const r of this.rules.values()) {
        if (r.spec.kind !== "log") continue;
        const list = this.logIndex.get(r.projectId) ?? [];
        list.push(r);
        this.logIndex.set(r.projectId, list);
      }
    }
    return this.logIndex.get(projectId);
  }

  onMetric(s: StoredSamples, retried = false): void {
    const dev = this.devices.get(s.deviceId);
    if (!dev) {
      if (!retried)
        void this.fetchDevice(s.deviceId).then(
          (d) => d && this.onMetric(s, true),
          (err) => this.log.warn({ err }, "alerts: device lookup failed"),
        );
      return;
    }
    const rules = this.metricRules(dev.projectId);
    if (!rules) return;
    const t = this.clock();
    for (const series of s.series) {
      const rs = rules.get(series.name);
      if (!rs || series.points.length === 0) continue;
      let newest = series.points[0]!;
      for (const p of series.points) if (p[0] >= newest[0]) newest = p;
      const key = JSON.stringify(
        Object.entries(series.labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
      );
      for (const r of rs) {
        if (!this.member(r, dev.id) || !labelsInclude(series.labels, r.c.labels)) continue;
        let m = r.metricIn.get(dev.id);
        if (!m) {
          m = { series: new Map(), since: null, value: null, restored: false };
          r.metricIn.set(dev.id, m);
        }
        if (m.restored) {
          m.series.delete(RESTORED);
          m.restored = false;
        }
        const prev = m.series.get(key);
        if (prev && newest[0] < prev.pointAt) continue;
        m.series.set(key, {
          value: newest[1],
          at: t,
          pointAt: newest[0],
          ok: compare(r.spec.op!, newest[1], r.spec.value!),
        });
        this.judgeMetric(r, dev.id, m, t);
      }
    }
  }

  /** Whether a device's condition holds on its fresh series; when it started holding. */
  private judgeMetric(r: RuleRt, deviceId: string, m: MetricIn, now: number): void {
    let hold: SeriesIn | undefined;
    let latest: SeriesIn | undefined;
    for (const [k, s] of m.series) {
      if (s.at < now - this.o.staleMs) {
        m.series.delete(k);
        continue;
      }
      if (!latest || s.at >= latest.at) latest = s;
      if (s.ok && (!hold || s.at >= hold.at)) hold = s;
    }
    if (hold) {
      m.since ??= hold.at;
      m.value = Number.isNaN(hold.value) ? null : hold.value;
      r.holding.add(deviceId);
    } else {
      m.since = null;
      m.value = latest ? latest.value : null;
      r.holding.delete(deviceId);
    }
  }

  private bucket(r: RuleRt, t: number): number {
    return Math.floor(t / r.bucketMs) * r.bucketMs;
  }

  onLog(deviceId: string, lines: LogLineIn[], retried = false): void {
    const dev = this.devices.get(deviceId);
    if (!dev) {
      if (!retried)
        void this.fetchDevice(deviceId).then(
          (d) => d && this.onLog(deviceId, lines, true),
          (err) => this.log.warn({ err }, "alerts: device lookup failed"),
        );
      return;
    }
    const rules = this.logRules(dev.projectId);
    if (!rules) return;
    const t = this.clock();
    for (const r of rules) {
      if (!this.member(r, deviceId)) continue;
      let n = 0;
      for (const l of lines) if (l.kind === "line" && r.c.matcher!.test(l.message)) n++;
      if (n === 0) continue;
      let li = r.logIn.get(deviceId);
      if (!li) {
        li = { buckets: [], since: null, count: 0 };
        r.logIn.set(deviceId, li);
      }
      const b = this.bucket(r, t);
      const last = li.buckets[li.buckets.length - 1];
      if (last && last[0] === b) last[1] += n;
      else li.buckets.push([b, n]);
      li.count += n;
      if (li.count >= r.spec.count!) li.since ??= t;
    }
  }

  private judgeLog(r: RuleRt, li: LogIn, now: number): void {
    const from = now - r.spec.withinMs!;
    let drop = 0;
    while (drop < li.buckets.length && li.buckets[drop]![0] + r.bucketMs <= from) drop++;
    if (drop) {
      li.buckets.splice(0, drop);
      li.count = li.buckets.reduce((a, b) => a + b[1], 0);
    }
    if (li.count >= r.spec.count!) li.since ??= now;
    else li.since = null;
  }

  onPresence(e: { deviceId: string; online: boolean }): void {
    if (e.online) this.offline.delete(e.deviceId);
    else {
      const d = this.devices.get(e.deviceId);
      if (d?.accepted && !this.offline.has(e.deviceId)) this.offline.set(e.deviceId, this.clock());
    }
  }

  /** A deleted device: forget it everywhere. */
  async deviceDeleted(id: string): Promise<void> {
    this.devices.delete(id);
    this.offline.delete(id);
    for (const r of this.rules.values()) {
      r.states.delete(id);
      r.member.delete(id);
      r.metricIn.delete(id);
      r.holding.delete(id);
      r.logIn.delete(id);
    }
    await this.db.deleteFrom("alert_states").where("device_id", "=", id).execute();
  }

  // ---- evaluation ----

  /** One evaluation; runs one at a time (a slow one delays the next). */
  evaluate(now?: number): Promise<void> {
    const run = this.running.then(() => this.tick(now ?? this.clock()));
    this.running = run.catch((err) => this.log.error({ err }, "alert evaluation failed"));
    return run;
  }

  private async tick(now: number): Promise<void> {
    this.ticks++;
    if (now - this.lastRefresh >= this.o.refreshMs) await this.refresh(now);
    const out: Transition[] = [];
    for (const r of this.rules.values()) {
      const holds = new Map<string, { since: number; value: number | null }>();
      if (r.spec.kind === "metric") {
        for (const d of [...r.holding]) {
          const m = r.metricIn.get(d);
          if (!m) {
            r.holding.delete(d);
            continue;
          }
          this.judgeMetric(r, d, m, now);
          if (m.since !== null) holds.set(d, { since: m.since, value: m.value });
        }
      } else if (r.spec.kind === "log") {
        for (const [d, li] of r.logIn) {
          this.judgeLog(r, li, now);
          if (li.since !== null) holds.set(d, { since: li.since, value: li.count });
          if (li.buckets.length === 0) r.logIn.delete(d);
        }
      } else {
        for (const [d, since] of this.offline)
          if (this.member(r, d)) holds.set(d, { since, value: Math.floor((now - since) / 1000) });
      }
      const seen = new Set<string>();
      for (const [d, c] of holds) {
        seen.add(d);
        if (!this.member(r, d)) continue;
        this.step(r, d, c, now, out);
      }
      for (const d of r.states.keys())
        if (!seen.has(d) || !this.member(r, d)) this.step(r, d, undefined, now, out);
    }
    if (out.length) await this.commit(out, now);
  }

  private step(
    r: RuleRt,
    d: string,
    c: { since: number; value: number | null } | undefined,
    now: number,
    out: Transition[],
  ): void {
    const st = r.states.get(d);
    if (c) {
      if (!st || st.state === "resolved") {
        const fire = now - c.since >= r.need;
        const n: AlertSt = {
          state: fire ? "firing" : "pending",
          since: c.since,
          firedAt: fire ? now : null,
          resolvedAt: null,
          value: c.value,
          notified: fire && !r.silenced(now) && r.webhooks.length > 0,
        };
        r.states.set(d, n);
        out.push({ rule: r, deviceId: d, st: n, write: "upsert", event: fire, notify: n.notified });
      } else {
        st.value = c.value;
        if (st.state === "pending" && now - st.since >= r.need) {
          st.state = "firing";
          st.firedAt = now;
          st.notified = !r.silenced(now) && r.webhooks.length > 0;
          out.push({ rule: r, deviceId: d, st, write: "upsert", event: true, notify: st.notified });
        }
      }
      return;
    }
    if (!st) return;
    if (st.state === "pending") {
      r.states.delete(d);
      out.push({ rule: r, deviceId: d, st, write: "delete", event: false, notify: false });
    } else if (st.state === "firing") {
      st.state = "resolved";
      st.resolvedAt = now;
      if (r.spec.kind === "metric") st.value = r.metricIn.get(d)?.value ?? null;
      else if (r.spec.kind === "log") st.value = r.logIn.get(d)?.count ?? 0;
      // A receiver that was told of the firing hears of its end, silence or not.
      out.push({ rule: r, deviceId: d, st, write: "upsert", event: true, notify: st.notified });
    } else if (now - (st.resolvedAt ?? now) >= this.o.resolvedKeepMs) {
      r.states.delete(d);
      out.push({ rule: r, deviceId: d, st, write: "delete", event: false, notify: false });
    }
  }

  summary(r: RuleRt, st: AlertSt, now: number): string {
    if (st.state === "resolved") return resolvedText(r.spec, st.value, (st.resolvedAt ?? now) - st.since);
    return summaryText(r.spec, st.value, now - st.since);
  }

  deviceName(id: string): string {
    return this.devices.get(id)?.name ?? id;
  }

  private async commit(out: Transition[], now: number): Promise<void> {
    const at = ISO(now);
    await this.db.transaction().execute(async (trx) => {
      for (const t of out) {
        if (t.write === "delete") {
          await trx
            .deleteFrom("alert_states")
            .where("rule_id", "=", t.rule.id)
            .where("device_id", "=", t.deviceId)
            .execute();
          continue;
        }
        const row = {
          state: t.st.state,
          since: ISO(t.st.since),
          fired_at: t.st.firedAt === null ? null : ISO(t.st.firedAt),
          resolved_at: t.st.resolvedAt === null ? null : ISO(t.st.resolvedAt),
          value: t.st.value !== null && Number.isFinite(t.st.value) ? t.st.value : null,
          summary: this.summary(t.rule, t.st, now),
          notified: t.st.notified ? 1 : 0,
        };
        await trx
          .insertInto("alert_states")
          .values({ rule_id: t.rule.id, device_id: t.deviceId, ...row })
          .onConflict((oc) => oc.columns(["rule_id", "device_id"]).doUpdateSet(row))
          .execute();
        if (t.event)
          await trx
            .insertInto("alert_history")
            .values({
              project_id: t.rule.projectId,
              rule_id: t.rule.id,
              rule_name: t.rule.name,
              device_id: t.deviceId,
              device_name: this.deviceName(t.deviceId),
              state: t.st.state,
              value: row.value,
              summary: row.summary,
              at,
            })
            .execute();
      }
    });
    const fired = out.filter((t) => t.event && t.st.state === "firing");
    const resolved = out.filter((t) => t.event && t.st.state === "resolved");
    if (fired.length) this.log.info({ alerts: fired.length }, "alerts firing");
    // Notifications, one request per rule, event and webhook (1,000 alerts at most per request).
    const groups = new Map<string, Transition[]>();
    for (const t of [...fired, ...resolved]) {
      if (!t.notify) continue;
      const k = `${t.rule.id}/${t.st.state}`;
      const g = groups.get(k) ?? [];
      g.push(t);
      groups.set(k, g);
    }
    for (const g of groups.values()) {
      const r = g[0]!.rule;
      for (let i = 0; i < g.length; i += ALERTS_PER_REQUEST) {
        const part = g.slice(i, i + ALERTS_PER_REQUEST);
        for (const name of r.webhooks) {
          const hook = this.hookByName(r.projectId, name);
          if (!hook) {
            this.log.warn(
              { rule: r.name, webhook: name },
              "alert rule names a webhook that no longer exists",
            );
            continue;
          }
          const body = this.payload(hook, r, part, now);
          await this.deliveries.enqueue(hook, {
            event: part[0]!.st.state,
            rule: r.name,
            device: part.length === 1 ? this.deviceName(part[0]!.deviceId) : null,
            body,
          });
        }
      }
    }
  }

  hookByName(projectId: number, name: string): HookRef | undefined {
    for (const h of this.deliveries.hooks.values())
      if (h.projectId === projectId && h.name === name) return h;
    return undefined;
  }

  /** The Alertmanager webhook (version 4) body for some of one rule's alerts. */
  payload(hook: HookRef, r: RuleRt, ts: Transition[], now: number): string {
    const project = this.projectName(r.projectId);
    const alerts = ts.map((t) => {
      const dev = this.devices.get(t.deviceId);
      const labels: Record<string, string> = {};
      for (const [k, v] of Object.entries(dev?.labels ?? {})) labels[k] = v;
      Object.assign(labels, {
        alertname: r.name,
        device: this.deviceName(t.deviceId),
        device_id: t.deviceId,
        project,
        severity: r.spec.severity,
        kind: r.spec.kind,
        ...(r.spec.metric ? { metric: r.spec.metric } : {}),
      });
      const annotations: Record<string, string> = {
        summary: this.summary(r, t.st, now),
        condition: conditionText(r.spec),
      };
      if (r.spec.description) annotations.description = r.spec.description;
      return {
        status: t.st.state === "resolved" ? "resolved" : "firing",
        labels,
        annotations,
        startsAt: ISO(t.st.firedAt ?? t.st.since),
        endsAt: t.st.resolvedAt === null ? NO_END : ISO(t.st.resolvedAt),
        generatorURL: this.publicUrl
          ? `${this.publicUrl.replace(/\/$/, "")}/alerts?rule=${encodeURIComponent(r.name)}`
          : "",
        fingerprint: fingerprint(r.projectId, r.name, t.deviceId),
        ...(t.st.value !== null && Number.isFinite(t.st.value) ? { value: t.st.value } : {}),
      };
    });
    return JSON.stringify(
      envelope(hook.name, alerts, this.publicUrl, `{}:{alertname=${JSON.stringify(r.name)}}`, r.name),
    );
  }

  /** Keep the newest historyPerProject events per project and deliveriesPerWebhook per webhook. */
  async prune(): Promise<void> {
    const projects = new Set([...this.rules.values()].map((r) => r.projectId));
    for (const p of projects) {
      const edge = await this.db
        .selectFrom("alert_history")
        .select("id")
        .where("project_id", "=", p)
        .orderBy("id", "desc")
        .offset(this.o.historyPerProject)
        .limit(1)
        .executeTakeFirst();
      if (edge) {
        const r = await this.db
          .deleteFrom("alert_history")
          .where("project_id", "=", p)
          .where("id", "<=", edge.id)
          .executeTakeFirst();
        this.log.info(
          { projectId: p, deleted: Number(r.numDeletedRows), keep: this.o.historyPerProject },
          "alert history trimmed to its bound; the oldest events were dropped",
        );
      }
    }
    await this.deliveries.prune(this.o.deliveriesPerWebhook);
  }

  close(): void {
    for (const u of this.unsub) u();
    this.unsub = [];
  }

  /** Resolves when the evaluation running now (if any) is over. */
  settled(): Promise<void> {
    return this.running;
  }
}

type PayloadAlert = {
  status: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  generatorURL: string;
  fingerprint: string;
};

function common(maps: Record<string, string>[]): Record<string, string> {
  const [first, ...rest] = maps;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(first ?? {})) if (rest.every((m) => m[k] === v)) out[k] = v;
  return out;
}

/** The Alertmanager webhook (version 4) envelope. */
export function envelope(
  receiver: string,
  alerts: PayloadAlert[],
  publicUrl: string | undefined,
  groupKey: string,
  alertname: string,
) {
  return {
    version: "4",
    groupKey,
    truncatedAlerts: 0,
    status: alerts.some((a) => a.status === "firing") ? "firing" : "resolved",
    receiver,
    groupLabels: { alertname },
    commonLabels: common(alerts.map((a) => a.labels)),
    commonAnnotations: common(alerts.map((a) => a.annotations)),
    externalURL: publicUrl ?? "",
    alerts,
  };
}
