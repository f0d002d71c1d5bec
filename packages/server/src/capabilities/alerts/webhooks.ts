/**
 * Webhook deliveries (docs/protocol.md §16): a queue per webhook, stored in the main database
 * so pending deliveries survive a restart. Each webhook has its own lane (one request in flight,
 * in order), so a webhook that hangs delays only its own deliveries, never the evaluator or
 * another webhook. A request is signed (X-Tether-Signature), times out (10 s), does not
 * follow redirects (a failure, not retried), reads at most 64 KiB of the answer; 5xx, 408,
 * 429 and network errors are retried with exponential backoff until the attempts or the age
 * run out; other 4xx are not. Every attempt's outcome is kept in the delivery's log.
 */
import { createHmac } from "node:crypto";
import http from "node:http";
import https from "node:https";
import { WEBHOOK_DELIVERY_HEADER, WEBHOOK_SIGNATURE_HEADER, type WebhookDelivery } from "@tether/protocol";
import type { Kysely, Selectable } from "kysely";
import type { Logger } from "pino";
import type { AlertsDB, WebhookDeliveriesTable } from "./schema.js";

export interface DeliveryOptions {
  timeoutMs: number;
  maxAttempts: number;
  backoffMs: number;
  maxAgeMs: number;
  maxPending: number;
}

export interface HookRef {
  id: number;
  projectId: number;
  name: string;
  url: string;
  secret: string;
}

export interface AttemptLogEntry {
  at: string;
  httpStatus: number | null;
  error: string | null;
  ms: number;
}

/** Bytes of an answer read (the rest is dropped). */
export const MAX_ANSWER_BYTES = 64 * 1024;
/** Longest wait between two attempts. */
const MAX_BACKOFF_MS = 5 * 60_000;
/** Characters of an answer kept in an error. */
const ERROR_BODY_CHARS = 200;

interface Outcome {
  httpStatus: number | null;
  error: string | null;
  retry: boolean;
  retryAfterMs?: number;
  ms: number;
}

interface Item {
  id: number;
  hookId: number;
  body: string;
  attempts: number;
  nextAt: number;
  createdAt: number;
  log: AttemptLogEntry[];
}

interface Lane {
  queue: Item[];
  running: boolean;
  timer?: NodeJS.Timeout;
}

type Row = Selectable<WebhookDeliveriesTable>;

/** `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>` */
export function signature(secret: string, body: string, unixSeconds: number): string {
  const mac = createHmac("sha256", secret).update(`${unixSeconds}.${body}`).digest("hex");
  return `t=${unixSeconds},v1=${mac}`;
}

export function toDelivery(r: Row, webhook: string): WebhookDelivery {
  return {
    id: r.id,
    webhook,
    event: r.event,
    rule: r.rule_name,
    device: r.device_name,
    status: r.status as WebhookDelivery["status"],
    attempts: r.attempts,
    httpStatus: r.http_status,
    lastError: r.last_error,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    log: JSON.parse(r.attempt_log) as AttemptLogEntry[],
  };
}

/** One POST; never throws. */
export function post(
  url: string,
  body: string,
  headers: Record<string, string>,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<Outcome> {
  const started = Date.now();
  const done = (o: Omit<Outcome, "ms">): Outcome => ({ ...o, ms: Date.now() - started });
  return new Promise((resolve) => {
    let settled = false;
    const finish = (o: Omit<Outcome, "ms">) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(done(o));
    };
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      finish({ httpStatus: null, error: `bad URL ${url}`, retry: false });
      return;
    }
    const data = Buffer.from(body);
    const mod = u.protocol === "https:" ? https : http;
    const req = mod.request(u, {
      method: "POST",
      agent: false,
      ...(signal ? { signal } : {}),
      headers: {
        "content-type": "application/json",
        "content-length": String(data.length),
        "user-agent": "tether-alerts",
        connection: "close",
        ...headers,
      },
    });
    const timer = setTimeout(() => {
      req.destroy();
      finish({ httpStatus: null, error: `timed out after ${timeoutMs} ms`, retry: true });
    }, timeoutMs);
    req.on("error", (err) =>
      finish({
        httpStatus: null,
        error: `${(err as NodeJS.ErrnoException).code ?? "error"}: ${err.message}`,
        retry: true,
      }),
    );
    req.on("response", (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400) {
        const loc = res.headers.location;
        let host = "an unnamed location";
        try {
          if (loc) host = new URL(loc, u).host;
        } catch {
          host = JSON.stringify(String(loc).slice(0, 100));
        }
        res.destroy();
        req.destroy();
        finish({ httpStatus: status, error: `redirect to ${host} not followed`, retry: false });
        return;
      }
      const chunks: Buffer[] = [];
      let got = 0;
      const end = () => {
        const text = Buffer.concat(chunks).toString("utf8");
        if (status >= 200 && status < 300) finish({ httpStatus: status, error: null, retry: false });
        else {
          const retry = status >= 500 || status === 408 || status === 429;
          const ra = Number(res.headers["retry-after"]);
          finish({
            httpStatus: status,
            error: `HTTP ${status}${text.trim() ? `: ${text.trim().slice(0, ERROR_BODY_CHARS)}` : ""}`,
            retry,
            ...(retry && Number.isFinite(ra) && ra >= 0 ? { retryAfterMs: ra * 1000 } : {}),
          });
        }
        req.destroy();
      };
      res.on("data", (c: Buffer) => {
        if (got >= MAX_ANSWER_BYTES) return;
        chunks.push(c.subarray(0, MAX_ANSWER_BYTES - got));
        got += c.length;
        if (got >= MAX_ANSWER_BYTES) {
          res.destroy();
          end();
        }
      });
      res.on("end", end);
      res.on("error", end);
    });
    req.end(data);
  });
}

export class Deliveries {
  private readonly lanes = new Map<number, Lane>();
  readonly hooks = new Map<number, HookRef>();
  private idleWaiters: (() => void)[] = [];
  private closed = false;
  private inFlight = 0;
  /** Aborts the requests in flight at shutdown (they are sent again after the restart). */
  private readonly abort = new AbortController();

  constructor(
    private readonly db: Kysely<AlertsDB>,
    private readonly log: Logger,
    readonly o: DeliveryOptions,
  ) {}

  /** Pending deliveries from the database (after a restart), oldest first per webhook. */
  async load(): Promise<void> {
    const rows = await this.db
      .selectFrom("webhook_deliveries")
      .selectAll()
      .where("status", "=", "pending")
      .orderBy("id")
      .execute();
    for (const r of rows) {
      if (!this.hooks.has(r.webhook_id)) continue;
      this.lane(r.webhook_id).queue.push(this.item(r));
    }
    for (const id of this.lanes.keys()) void this.run(id);
  }

  private item(r: Row): Item {
    return {
      id: r.id,
      hookId: r.webhook_id,
      body: r.payload,
      attempts: r.attempts,
      nextAt: Date.parse(r.next_at),
      createdAt: Date.parse(r.created_at),
      log: JSON.parse(r.attempt_log) as AttemptLogEntry[],
    };
  }

  private lane(id: number): Lane {
    let l = this.lanes.get(id);
    if (!l) {
      l = { queue: [], running: false };
      this.lanes.set(id, l);
    }
    return l;
  }

  /** Queue a delivery; the webhook's lane sends it. */
  async enqueue(
    hook: HookRef,
    d: { event: string; rule: string | null; device: string | null; body: string },
  ): Promise<number> {
    const id = await this.insert(hook, d);
    const lane = this.lane(hook.id);
    lane.queue.push({
      id,
      hookId: hook.id,
      body: d.body,
      attempts: 0,
      nextAt: 0,
      createdAt: Date.now(),
      log: [],
    });
    await this.bound(hook, lane);
    void this.run(hook.id);
    return id;
  }

  private async insert(
    hook: HookRef,
    d: { event: string; rule: string | null; device: string | null; body: string },
  ) {
    const at = new Date().toISOString();
    const r = await this.db
      .insertInto("webhook_deliveries")
      .values({
        webhook_id: hook.id,
        event: d.event,
        rule_name: d.rule,
        device_name: d.device,
        payload: d.body,
        status: "pending",
        attempts: 0,
        http_status: null,
        last_error: null,
        attempt_log: "[]",
        next_at: at,
        created_at: at,
        updated_at: at,
      })
      .returning("id")
      .executeTakeFirstOrThrow();
    return r.id;
  }

  /** At most maxPending waiting per webhook: the oldest not in flight is dropped, and says so. */
  private async bound(hook: HookRef, lane: Lane): Promise<void> {
    while (lane.queue.length > this.o.maxPending) {
      const at = lane.running ? 1 : 0;
      const [gone] = lane.queue.splice(at, 1);
      if (!gone) return;
      const msg = `dropped: more than ${this.o.maxPending} deliveries were waiting for this webhook`;
      this.log.warn(
        { webhook: hook.name, delivery: gone.id, maxPending: this.o.maxPending },
        `webhook delivery ${msg}`,
      );
      await this.db
        .updateTable("webhook_deliveries")
        .set({ status: "failed", last_error: msg, updated_at: new Date().toISOString() })
        .where("id", "=", gone.id)
        .execute();
    }
  }

  /** POST /webhooks/{name}/test: the first attempt now (outside the lane), retries in the lane. */
  async test(hook: HookRef, body: string): Promise<number> {
    const id = await this.insert(hook, { event: "test", rule: null, device: null, body });
    const it: Item = { id, hookId: hook.id, body, attempts: 0, nextAt: 0, createdAt: Date.now(), log: [] };
    const status = await this.attempt(hook, it);
    if (status === "pending" && !this.closed) {
      const lane = this.lane(hook.id);
      lane.queue.push(it);
      await this.bound(hook, lane);
      void this.run(hook.id);
    }
    return id;
  }

  /** Forget a deleted webhook's lane (its rows go with it). */
  forget(hookId: number): void {
    const l = this.lanes.get(hookId);
    if (l) {
      clearTimeout(l.timer);
      l.queue.length = 0;
    }
    this.lanes.delete(hookId);
    this.hooks.delete(hookId);
    this.checkIdle();
  }

  private async run(hookId: number): Promise<void> {
    const lane = this.lanes.get(hookId);
    if (!lane || lane.running || this.closed) return;
    lane.running = true;
    clearTimeout(lane.timer);
    lane.timer = undefined;
    try {
      while (!this.closed && this.lanes.get(hookId) === lane && lane.queue.length) {
        const it = lane.queue[0]!;
        const wait = it.nextAt - Date.now();
        if (wait > 0) {
          lane.timer = setTimeout(() => void this.run(hookId), wait);
          lane.timer.unref();
          return;
        }
        const hook = this.hooks.get(hookId);
        if (!hook) {
          lane.queue.length = 0;
          return;
        }
        const status = await this.attempt(hook, it);
        if (status !== "pending" && lane.queue[0] === it) lane.queue.shift();
      }
    } catch (err) {
      this.log.error({ err, webhookId: hookId }, "webhook delivery failed to record; will retry");
      if (!this.closed) {
        lane.timer = setTimeout(() => void this.run(hookId), this.o.backoffMs);
        lane.timer.unref();
      }
    } finally {
      lane.running = false;
      this.checkIdle();
    }
  }

  /** One attempt, recorded; returns the delivery's status after it. */
  private async attempt(hook: HookRef, it: Item): Promise<"pending" | "delivered" | "failed"> {
    const t = Math.floor(Date.now() / 1000);
    this.inFlight++;
    let o: Outcome;
    try {
      o = await post(
        hook.url,
        it.body,
        {
          [WEBHOOK_SIGNATURE_HEADER]: signature(hook.secret, it.body, t),
          [WEBHOOK_DELIVERY_HEADER]: String(it.id),
        },
        this.o.timeoutMs,
        this.abort.signal,
      );
    } finally {
      this.inFlight--;
    }
    if (this.closed) return "pending"; // shutting down: not an attempt; sent again after the restart
    it.attempts++;
    const now = Date.now();
    it.log.push({ at: new Date(now).toISOString(), httpStatus: o.httpStatus, error: o.error, ms: o.ms });
    let status: "pending" | "delivered" | "failed";
    let why = o.error;
    if (o.error === null) status = "delivered";
    else if (!o.retry) status = "failed";
    else if (it.attempts >= this.o.maxAttempts) {
      status = "failed";
      why = `${o.error} (gave up after ${it.attempts} attempts)`;
    } else {
      const backoff = Math.min(MAX_BACKOFF_MS, this.o.backoffMs * 2 ** (it.attempts - 1));
      const next = now + Math.min(MAX_BACKOFF_MS, Math.max(backoff, o.retryAfterMs ?? 0));
      if (next - it.createdAt > this.o.maxAgeMs) {
        status = "failed";
        why = `${o.error} (gave up: older than ${Math.round(this.o.maxAgeMs / 1000)} s)`;
      } else {
        status = "pending";
        it.nextAt = next;
      }
    }
    if (status === "failed")
      this.log.warn({ webhook: hook.name, delivery: it.id, error: why }, "webhook delivery failed");
    await this.db
      .updateTable("webhook_deliveries")
      .set({
        status,
        attempts: it.attempts,
        http_status: o.httpStatus,
        last_error: why,
        attempt_log: JSON.stringify(it.log),
        next_at: new Date(it.nextAt || now).toISOString(),
        updated_at: new Date(now).toISOString(),
      })
      .where("id", "=", it.id)
      .execute();
    return status;
  }

  private busy(): boolean {
    if (this.inFlight > 0) return true;
    for (const l of this.lanes.values()) if (l.running || l.queue.length) return true;
    return false;
  }

  private checkIdle(): void {
    if (this.busy()) return;
    const w = this.idleWaiters;
    this.idleWaiters = [];
    for (const f of w) f();
  }

  /** Resolves when no delivery is waiting or in flight (tests). */
  idle(): Promise<void> {
    if (!this.busy() || this.closed) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  /** Keep each webhook's newest `keep` deliveries (pending ones are bounded apart). */
  async prune(keep: number): Promise<void> {
    for (const id of this.hooks.keys()) {
      const edge = await this.db
        .selectFrom("webhook_deliveries")
        .select("id")
        .where("webhook_id", "=", id)
        .orderBy("id", "desc")
        .offset(keep)
        .limit(1)
        .executeTakeFirst();
      if (edge)
        await this.db
          .deleteFrom("webhook_deliveries")
          .where("webhook_id", "=", id)
          .where("id", "<=", edge.id)
          .where("status", "!=", "pending")
          .execute();
    }
  }

  close(): void {
    this.closed = true;
    this.abort.abort();
    for (const l of this.lanes.values()) clearTimeout(l.timer);
    const w = this.idleWaiters;
    this.idleWaiters = [];
    for (const f of w) f();
  }
}
