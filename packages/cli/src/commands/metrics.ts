/** tether metrics get|names|top (docs/protocol.md §14.5) */
import { METRIC_NAME } from "@tether/protocol/telemetry";
import {
  DEVICE_OVERVIEW,
  isCounter,
  METRIC_AGGS,
  type MetricAgg,
  type MetricRangeResult,
  metricsApi,
  parseDurationMs,
} from "@tether/sdk";
import type { Command } from "commander";
import { parseIntArg, parseSelectorArg } from "../args.js";
import { type Ctx, client, printJson } from "../context.js";
import { CliError, EXIT } from "../io.js";
import {
  footLines,
  headLine,
  namesTable,
  overviewTable,
  seriesTable,
  topTable,
  uniqueGaps,
} from "./metrics-view.js";

const HELP = `
Examples:
  tether metrics get robot-7                       CPU, memory, disk, temperature, battery,
                                                   network and uptime over the last hour
  tether metrics get robot-7 --since 24h --step 10m
  tether metrics get robot-7 --metric temperature_celsius
  tether metrics get robot-7 --metric disk_used_percent --labels mount=/
  tether metrics get robot-7 --metric net_rx_bytes_total       (a counter: shown as a rate)
  tether metrics names robot-7
  tether metrics top temperature_celsius --selector site=tokyo --limit 10
  tether metrics top battery_capacity_percent --asc             (the emptiest battery first)

Values carry their unit (bytes as KiB/MiB/GiB, %, °C, V, A, W; seconds as 1d 2h). The trend
is a sparkline of the range; a blank in it is a time without samples. Samples a device lost
(its buffer full while offline) are listed as gaps under the table; a device clock more than
2 s off the server's is flagged. --json prints the API's answers.

Exit codes: 0 ok, 2 usage (a bad --since, --step, --metric or --selector), 3 not allowed,
4 no such device or metric, 255 the server unreachable.`;

const METRIC_NAME_RE = new RegExp(METRIC_NAME);
const LABELS_RE = /^[a-zA-Z_][a-zA-Z0-9_]*=[^,]*(,[a-zA-Z_][a-zA-Z0-9_]*=[^,]*)*$/;
const usage = (m: string) => new CliError(m, EXIT.usage);

interface GetOpts {
  metric?: string;
  labels?: string;
  since: string;
  step?: string;
  agg?: string;
  json?: boolean;
}

/** --since: a duration back from now ("1h") or a date/time (sent as ISO 8601). */
export function parseSince(s: string, what = "--since"): string {
  const t = s.trim();
  if (parseDurationMs(t) !== undefined) return t;
  const ms = /^\d{4}-\d\d-\d\d/.test(t) ? Date.parse(t) : Number.NaN;
  if (Number.isNaN(ms))
    throw usage(
      `${what} must be a duration (15m, 1h, 7d) or a date/time (2026-05-01T12:00), got ${JSON.stringify(s)}`,
    );
  return new Date(ms).toISOString();
}

export function parseStep(s: string): string {
  if (parseDurationMs(s.trim()) === undefined)
    throw usage(`--step must be a duration like 10s, 1m or 1h, got ${JSON.stringify(s)}`);
  return s.trim();
}

export function parseMetricName(s: string): string {
  if (!METRIC_NAME_RE.test(s))
    throw usage(
      `bad metric name ${JSON.stringify(s)}: letters, digits, _ and : (see tether metrics names DEVICE)`,
    );
  return s;
}

function parseLabelFilter(s: string): string {
  if (!LABELS_RE.test(s.trim())) throw usage(`--labels must be k=v[,k2=v2], got ${JSON.stringify(s)}`);
  return s.trim();
}

function parseAgg(s: string): MetricAgg {
  if (!(METRIC_AGGS as readonly string[]).includes(s))
    throw usage(`--agg must be one of ${METRIC_AGGS.join(", ")}, got ${JSON.stringify(s)}`);
  return s as MetricAgg;
}

const NO_METRICS = (device: string) =>
  `${device} has sent no metrics yet. Metrics arrive over the telemetry channel once the agent has its token.`;

export function registerMetrics(program: Command, ctx: Ctx): void {
  const metrics = program
    .command("metrics")
    .description("a device's metrics: key figures with sparklines, one metric's series, the fleet's top N")
    .addHelpText("after", HELP);

  metrics
    .command("get")
    .description("a device's key figures over a time range (or one metric's series with --metric)")
    .argument("<device>", "device id or unique name")
    .option("-m, --metric <name>", "one metric's series, e.g. temperature_celsius (see: metrics names)")
    .option("-l, --labels <k=v,...>", "with --metric: only series with these labels, e.g. mount=/")
    .option("--since <when>", "how far back: a duration (15m, 1h, 7d) or a date/time", "1h")
    .option("--step <duration>", "one point per step (10s, 1m, 1h); default: about 120 points")
    .option("--agg <agg>", `with --metric: ${METRIC_AGGS.join(", ")} (default avg; rate for counters)`)
    .option("--json", "print the range query answer(s) as JSON")
    .addHelpText("after", HELP)
    .action(async (ref: string, o: GetOpts, cmd: Command) => {
      const since = parseSince(o.since);
      const step = o.step !== undefined ? parseStep(o.step) : undefined;
      const metric = o.metric !== undefined ? parseMetricName(o.metric) : undefined;
      const labels = o.labels !== undefined ? parseLabelFilter(o.labels) : undefined;
      const agg = o.agg !== undefined ? parseAgg(o.agg) : undefined;
      if (labels && !metric) throw usage("--labels needs --metric");
      if (agg && !metric) throw usage("--agg needs --metric");
      const api = metricsApi(client(ctx, cmd));
      const names = await api.names(ref);
      const trend = `trend (${o.since.trim()})`;

      if (metric) {
        const r = await api.query({
          device: names.deviceId,
          metric,
          labels,
          since,
          step,
          agg: agg ?? (isCounter(metric) ? "rate" : "avg"),
        });
        if (o.json) return printJson(ctx, r);
        if (r.series.length === 0)
          throw new CliError(
            `${names.device} has no metric ${metric}${labels ? ` with ${labels}` : ""} (see: tether metrics names ${ref})`,
            EXIT.notFound,
          );
        ctx.io.stdout(headLine(names, r, o.since.trim()));
        ctx.io.stdout(seriesTable(r, trend));
        ctx.io.stdout(footLines(uniqueGaps([r]), names.skewMs));
        if (r.truncated) ctx.io.stderr(`more series match: narrow with --labels\n`);
        return;
      }

      const have = new Set(names.series.map((s) => s.name));
      const defs = DEVICE_OVERVIEW.filter((d) => have.has(d.metric));
      const results: MetricRangeResult[] = await Promise.all(
        defs.map((d) => api.query({ device: names.deviceId, metric: d.metric, since, step, agg: d.agg })),
      );
      if (o.json) return printJson(ctx, results);
      if (names.series.length === 0) {
        ctx.io.stderr(`${NO_METRICS(names.device)}\n`);
        return;
      }
      ctx.io.stdout(headLine(names, results[0], o.since.trim()));
      if (defs.length === 0) ctx.io.stdout(`no system metrics; its own: tether metrics names ${ref}\n`);
      else
        ctx.io.stdout(
          overviewTable(
            defs.map((def, i) => ({ def, result: results[i] })),
            trend,
          ),
        );
      ctx.io.stdout(footLines(uniqueGaps(results), names.skewMs));
    });

  metrics
    .command("names")
    .alias("ls")
    .description("the series a device has sent: name, labels, kind, last value and its age")
    .argument("<device>", "device id or unique name")
    .option("--json", "print the API answer as JSON")
    .action(async (ref: string, o: { json?: boolean }, cmd: Command) => {
      const n = await metricsApi(client(ctx, cmd)).names(ref);
      if (o.json) return printJson(ctx, n);
      if (n.series.length === 0) {
        ctx.io.stderr(`${NO_METRICS(n.device)}\n`);
        return;
      }
      ctx.io.stdout(namesTable(n));
      ctx.io.stdout(footLines([], n.skewMs));
    });

  metrics
    .command("top")
    .description("devices ranked by a metric's latest value (highest first; --asc for lowest)")
    .argument("<metric>", "metric name, e.g. temperature_celsius")
    .option("-s, --selector <selector>", "only devices matching labels/facts, e.g. site=tokyo")
    .option("-l, --labels <k=v,...>", "only series with these labels, e.g. sensor=cpu")
    .option("-n, --limit <n>", "at most N rows (1-1000)", "10")
    .option("--asc", "lowest first (e.g. the emptiest battery)")
    .option("--json", "print the API answer as JSON")
    .action(
      async (
        m: string,
        o: { selector?: string; labels?: string; limit: string; asc?: boolean; json?: boolean },
        cmd: Command,
      ) => {
        const metric = parseMetricName(m);
        if (o.selector !== undefined) parseSelectorArg(o.selector);
        const labels = o.labels !== undefined ? parseLabelFilter(o.labels) : undefined;
        const limit = parseIntArg(o.limit, "--limit");
        if (limit > 1000) throw usage(`--limit must be at most 1000, got ${limit}`);
        const r = await metricsApi(client(ctx, cmd)).top({
          metric,
          selector: o.selector,
          labels,
          limit,
          order: o.asc ? "asc" : "desc",
        });
        if (o.json) return printJson(ctx, r);
        if (r.rows.length === 0) {
          ctx.io.stderr(`no device${o.selector ? " matching the selector" : ""} has sent ${metric}\n`);
          return;
        }
        ctx.io.stdout(topTable(r));
      },
    );
}
