/**
 * A telemetry upload's body as the server reads it (docs/protocol.md §14.2): decodeBody (gzip
 * inflated with the 8 MiB ceiling, JSON.parse), validateEnvelope, then the metric store's pure
 * ingest step, prepareBatch (series names and labels checked, points to typed columns; no
 * database), with a small per-device series limit so that path is reached too.
 * The first input byte picks Content-Encoding (0 none, 1 gzip, 2 " X-Gzip ", 3 br), the rest
 * is the body; or (4) the rest drives a batch builder (batch-builder.ts), sent as plain JSON.
 * Contract: decodeBody and validateEnvelope throw only TetherError BATCH_MALFORMED or
 * PAYLOAD_TOO_LARGE; prepareBatch never throws; nothing that breaks TELEMETRY_LIMITS or the
 * name rules is accepted; every point is stored or counted as dropped; the columns are no
 * larger than the batch's points (at most maxPointsPerBatch).
 */
import { gzipSync } from "node:zlib";
import { type MetricSeriesWire, TELEMETRY_LIMITS, TetherError } from "@tether/protocol";
import {
  assignSids,
  type PrepareContext,
  prepareBatch,
} from "../../packages/server/src/capabilities/metrics/store/ingest.js";
import {
  DeviceSeries,
  newSeries,
  SeriesRegistry,
} from "../../packages/server/src/capabilities/metrics/store/series-registry.js";
import type { DeviceRow } from "../../packages/server/src/devices.js";
import { decodeBody } from "../../packages/server/src/telemetry/body.js";
import { validateEnvelope } from "../../packages/server/src/telemetry/envelope.js";
import type { Target } from "../lib.js";
import { ByteChoices, buildBatch } from "./batch-builder.js";
import { assertDeviceTime, assertWireSeries, Broken } from "./metric-rules.js";

/** Outcomes seen (printed with FUZZ_VERBOSE=1: how deep the inputs got). */
const outcomes = new Map<string, number>();
const note = (k: string) => outcomes.set(k, (outcomes.get(k) ?? 0) + 1);

const ENCODINGS = [undefined, "gzip", " X-Gzip ", "br"] as const;
const RECEIVED_AT = 1_750_000_000_000;
/** Small, so a batch of a few series reaches the cardinality limit. */
const MAX_SERIES = 8;
const DEVICE = "dev_0123456789abcdef";
const T = RECEIVED_AT - 60_000;

const plain = (v: unknown) => Buffer.concat([Buffer.from([0]), Buffer.from(JSON.stringify(v))]);
const gzipped = (v: unknown) =>
  Buffer.concat([Buffer.from([1]), gzipSync(typeof v === "string" ? v : JSON.stringify(v))]);
const batch = (o: Record<string, unknown>) => ({
  v: 1,
  device: DEVICE,
  stream: "metrics",
  seq: 7,
  sentAt: RECEIVED_AT - 250,
  ...o,
});
const every10s = (n: number, v: (i: number) => unknown) =>
  Array.from({ length: n }, (_, i) => [T + i * 10_000, v(i)]);

function seeds(): Buffer[] {
  const system: MetricSeriesWire[] = [
    { name: "cpu_usage_percent", points: every10s(6, (i) => 12.5 + i) as [number, number][] },
    { name: "cpu_core_usage_percent", labels: { cpu: "0" }, points: [[T, 3.25]] },
    { name: "disk_used_bytes", labels: { mount: "/" }, points: [[T, 5_368_709_120]] },
    {
      name: "net_rx_bytes_total",
      labels: { interface: "eth0" },
      kind: "counter",
      points: every10s(3, (i) => 1e9 + i * 4096) as [number, number][],
    },
    { name: "temperature_celsius", labels: { sensor: "cpu_thermal" }, points: [[T, 48.312]] },
  ];
  const gaps = [
    {
      from: T - 3_600_000,
      to: T - 60_000,
      count: 1204,
      reason: "buffer-full",
      detail: "1,204 samples dropped",
    },
    { from: T, to: T, count: 2, reason: "rejected", stream: "metrics" },
  ];
  // 200,001 points: one more than a batch may carry.
  const tooMany = `{"v":1,"device":"${DEVICE}","stream":"metrics","seq":9,"sentAt":${T},"metrics":[{"name":"load1","points":[${`[${T},1],`.repeat(200_000)}[${T},1]]}]}`;
  return [
    plain(batch({ metrics: system })),
    gzipped(batch({ seq: 8, gaps, metrics: system.slice(0, 2) })),
    plain(
      batch({
        metrics: [
          // Known series in another label order (the alias path), and a duplicate.
          { name: "disk_used_bytes", labels: { mount: "/" }, points: [[T, 1]] },
          { name: "wireless_signal_dbm", labels: { interface: "wlan0", ssid: "lab" }, points: [[T, -61]] },
          { name: "wireless_signal_dbm", labels: { ssid: "lab", interface: "wlan0" }, points: [[T, -62]] },
          { name: "bad name", points: [[T, 1]] },
          { name: "up", labels: { device: "x" }, points: [[T, 1]] },
          { name: "up", labels: { __name__: "x" }, points: [[T, 1]] },
          {
            name: "battery_status",
            labels: { battery: "BAT0" },
            points: [
              [T, "NaN"],
              [T, "+Inf"],
              [T, null],
              [1, 4],
              [T + 1e9, 4],
            ],
          },
          { name: "uptime_seconds", points: [[T, 3600], "x", [T], []] },
          { name: "processes", labels: [], points: [[T, 212]] },
          null,
          { name: "load1" },
        ],
      }),
    ),
    plain(
      batch({
        metrics: Array.from({ length: 12 }, (_, i) => ({
          name: `app_queue_depth_${i}`,
          labels: { queue: `q${i}` },
          points: [[T, i]],
        })),
      }),
    ),
    plain(batch({ stream: "logs", logs: [], gaps: [gaps[0]] })),
    plain(batch({ metrics: [], gaps })),
    // A gzip bomb: 9 MiB of spaces, a few KiB sent.
    gzipped(" ".repeat(9 * 1024 * 1024)),
    gzipped(tooMany),
    // Builder inputs (mode 4): a fixed byte pattern and a few realistic runs of choices.
    Buffer.from([4, ...Array.from({ length: 240 }, (_, i) => (i * 37 + 11) & 255)]),
    Buffer.from([4, 6, 1, 1, 0, 0, 4, 1, 0, 1, 0, 1, 1, 3, 0, 1, 0, 1, 0, 2, 0, 1, 1, 1]),
    Buffer.from([4, 0, 20, ...Array.from({ length: 20 }, (_, i) => [2 + i, 0, 0, 1, 1, 0, 4]).flat()]),
  ];
}

const isContract = (e: TetherError) =>
  e.code === "TETHER_ERR_BATCH_MALFORMED" || e.code === "TETHER_ERR_PAYLOAD_TOO_LARGE";

function context(): { ctx: PrepareContext; dev: DeviceSeries } {
  const registry = new SeriesRegistry(MAX_SERIES * 2);
  const dev = new DeviceSeries(DEVICE);
  // As if loaded from metric_series: a gauge without labels and one with.
  registry.add(dev, newSeries(DEVICE, "cpu_usage_percent", "{}", "gauge", 1));
  registry.add(dev, newSeries(DEVICE, "disk_used_bytes", '{"mount":"/"}', "gauge", 2));
  const ctx: PrepareContext = { registry, maxSeriesPerDevice: MAX_SERIES, created: [], onLimit() {} };
  return { ctx, dev };
}

/** What the envelope accepted must be within the limits (checked independently of envelope.ts). */
function checkEnvelope(x: Record<string, unknown>): number {
  const L = TELEMETRY_LIMITS;
  if (!Number.isSafeInteger(x.seq) || (x.seq as number) < 1) throw new Broken("a bad seq accepted", x.seq);
  assertDeviceTime("sentAt", x.sentAt);
  if (x.gaps !== undefined) {
    if (!Array.isArray(x.gaps) || x.gaps.length > L.maxGaps) throw new Broken("gaps over the limit accepted");
    for (const g of x.gaps as Record<string, unknown>[]) {
      assertDeviceTime("gap", g.from);
      assertDeviceTime("gap", g.to);
      if ((g.to as number) < (g.from as number))
        throw new Broken("a gap that ends before it starts accepted");
      if (!Number.isSafeInteger(g.count) || (g.count as number) < 0)
        throw new Broken("a bad gap count accepted", g.count);
      if (typeof g.reason !== "string" || !/^[a-z][a-z0-9-]{0,31}$/.test(g.reason))
        throw new Broken("gap reason accepted");
    }
  }
  let points = 0;
  if (x.metrics !== undefined) {
    if (!Array.isArray(x.metrics)) throw new Broken("metrics that is not an array accepted");
    if (x.metrics.length > L.maxSeriesPerBatch)
      throw new Broken("more than maxSeriesPerBatch series accepted", x.metrics.length);
    for (const s of x.metrics) {
      const p = (s as { points?: unknown } | null)?.points;
      if (Array.isArray(p)) points += p.length;
    }
    if (points > L.maxPointsPerBatch) throw new Broken("more than maxPointsPerBatch points accepted", points);
  }
  return points;
}

export const telemetryBatch: Target = {
  name: "telemetry-batch",
  what: "decodeBody (gzip ceiling, JSON), validateEnvelope, metric store prepareBatch",
  seeds,
  // The gzip bomb and the 200,001 points are replayed, not mutated (each costs tens of ms).
  mutates: (input) => input.length <= 4096,
  dictionary: [
    '"name":',
    '"labels":',
    '"points":',
    '"kind":"counter"',
    '"kind":"histogram"',
    '"gaps":',
    '"metrics":',
    '"logs":',
    '"stream":"logs"',
    '"NaN"',
    '"-Inf"',
    "null",
    "1e400",
    "-0",
    "1.5",
    "4e15",
    "946684800000",
    "1750000000000",
    "9007199254740993",
    "[1750000000000,1]",
    '{"name":"up","points":[[1750000000000,1]]}',
    '"__name__"',
    '"device"',
    '"__proto__"',
    '"constructor"',
    '"\\ud800"',
    "[]",
    "{}",
    "\x1f\x8b\x08\x00",
  ],
  async run(input) {
    let decoded: { value: unknown; bytes: number };
    let envelope: ReturnType<typeof validateEnvelope>;
    try {
      const mode = (input[0] ?? 0) % (ENCODINGS.length + 1);
      decoded =
        mode === ENCODINGS.length
          ? await decodeBody(
              Buffer.from(JSON.stringify(buildBatch(new ByteChoices(input.subarray(1)), RECEIVED_AT))),
              undefined,
            )
          : await decodeBody(input.subarray(1), ENCODINGS[mode]);
      if (decoded.bytes > TELEMETRY_LIMITS.maxBatchBytes)
        throw new Broken("more than maxBatchBytes inflated", decoded.bytes);
      envelope = validateEnvelope(decoded.value);
    } catch (err) {
      if (err instanceof TetherError && isContract(err)) {
        note(
          `${err.code} ${err.message
            .split(/[:;(]/)[0]!
            .replace(/\d+|"[^"]*"/g, "#")
            .slice(0, 60)}`,
        );
        return;
      }
      throw err;
    }
    const points = checkEnvelope(envelope as unknown as Record<string, unknown>);
    const { ctx, dev } = context();
    const before = dev.list.length;
    const p = prepareBatch(ctx, dev, {
      device: { id: DEVICE } as DeviceRow,
      batch: envelope,
      receivedAt: RECEIVED_AT,
      skewMs: Math.round(RECEIVED_AT - envelope.sentAt),
    });
    checkPrepared(p, points, ctx, before);
    note(p.cols.n > 0 ? "stored points" : "stored nothing");
    for (const k of Object.keys(p.dropped)) note(`dropped ${k}`);
  },
  async teardown() {
    if (process.env.FUZZ_VERBOSE)
      for (const [k, n] of [...outcomes].sort()) process.stderr.write(`  telemetry-batch: ${k}: ${n}\n`);
    outcomes.clear();
  },
  expected: () => false,
};

function checkPrepared(
  p: ReturnType<typeof prepareBatch>,
  points: number,
  ctx: PrepareContext,
  before: number,
): void {
  const { cols, runs, runEnd, dropped } = p;
  if (cols.sids.length > points || cols.times.length > points) {
    throw new Broken("columns longer than the batch's points", [cols.sids.length, points]);
  }
  if (runEnd.length > TELEMETRY_LIMITS.maxSeriesPerBatch)
    throw new Broken("more runs allocated than maxSeriesPerBatch", runEnd.length);
  const lost = Object.entries(dropped).reduce((a, [k, n]) => a + (k === "malformed" ? 0 : n), 0);
  if (cols.n + lost !== points) {
    throw new Broken("points neither stored nor counted as dropped", [points, cols.n, lost]);
  }
  for (const [k, n] of Object.entries(dropped)) {
    if (!Number.isSafeInteger(n) || n <= 0)
      throw new Broken("a drop count that is not a positive integer", [k, n]);
  }
  const created = ctx.created.length;
  if (before + created > MAX_SERIES)
    throw new Broken("more series kept than maxSeriesPerDevice", before + created);
  const min = TELEMETRY_LIMITS.minTime;
  const max = RECEIVED_AT + TELEMETRY_LIMITS.maxFutureMs;
  for (let i = 0; i < cols.n; i++) {
    const t = cols.times[i]!;
    if (!Number.isInteger(t) || t < min || t > max)
      throw new Broken("an implausible or fractional time stored", t);
    if (!Number.isFinite(cols.values[i]!)) throw new Broken("a non-finite value stored", cols.values[i]);
  }
  let prev = 0;
  for (const [r, s] of runs.entries()) {
    assertWireSeries("stored series", s.name, s.labels);
    if (s.kind !== "gauge" && s.kind !== "counter")
      throw new Broken("a kind that is neither gauge nor counter stored", s.kind);
    if (JSON.stringify(s.labels) !== s.labelsJson)
      throw new Broken("labels stored that are not their canonical JSON", s.labelsJson);
    const keys = Object.keys(s.labels);
    if (keys.some((k, i) => i > 0 && keys[i - 1]! >= k))
      throw new Broken("labels stored unsorted", s.labelsJson);
    if (runEnd[r]! <= prev) throw new Broken("an empty or backward run");
    prev = runEnd[r]!;
  }
  if (runs.length > 0 && prev !== cols.n)
    throw new Broken("the runs do not cover the points", [prev, cols.n]);
  // The ids once pending series are stored: every point carries its run's series.
  for (const [i, s] of ctx.created.entries()) s.id = 100 + i;
  assignSids(p);
  let start = 0;
  for (const [r, s] of runs.entries()) {
    for (let i = start; i < runEnd[r]!; i++)
      if (cols.sids[i] !== s.id) throw new Broken("a point of another series");
    start = runEnd[r]!;
  }
}
