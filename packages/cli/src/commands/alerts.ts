/**
 * tether alerts (docs/protocol.md §16): rules on metrics, presence and log lines; the alerts
 * they raise per device; history; silences.
 */
import {
  ALERT_LIMITS,
  ALERT_OPS,
  ALERT_RULE_NAME,
  ALERT_SEVERITIES,
  ALERT_STATES,
  type Alert,
  type AlertOp,
  type AlertRule,
  type AlertRuleCreate,
  type AlertState,
  alertsApi,
  clock,
  fmtSpan,
  logTime,
  parseDurationMs,
  WEBHOOK_NAME,
} from "@tether/sdk";
import type { Command } from "commander";
import { collect, parseIntArg, parseSelectorArg } from "../args.js";
import { type Ctx, client, printJson, printList } from "../context.js";
import { escapeControl } from "../escape.js";
import { CliError, EXIT } from "../io.js";
import { table } from "../table.js";
import { parseMetricName } from "./metrics.js";

const usage = (m: string) => new CliError(m, EXIT.usage);

const RULES_HELP = `
Examples:
  tether alerts rules create low-battery --metric battery_capacity_percent --op '<' --value 15 \\
      --for 2m --selector site=tokyo --webhook ops
  tether alerts rules create root-full --metric disk_used_percent --labels mount=/ --op '>=' --value 90
  tether alerts rules create gone --offline 5m --severity critical --webhook ops --webhook pager
  tether alerts rules create panics --log-pattern 'panic|segfault' --count 3 --within 10m
  tether alerts rules list
  tether alerts rules delete low-battery

A rule has one condition: a metric (--metric, --op, --value; --for: how long it must hold
before the alert fires, pending until then), presence (--offline DURATION), or log lines
(--log-pattern RE2 regular expression, seen --count times within --within; defaults 1 and 5m).
Durations: 30s, 2m, 1h, 7d. --selector narrows the devices (default: every device of the
project). Each --webhook is notified when an alert fires and when it resolves.

Exit codes: 0 ok, 1 refused by the server (an unknown metric, a bad pattern, too many rules),
2 usage (a wrong combination of options: said before any request), 3 not allowed, 4 no such rule.`;

const ALERTS_HELP = `
Examples:
  tether alerts list                          firing first, then pending, then resolved
  tether alerts list --firing --json
  tether alerts silence low-battery --duration 1h --comment "charging station down"
  tether alerts unsilence low-battery
  tether alerts history --rule low-battery --device robot-7

A silenced rule still changes state (list and history show it) but notifies no webhook until
the silence ends. Times are local.

Exit codes: 0 ok, 2 usage, 3 not allowed, 4 no such rule or device, 255 the server unreachable.`;

const OP_WORDS: Record<string, AlertOp> = { lt: "<", le: "<=", gt: ">", ge: ">=", eq: "==", ne: "!=" };

export interface RuleOpts {
  metric?: string;
  labels?: string;
  op?: string;
  value?: string;
  for?: string;
  offline?: string;
  logPattern?: string;
  count?: string;
  within?: string;
  selector?: string;
  webhook?: string[];
  severity?: string;
  description?: string;
}

/** A duration option in ms, within [min, max]. */
export function durationOpt(s: string, what: string, minMs: number, maxMs: number): number {
  const ms = parseDurationMs(s);
  if (ms === undefined)
    throw usage(`${what} must be a duration like 30s, 2m, 1h or 7d, got ${JSON.stringify(s)}`);
  if (ms < minMs) throw usage(`${what} must be at least ${fmtSpan(minMs / 1000)}, got ${s}`);
  if (ms > maxMs) throw usage(`${what} must be at most ${fmtSpan(maxMs / 1000)}, got ${s}`);
  return ms;
}

/**
 * The POST body of `alerts rules create`, or a usage error naming the wrong combination
 * (checked before any request).
 */
export function ruleFromOptions(name: string, o: RuleOpts): AlertRuleCreate {
  if (!new RegExp(ALERT_RULE_NAME).test(name))
    throw usage(
      `bad rule name ${JSON.stringify(name)}: letters, digits, . _ - (1-63, not starting with . _ -)`,
    );
  const kinds = [
    o.metric !== undefined && "--metric",
    o.offline !== undefined && "--offline",
    o.logPattern !== undefined && "--log-pattern",
  ].filter((k): k is string => !!k);
  if (kinds.length === 0)
    throw usage(
      "a rule needs one condition: --metric M --op OP --value V, --offline DURATION, or --log-pattern RE",
    );
  if (kinds.length > 1) throw usage(`a rule has one condition: ${kinds.join(" and ")} cannot be combined`);
  const not = (given: (string | undefined)[], names: string[], kind: string) => {
    const bad = names.filter((_, i) => given[i] !== undefined);
    if (bad.length) throw usage(`${bad.join(", ")} cannot be used with ${kind}`);
  };
  const rule: AlertRuleCreate = { name };

  if (o.metric !== undefined) {
    not([o.count, o.within], ["--count", "--within"], "--metric");
    rule.metric = parseMetricName(o.metric);
    if (o.op === undefined || o.value === undefined)
      throw usage(`--metric needs --op (${ALERT_OPS.join(" ")}) and --value`);
    const op = OP_WORDS[o.op.trim()] ?? o.op.trim();
    if (!(ALERT_OPS as readonly string[]).includes(op))
      throw usage(
        `--op must be one of ${ALERT_OPS.join(" ")} (or lt le gt ge eq ne), got ${JSON.stringify(o.op)}`,
      );
    rule.op = op as AlertOp;
    const v = o.value.trim() === "" ? Number.NaN : Number(o.value);
    if (!Number.isFinite(v)) throw usage(`--value must be a number, got ${JSON.stringify(o.value)}`);
    rule.value = v;
    if (o.labels !== undefined) {
      if (!/^[a-zA-Z_][a-zA-Z0-9_]*=[^,]*(,[a-zA-Z_][a-zA-Z0-9_]*=[^,]*)*$/.test(o.labels.trim()))
        throw usage(`--labels must be k=v[,k2=v2], got ${JSON.stringify(o.labels)}`);
      rule.labels = o.labels.trim();
    }
    if (o.for !== undefined) rule.forMs = durationOpt(o.for, "--for", 1, 7 * 86_400_000);
  } else {
    const kind = kinds[0];
    not([o.op, o.value, o.labels], ["--op", "--value", "--labels"], kind);
    if (o.offline !== undefined) {
      not(
        [o.for, o.count, o.within],
        ["--for", "--count", "--within"],
        "--offline (its duration is the wait)",
      );
      rule.offlineMs = durationOpt(o.offline, "--offline", 1000, 30 * 86_400_000);
    } else if (o.logPattern !== undefined) {
      not([o.for], ["--for"], "--log-pattern (use --within)");
      if (o.logPattern === "" || o.logPattern.length > ALERT_LIMITS.maxPatternChars)
        throw usage(`--log-pattern must be 1-${ALERT_LIMITS.maxPatternChars} characters`);
      rule.logPattern = o.logPattern;
      rule.count = o.count !== undefined ? parseIntArg(o.count, "--count") : 1;
      if (rule.count > 1_000_000) throw usage("--count must be at most 1000000");
      rule.withinMs = durationOpt(o.within ?? "5m", "--within", 1000, 86_400_000);
    }
  }
  if (o.selector !== undefined) {
    parseSelectorArg(o.selector);
    rule.selector = o.selector;
  }
  const hooks = o.webhook ?? [];
  const hookRe = new RegExp(WEBHOOK_NAME);
  for (const h of hooks) if (!hookRe.test(h)) throw usage(`bad --webhook name ${JSON.stringify(h)}`);
  if (hooks.length > 10) throw usage("at most 10 --webhook per rule");
  if (hooks.length) rule.webhooks = [...new Set(hooks)];
  if (o.severity !== undefined) {
    if (!(ALERT_SEVERITIES as readonly string[]).includes(o.severity))
      throw usage(
        `--severity must be one of ${ALERT_SEVERITIES.join(", ")}, got ${JSON.stringify(o.severity)}`,
      );
    rule.severity = o.severity as AlertRuleCreate["severity"];
  }
  if (o.description !== undefined) {
    if (o.description.length > 1000) throw usage("--description: at most 1000 characters");
    rule.description = o.description;
  }
  return rule;
}

/** "14:03 (5m 3s)": local clock time and how long ago. */
export function sinceText(iso: string | null, now = Date.now()): string {
  if (!iso) return "";
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  return `${clock(t, now)} (${fmtSpan(Math.max(0, Math.round((now - t) / 1000)))})`;
}

/** Local time to the second: "2026-12-01 14:03:22". */
export function localTime(iso: string): string {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? iso : logTime(t).slice(0, 19);
}

const STATE_ORDER: Record<AlertState, number> = { firing: 0, pending: 1, resolved: 2 };

/** Firing first, then pending, then resolved; newest first within each. */
export function sortAlerts(list: Alert[]): Alert[] {
  return [...list].sort(
    (a, b) => STATE_ORDER[a.state] - STATE_ORDER[b.state] || Date.parse(b.since) - Date.parse(a.since),
  );
}

export function alertsTable(list: Alert[], now = Date.now()): string {
  return table(
    ["rule", "device", "state", "severity", "value / summary", "since"],
    sortAlerts(list).map((a) => [
      a.rule,
      a.device,
      a.silenced ? `${a.state} (silenced)` : a.state,
      a.severity,
      a.summary,
      sinceText(a.since, now),
    ]),
  );
}

function ruleState(r: AlertRule, now = Date.now()): string {
  const parts: string[] = [];
  if (r.firing) parts.push(`${r.firing} firing`);
  if (r.pending) parts.push(`${r.pending} pending`);
  if (r.silencedUntil) parts.push(`silenced until ${clock(Date.parse(r.silencedUntil), now)}`);
  return parts.join(", ") || "ok";
}

export function registerAlerts(program: Command, ctx: Ctx): void {
  const alerts = program
    .command("alerts")
    .alias("alert")
    .description("alert rules (metrics, presence, log lines), the alerts they raise, silences, history")
    .addHelpText("after", ALERTS_HELP);

  // --- rules -----------------------------------------------------------------------------------
  const rules = alerts
    .command("rules")
    .description("create, list and delete alert rules")
    .addHelpText("after", RULES_HELP);

  rules
    .command("create")
    .description("create a rule: on a metric, on presence (--offline), or on log lines (--log-pattern)")
    .argument("<name>", "rule name: letters, digits, . _ - (1-63)")
    .option("-m, --metric <name>", "metric rule: the metric, e.g. battery_capacity_percent")
    .option("--labels <k=v,...>", "metric rule: only series with these labels, e.g. mount=/")
    .option("--op <op>", `metric rule: the comparison, ${ALERT_OPS.join(" ")} (quote it in a shell)`)
    .option("--value <number>", "metric rule: the threshold")
    .option("--for <duration>", "metric rule: how long the condition must hold before firing (2m)")
    .option("--offline <duration>", "presence rule: fire when a device is offline this long (5m)")
    .option("--log-pattern <re>", "log rule: an RE2 regular expression matched against each line")
    .option("--count <n>", "log rule: matches needed within --within (default 1)")
    .option("--within <duration>", "log rule: the sliding window (default 5m)")
    .option("-s, --selector <k=v,...>", "only devices matching labels/facts (default: all)")
    .option("-w, --webhook <name>", "notify this webhook on firing and resolved (repeatable)", collect)
    .option("--severity <s>", `${ALERT_SEVERITIES.join(", ")} (default warning)`)
    .option("--description <text>", "what the alert means, for whoever is notified")
    .option("--json", "print the created rule as JSON")
    .addHelpText("after", RULES_HELP)
    .action(async (name: string, o: RuleOpts & { json?: boolean }, cmd: Command) => {
      const body = ruleFromOptions(name, o);
      const r = await alertsApi(client(ctx, cmd)).createRule(body);
      if (o.json) return printJson(ctx, r);
      ctx.io.stdout(`created rule ${escapeControl(r.name)}: ${escapeControl(r.condition)}\n`);
    });

  rules
    .command("list")
    .alias("ls")
    .description("the rules: condition, severity, webhooks, devices firing or pending")
    .option("--json", "print a JSON array of the rules")
    .action(async (o: { json?: boolean }, cmd: Command) => {
      const list = await alertsApi(client(ctx, cmd)).listRules();
      const now = Date.now();
      printList(
        ctx,
        o.json,
        list,
        ["name", "condition", "severity", "webhooks", "state"],
        (r) => [r.name, r.condition, r.severity, r.webhooks.join(","), ruleState(r, now)],
        "no alert rules (create one: tether alerts rules create --help)",
      );
    });

  rules
    .command("delete")
    .alias("rm")
    .description("delete a rule (its alerts end; history stays)")
    .argument("<name>", "rule name")
    .action(async (name: string, _o: unknown, cmd: Command) => {
      await alertsApi(client(ctx, cmd)).deleteRule(name);
      ctx.io.stdout(`deleted rule ${escapeControl(name)}\n`);
    });

  // --- alerts ----------------------------------------------------------------------------------
  alerts
    .command("list")
    .alias("ls")
    .description("alerts now, firing first: rule, device, state, value, since")
    .option("--firing", "only firing alerts")
    .option("--state <state>", `only this state: ${ALERT_STATES.join(", ")}`)
    .option("-d, --device <device>", "only this device's alerts")
    .option("--json", "print a JSON array of the alerts")
    .action(
      async (o: { firing?: boolean; state?: string; device?: string; json?: boolean }, cmd: Command) => {
        if (o.firing && o.state !== undefined && o.state !== "firing")
          throw usage("--firing and --state cannot be combined");
        if (o.state !== undefined && !(ALERT_STATES as readonly string[]).includes(o.state))
          throw usage(`--state must be one of ${ALERT_STATES.join(", ")}, got ${JSON.stringify(o.state)}`);
        const state = (o.firing ? "firing" : o.state) as AlertState | undefined;
        const list = await alertsApi(client(ctx, cmd)).list({ state, device: o.device });
        if (o.json) return printJson(ctx, sortAlerts(list));
        if (list.length === 0) {
          ctx.io.stderr(`no ${state ?? ""}${state ? " " : ""}alerts\n`);
          return;
        }
        ctx.io.stdout(alertsTable(list));
      },
    );

  alerts
    .command("silence")
    .description("silence a rule: no notifications until the silence ends")
    .argument("<rule>", "rule name")
    .requiredOption("--duration <duration>", "how long: 30m, 1h, 2d (at most 90d)")
    .option("--comment <text>", "why (shown with the silence)")
    .option("--json", "print the silence as JSON")
    .action(async (name: string, o: { duration: string; comment?: string; json?: boolean }, cmd: Command) => {
      const ms = durationOpt(o.duration, "--duration", 1000, 90 * 86_400_000);
      if (o.comment !== undefined && o.comment.length > 500) throw usage("--comment: at most 500 characters");
      const s = await alertsApi(client(ctx, cmd)).silence(name, ms, o.comment);
      if (o.json) return printJson(ctx, s);
      ctx.io.stdout(
        `silenced ${escapeControl(s.rule)} until ${localTime(s.until)} (${fmtSpan(ms / 1000)})\n`,
      );
    });

  alerts
    .command("unsilence")
    .description("end a rule's silence: notifications resume")
    .argument("<rule>", "rule name")
    .action(async (name: string, _o: unknown, cmd: Command) => {
      await alertsApi(client(ctx, cmd)).unsilence(name);
      ctx.io.stdout(`${escapeControl(name)} is no longer silenced\n`);
    });

  alerts
    .command("silences")
    .description("the active silences")
    .option("--json", "print a JSON array of the silences")
    .action(async (o: { json?: boolean }, cmd: Command) => {
      const list = await alertsApi(client(ctx, cmd)).silences();
      printList(
        ctx,
        o.json,
        list,
        ["rule", "until", "by", "comment"],
        (s) => [s.rule, localTime(s.until), s.createdBy, s.comment],
        "no active silences",
      );
    });

  alerts
    .command("history")
    .description("state changes, newest first: pending, firing, resolved")
    .option("-r, --rule <rule>", "only this rule's")
    .option("-d, --device <device>", "only this device's")
    .option("-n, --limit <n>", "at most N entries", "100")
    .option("--json", "print a JSON array of the events")
    .action(async (o: { rule?: string; device?: string; limit: string; json?: boolean }, cmd: Command) => {
      const limit = parseIntArg(o.limit, "--limit");
      const list = await alertsApi(client(ctx, cmd)).history({ rule: o.rule, device: o.device, limit });
      printList(
        ctx,
        o.json,
        list,
        ["time", "rule", "device", "state", "summary"],
        (e) => [localTime(e.at), e.rule, e.device, e.state, e.summary],
        "no alert history",
      );
    });
}
