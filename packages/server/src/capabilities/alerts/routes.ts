/**
 * The alerts REST API (docs/protocol.md §16). Viewers read; operators create and delete rules
 * and silences; admins create, delete and test webhooks. Inside the caller's project only.
 */
import {
  ALERT_LIMITS,
  ALERT_RULE_NAME,
  Alert,
  AlertEvent,
  AlertRule,
  AlertRuleCreate,
  AlertSilence,
  AlertSilenceCreate,
  WEBHOOK_NAME,
  Webhook,
  WebhookCreate,
  WebhookDelivery,
} from "@tether/protocol";
import type { FastifyInstance } from "fastify";
import { type Static, Type } from "typebox";
import { who } from "../../http/auth.js";
import { type AlertsService, MAX_ALERTS_LIMIT } from "./service.js";

const RuleName = Type.Object({ name: Type.String({ pattern: ALERT_RULE_NAME }) });
const HookName = Type.Object({ name: Type.String({ pattern: WEBHOOK_NAME }) });

export async function alertsRoutes(app: FastifyInstance, s: AlertsService): Promise<void> {
  app.get(
    "/api/v1/alerts/rules",
    {
      schema: {
        tags: ["alerts"],
        summary: "The project's alert rules, with how many devices are firing and pending on each",
        response: { 200: Type.Array(AlertRule) },
      },
    },
    async (req) => s.listRules(who(req).projectId),
  );

  app.post(
    "/api/v1/alerts/rules",
    {
      schema: {
        tags: ["alerts"],
        summary:
          "Create an alert rule (operator): exactly one of metric+op+value (optional labels, forMs), offlineMs, or logPattern (RE2 syntax) with count and withinMs; selector and webhooks optional",
        body: AlertRuleCreate,
        response: { 201: AlertRule },
      },
    },
    async (req, reply) => {
      const r = await s.createRule(who(req, "operator"), req.body as AlertRuleCreate);
      reply.code(201);
      return r;
    },
  );

  app.get(
    "/api/v1/alerts/rules/:name",
    {
      schema: { tags: ["alerts"], summary: "One alert rule", params: RuleName, response: { 200: AlertRule } },
    },
    async (req) => s.getRule(who(req).projectId, (req.params as { name: string }).name),
  );

  app.delete(
    "/api/v1/alerts/rules/:name",
    {
      schema: {
        tags: ["alerts"],
        summary: "Delete an alert rule (operator): its alerts and silences go with it; its history stays",
        params: RuleName,
      },
    },
    async (req) => {
      await s.deleteRule(who(req, "operator"), (req.params as { name: string }).name);
      return { ok: true };
    },
  );

  app.post(
    "/api/v1/alerts/rules/:name/silence",
    {
      schema: {
        tags: ["alerts"],
        summary:
          "Silence a rule for a while (operator): its alerts still change state and are listed, but no webhook is called for a firing (a resolution of an alert whose firing was sent is still sent). Replaces the rule's active silence",
        params: RuleName,
        body: AlertSilenceCreate,
        response: { 201: AlertSilence },
      },
    },
    async (req, reply) => {
      const r = await s.silence(
        who(req, "operator"),
        (req.params as { name: string }).name,
        req.body as Static<typeof AlertSilenceCreate>,
      );
      reply.code(201);
      return r;
    },
  );

  app.delete(
    "/api/v1/alerts/rules/:name/silence",
    { schema: { tags: ["alerts"], summary: "End a rule's silence now (operator)", params: RuleName } },
    async (req) => {
      await s.endSilence(who(req, "operator"), (req.params as { name: string }).name);
      return { ok: true };
    },
  );

  app.get(
    "/api/v1/alerts/silences",
    {
      schema: {
        tags: ["alerts"],
        summary: "The project's active silences, soonest end first",
        response: { 200: Type.Array(AlertSilence) },
      },
    },
    async (req) => s.silences(who(req).projectId),
  );

  app.get(
    "/api/v1/alerts",
    {
      schema: {
        tags: ["alerts"],
        summary:
          "Alerts now: firing first, then pending, then recently resolved (kept 1 h); by severity, newest first within each",
        querystring: Type.Object({
          state: Type.Optional(
            Type.Union([Type.Literal("firing"), Type.Literal("pending"), Type.Literal("resolved")]),
          ),
          device: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_ALERTS_LIMIT })),
        }),
        response: { 200: Type.Array(Alert) },
      },
    },
    async (req) =>
      s.alerts(who(req).projectId, req.query as { state?: string; device?: string; limit?: number }),
  );

  app.get(
    "/api/v1/alerts/history",
    {
      schema: {
        tags: ["alerts"],
        summary: `State changes (firing, resolved), newest first; the newest ${ALERT_LIMITS.historyPerProject} per project are kept. Page with before=<id>`,
        querystring: Type.Object({
          rule: Type.Optional(Type.String({ maxLength: 64 })),
          device: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
          before: Type.Optional(Type.Integer({ minimum: 1 })),
        }),
        response: { 200: Type.Array(AlertEvent) },
      },
    },
    async (req) =>
      s.history(
        who(req).projectId,
        req.query as { rule?: string; device?: string; limit?: number; before?: number },
      ),
  );

  app.get(
    "/api/v1/webhooks",
    {
      schema: {
        tags: ["alerts"],
        summary: "The project's webhooks with their last delivery (the URL in full for admins only)",
        response: { 200: Type.Array(Webhook) },
      },
    },
    async (req) => s.listWebhooks(who(req)),
  );

  app.post(
    "/api/v1/webhooks",
    {
      schema: {
        tags: ["alerts"],
        summary:
          "Create a webhook (admin). Without `secret` the server generates one and returns it in this answer only",
        body: WebhookCreate,
        response: { 201: Webhook },
      },
    },
    async (req, reply) => {
      const w = await s.createWebhook(who(req, "admin"), req.body as WebhookCreate);
      reply.code(201);
      return w;
    },
  );

  app.delete(
    "/api/v1/webhooks/:name",
    {
      schema: {
        tags: ["alerts"],
        summary: "Delete a webhook (admin): rules naming it no longer call it; its deliveries go with it",
        params: HookName,
      },
    },
    async (req) => {
      const r = await s.deleteWebhook(who(req, "admin"), (req.params as { name: string }).name);
      return { ok: true, ...r };
    },
  );

  app.post(
    "/api/v1/webhooks/:name/test",
    {
      schema: {
        tags: ["alerts"],
        summary:
          "Send a test notification (admin); answers after the first attempt (retries continue in the queue)",
        params: HookName,
        response: { 200: WebhookDelivery },
      },
    },
    async (req) => s.testWebhook(who(req, "admin"), (req.params as { name: string }).name),
  );

  app.get(
    "/api/v1/webhooks/:name/deliveries",
    {
      schema: {
        tags: ["alerts"],
        summary: `A webhook's deliveries, newest first, each with every attempt's outcome (the newest ${ALERT_LIMITS.deliveriesPerWebhook} are kept)`,
        params: HookName,
        querystring: Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })) }),
        response: { 200: Type.Array(WebhookDelivery) },
      },
    },
    async (req) =>
      s.deliveryLog(who(req), (req.params as { name: string }).name, (req.query as { limit?: number }).limit),
  );
}
