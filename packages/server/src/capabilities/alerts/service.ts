/**
 * What the REST routes do (docs/protocol.md §16): rules, silences, alerts and history,
 * webhooks and their deliveries. Always inside the caller's project; every change audited.
 */
import { randomBytes } from "node:crypto";
import {
  ALERT_LIMITS,
  type Alert,
  type AlertEvent,
  type AlertRule,
  type AlertRuleCreate,
  type AlertSilence,
  TetherError,
  type Webhook,
  type WebhookCreate,
  type WebhookDelivery,
} from "@tether/protocol";
import type { Principal } from "../../accounts.js";
import type { Audit } from "../../audit.js";
import type { Devices } from "../../devices.js";
import { type AlertEngine, envelope, RuleRt } from "./engine.js";
import { conditionText, normalizeRule, parseRuleLabels } from "./rules.js";
import { toDelivery } from "./webhooks.js";

const ISO = (ms: number) => new Date(ms).toISOString();
const ORDER = { firing: 0, pending: 1, resolved: 2 } as const;
const SEVERITY = { critical: 0, warning: 1, info: 2 } as const;

export const DEFAULT_ALERTS_LIMIT = 1000;
export const MAX_ALERTS_LIMIT = 10_000;

/** A webhook URL for those who may not see it whole (it may hold a token): scheme and host. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname !== "/" || u.search ? "/…" : "/"}`;
  } catch {
    return "…";
  }
}

export class AlertsService {
  constructor(
    private readonly e: AlertEngine,
    private readonly audit: Audit,
    private readonly devices: Devices,
  ) {}

  private get db() {
    return this.e.db;
  }

  private now(): number {
    return this.e.clock();
  }

  private rule(projectId: number, name: string): RuleRt {
    for (const r of this.e.rules.values()) if (r.projectId === projectId && r.name === name) return r;
    throw new TetherError("TETHER_ERR_RULE_NOT_FOUND", `no alert rule ${name} in this project`);
  }

  view(r: RuleRt): AlertRule {
    const now = this.now();
    let firing = 0;
    let pending = 0;
    for (const st of r.states.values()) {
      if (st.state === "firing") firing++;
      else if (st.state === "pending") pending++;
    }
    const s = r.spec;
    return {
      id: r.id,
      name: r.name,
      kind: s.kind,
      metric: s.metric,
      labels: s.labels,
      op: s.op,
      value: s.value,
      forMs: s.forMs,
      offlineMs: s.offlineMs,
      logPattern: s.logPattern,
      count: s.count,
      withinMs: s.withinMs,
      selector: s.selector,
      webhooks: r.webhooks,
      severity: s.severity,
      description: s.description,
      condition: conditionText(s),
      createdAt: r.createdAt,
      createdBy: r.createdBy,
      silencedUntil: r.silenced(now) ? ISO(r.silencedUntil!) : null,
      firing,
      pending,
    };
  }

  listRules(projectId: number): AlertRule[] {
    return [...this.e.rules.values()]
      .filter((r) => r.projectId === projectId)
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
      .map((r) => this.view(r));
  }

  getRule(projectId: number, name: string): AlertRule {
    return this.view(this.rule(projectId, name));
  }

  async createRule(p: Principal, b: AlertRuleCreate): Promise<AlertRule> {
    const spec = normalizeRule(b);
    const mine = [...this.e.rules.values()].filter((r) => r.projectId === p.projectId);
    if (mine.some((r) => r.name === b.name))
      throw new TetherError(
        "TETHER_ERR_RULE_EXISTS",
        `an alert rule named ${b.name} already exists in this project`,
      );
    if (mine.length >= ALERT_LIMITS.rulesPerProject)
      throw new TetherError(
        "TETHER_ERR_ALERT_LIMIT",
        `this project already has ${ALERT_LIMITS.rulesPerProject} alert rules, the most it may have; delete one first`,
      );
    const webhooks = [...new Set(b.webhooks ?? [])];
    for (const w of webhooks)
      if (!this.e.hookByName(p.projectId, w))
        throw new TetherError(
          "TETHER_ERR_RULE_INVALID",
          `no webhook named ${w} in this project (create it first: POST /api/v1/webhooks)`,
        );
    if (spec.kind === "metric") await this.checkMetric(p, spec.metric!, spec.labels);
    const createdAt = new Date().toISOString();
    const row = await this.db
      .insertInto("alert_rules")
      .values({
        project_id: p.projectId,
        name: b.name,
        kind: spec.kind,
        spec: JSON.stringify(spec),
        webhooks: JSON.stringify(webhooks),
        created_at: createdAt,
        created_by: p.username,
      })
      .returning("id")
      .executeTakeFirstOrThrow();
    const r = new RuleRt(row.id, p.projectId, b.name, spec, webhooks, createdAt, p.username);
    this.e.addRule(r);
    if (spec.kind === "offline") await this.e.refreshPresence();
    await this.audit.write({
      actor: p.username,
      action: "alert.rule.create",
      projectId: p.projectId,
      detail: { name: b.name, condition: conditionText(spec), webhooks },
    });
    return this.view(r);
  }

  /** A metric no device of the project ever reported is refused (a typo would never fire). */
  private async checkMetric(p: Principal, metric: string, labels: string | null): Promise<void> {
    const store = this.e.sources.metrics;
    if (!store) return;
    const ids = (await this.devices.list(p.projectId)).map((d) => d.id);
    const any = ids.length ? await store.latest({ deviceIds: ids, metric }) : [];
    if (any.length === 0)
      throw new TetherError(
        "TETHER_ERR_RULE_INVALID",
        `no device of this project has reported the metric ${metric}; check its name (a device's page, or "tether metrics names DEVICE", lists the metrics it reports)`,
      );
    const want = labels ? parseRuleLabels(labels) : undefined;
    if (want && !any.some((s) => Object.entries(want).every(([k, v]) => s.labels[k] === v)))
      throw new TetherError(
        "TETHER_ERR_RULE_INVALID",
        `no series of the metric ${metric} has the labels ${labels}; its series have ${[
          ...new Set(any.map((s) => JSON.stringify(s.labels))),
        ]
          .slice(0, 5)
          .join(", ")}`,
      );
  }

  async deleteRule(p: Principal, name: string): Promise<void> {
    const r = this.rule(p.projectId, name);
    await this.db.deleteFrom("alert_states").where("rule_id", "=", r.id).execute();
    await this.db.deleteFrom("alert_silences").where("rule_id", "=", r.id).execute();
    await this.db.deleteFrom("alert_rules").where("id", "=", r.id).execute();
    this.e.removeRule(r);
    await this.audit.write({
      actor: p.username,
      action: "alert.rule.delete",
      projectId: p.projectId,
      detail: { name, condition: conditionText(r.spec) },
    });
  }

  // ---- silences ----

  async silence(
    p: Principal,
    name: string,
    b: { durationMs: number; comment?: string },
  ): Promise<AlertSilence> {
    const r = this.rule(p.projectId, name);
    const now = this.now();
    const until = now + b.durationMs;
    const createdAt = ISO(now);
    // One active silence per rule: a new one replaces it.
    await this.db
      .updateTable("alert_silences")
      .set({ ended_at: createdAt })
      .where("rule_id", "=", r.id)
      .where("ended_at", "is", null)
      .where("until", ">", createdAt)
      .execute();
    const row = await this.db
      .insertInto("alert_silences")
      .values({
        project_id: p.projectId,
        rule_id: r.id,
        until: ISO(until),
        created_at: createdAt,
        created_by: p.username,
        comment: b.comment ?? null,
        ended_at: null,
      })
      .returning("id")
      .executeTakeFirstOrThrow();
    r.silencedUntil = until;
    await this.audit.write({
      actor: p.username,
      action: "alert.silence.create",
      projectId: p.projectId,
      detail: { rule: name, until: ISO(until), comment: b.comment ?? null },
    });
    return {
      id: row.id,
      rule: name,
      until: ISO(until),
      createdBy: p.username,
      createdAt,
      comment: b.comment ?? null,
    };
  }

  async endSilence(p: Principal, name: string): Promise<void> {
    const r = this.rule(p.projectId, name);
    const now = this.now();
    if (!r.silenced(now))
      throw new TetherError("TETHER_ERR_SILENCE_NOT_FOUND", `the alert rule ${name} is not silenced`);
    await this.db
      .updateTable("alert_silences")
      .set({ ended_at: ISO(now) })
      .where("rule_id", "=", r.id)
      .where("ended_at", "is", null)
      .execute();
    r.silencedUntil = null;
    await this.audit.write({
      actor: p.username,
      action: "alert.silence.end",
      projectId: p.projectId,
      detail: { rule: name },
    });
  }

  /** Active silences of the project. */
  async silences(projectId: number): Promise<AlertSilence[]> {
    const now = ISO(this.now());
    const rows = await this.db
      .selectFrom("alert_silences")
      .innerJoin("alert_rules", "alert_rules.id", "alert_silences.rule_id")
      .select([
        "alert_silences.id",
        "alert_rules.name",
        "alert_silences.until",
        "alert_silences.created_by",
        "alert_silences.created_at",
        "alert_silences.comment",
      ])
      .where("alert_silences.project_id", "=", projectId)
      .where("alert_silences.ended_at", "is", null)
      .where("alert_silences.until", ">", now)
      .orderBy("alert_silences.until")
      .execute();
    return rows.map((s) => ({
      id: s.id,
      rule: s.name,
      until: s.until,
      createdBy: s.created_by,
      createdAt: s.created_at,
      comment: s.comment,
    }));
  }

  // ---- alerts ----

  async alerts(projectId: number, q: { state?: string; device?: string; limit?: number }): Promise<Alert[]> {
    const now = this.now();
    const deviceId = q.device !== undefined ? (await this.devices.find(projectId, q.device)).id : undefined;
    const out: (Alert & { _at: number })[] = [];
    for (const r of this.e.rules.values()) {
      if (r.projectId !== projectId) continue;
      const silenced = r.silenced(now);
      for (const [d, st] of r.states) {
        if (deviceId !== undefined && d !== deviceId) continue;
        if (q.state !== undefined && st.state !== q.state) continue;
        out.push({
          rule: r.name,
          ruleId: r.id,
          device: this.e.deviceName(d),
          deviceId: d,
          state: st.state,
          severity: r.spec.severity,
          value: st.value !== null && Number.isFinite(st.value) ? st.value : null,
          summary: this.e.summary(r, st, now),
          since: ISO(st.since),
          firedAt: st.firedAt === null ? null : ISO(st.firedAt),
          resolvedAt: st.resolvedAt === null ? null : ISO(st.resolvedAt),
          silenced,
          _at: st.resolvedAt ?? st.firedAt ?? st.since,
        });
      }
    }
    out.sort(
      (a, b) =>
        ORDER[a.state] - ORDER[b.state] || SEVERITY[a.severity] - SEVERITY[b.severity] || b._at - a._at,
    );
    return out.slice(0, q.limit ?? DEFAULT_ALERTS_LIMIT).map(({ _at, ...a }) => a);
  }

  async history(
    projectId: number,
    q: { rule?: string; device?: string; limit?: number; before?: number },
  ): Promise<AlertEvent[]> {
    let sel = this.db.selectFrom("alert_history").selectAll().where("project_id", "=", projectId);
    if (q.rule !== undefined) sel = sel.where("rule_name", "=", q.rule);
    if (q.device !== undefined) {
      // A deleted device's events stay findable by the name they were recorded with.
      const id = await this.devices.find(projectId, q.device).then(
        (d) => d.id,
        () => undefined,
      );
      sel = id ? sel.where("device_id", "=", id) : sel.where("device_name", "=", q.device);
    }
    if (q.before !== undefined) sel = sel.where("id", "<", q.before);
    const rows = await sel
      .orderBy("id", "desc")
      .limit(q.limit ?? 100)
      .execute();
    return rows.map((h) => ({
      id: h.id,
      rule: h.rule_name,
      device: h.device_name,
      deviceId: h.device_id,
      state: h.state as AlertEvent["state"],
      value: h.value,
      summary: h.summary,
      at: h.at,
    }));
  }

  // ---- webhooks ----

  private hook(projectId: number, name: string) {
    const h = this.e.hookByName(projectId, name);
    if (!h) throw new TetherError("TETHER_ERR_WEBHOOK_NOT_FOUND", `no webhook ${name} in this project`);
    return h;
  }

  async listWebhooks(p: Principal): Promise<Webhook[]> {
    const rows = await this.db
      .selectFrom("webhooks")
      .selectAll()
      .where("project_id", "=", p.projectId)
      .orderBy("name")
      .execute();
    const out: Webhook[] = [];
    for (const w of rows) {
      const last = await this.db
        .selectFrom("webhook_deliveries")
        .select(["updated_at", "status"])
        .where("webhook_id", "=", w.id)
        .orderBy("id", "desc")
        .limit(1)
        .executeTakeFirst();
      out.push({
        name: w.name,
        url: p.role === "admin" ? w.url : redactUrl(w.url),
        createdAt: w.created_at,
        createdBy: w.created_by,
        lastDelivery: last ? { at: last.updated_at, status: last.status } : null,
      });
    }
    return out;
  }

  async createWebhook(p: Principal, b: WebhookCreate): Promise<Webhook> {
    let u: URL;
    try {
      u = new URL(b.url);
    } catch {
      throw new TetherError(
        "TETHER_ERR_WEBHOOK_INVALID",
        `the webhook URL ${JSON.stringify(b.url)} is not an absolute URL`,
      );
    }
    if (u.protocol !== "http:" && u.protocol !== "https:")
      throw new TetherError(
        "TETHER_ERR_WEBHOOK_INVALID",
        `the webhook URL must be http:// or https://, not ${u.protocol}//`,
      );
    if (this.e.hookByName(p.projectId, b.name))
      throw new TetherError(
        "TETHER_ERR_WEBHOOK_EXISTS",
        `a webhook named ${b.name} already exists in this project`,
      );
    const count = [...this.e.deliveries.hooks.values()].filter((h) => h.projectId === p.projectId).length;
    if (count >= ALERT_LIMITS.webhooksPerProject)
      throw new TetherError(
        "TETHER_ERR_ALERT_LIMIT",
        `this project already has ${ALERT_LIMITS.webhooksPerProject} webhooks, the most it may have; delete one first`,
      );
    const secret = b.secret ?? randomBytes(32).toString("base64url");
    const createdAt = new Date().toISOString();
    const row = await this.db
      .insertInto("webhooks")
      .values({
        project_id: p.projectId,
        name: b.name,
        url: u.toString(),
        secret,
        created_at: createdAt,
        created_by: p.username,
      })
      .returning("id")
      .executeTakeFirstOrThrow();
    this.e.deliveries.hooks.set(row.id, {
      id: row.id,
      projectId: p.projectId,
      name: b.name,
      url: u.toString(),
      secret,
    });
    await this.audit.write({
      actor: p.username,
      action: "webhook.create",
      projectId: p.projectId,
      detail: { name: b.name, url: redactUrl(u.toString()), secretGenerated: b.secret === undefined },
    });
    return {
      name: b.name,
      url: u.toString(),
      createdAt,
      createdBy: p.username,
      ...(b.secret === undefined ? { secret } : {}),
      lastDelivery: null,
    };
  }

  /** Deleting a webhook drops it from the rules that name it, and its deliveries. */
  async deleteWebhook(p: Principal, name: string): Promise<{ rulesChanged: string[] }> {
    const h = this.hook(p.projectId, name);
    const changed: string[] = [];
    for (const r of this.e.rules.values()) {
      if (r.projectId !== p.projectId || !r.webhooks.includes(name)) continue;
      r.webhooks = r.webhooks.filter((w) => w !== name);
      await this.db
        .updateTable("alert_rules")
        .set({ webhooks: JSON.stringify(r.webhooks) })
        .where("id", "=", r.id)
        .execute();
      changed.push(r.name);
    }
    await this.db.deleteFrom("webhook_deliveries").where("webhook_id", "=", h.id).execute();
    await this.db.deleteFrom("webhooks").where("id", "=", h.id).execute();
    this.e.deliveries.forget(h.id);
    await this.audit.write({
      actor: p.username,
      action: "webhook.delete",
      projectId: p.projectId,
      detail: { name, rulesChanged: changed },
    });
    return { rulesChanged: changed };
  }

  /** A test notification; answers after its first attempt. */
  async testWebhook(p: Principal, name: string): Promise<WebhookDelivery> {
    const h = this.hook(p.projectId, name);
    const now = this.now();
    const body = JSON.stringify(
      envelope(
        h.name,
        [
          {
            status: "firing",
            labels: { alertname: "tether-webhook-test", project: p.project, severity: "info" },
            annotations: { summary: `a test notification from Tether, sent by ${p.username}` },
            startsAt: ISO(now),
            endsAt: "0001-01-01T00:00:00Z",
            generatorURL: "",
            fingerprint: "0000000000000000",
          },
        ],
        undefined,
        '{}:{alertname="tether-webhook-test"}',
        "tether-webhook-test",
      ),
    );
    const id = await this.e.deliveries.test(h, body);
    await this.audit.write({
      actor: p.username,
      action: "webhook.test",
      projectId: p.projectId,
      detail: { name },
    });
    const row = await this.db
      .selectFrom("webhook_deliveries")
      .selectAll()
      .where("id", "=", id)
      .executeTakeFirstOrThrow();
    return toDelivery(row, h.name);
  }

  async deliveryLog(p: Principal, name: string, limit = 100): Promise<WebhookDelivery[]> {
    const h = this.hook(p.projectId, name);
    const rows = await this.db
      .selectFrom("webhook_deliveries")
      .selectAll()
      .where("webhook_id", "=", h.id)
      .orderBy("id", "desc")
      .limit(limit)
      .execute();
    return rows.map((r) => toDelivery(r, h.name));
  }
}
