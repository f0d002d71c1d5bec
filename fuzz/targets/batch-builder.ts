/**
 * A telemetry batch built from fuzz bytes (docs/protocol.md §14.2): each byte picks the next
 * choice (how many series, which name, labels, kind, times and values) from lists of good,
 * borderline and bad cases, so mutated bytes stay a well-formed envelope and reach the metric
 * store's per-series checks (mutated JSON mostly stops at JSON.parse).
 */
import { TELEMETRY_LIMITS } from "@tether/protocol";

export class ByteChoices {
  private i = 0;
  constructor(private readonly b: Uint8Array) {}
  /** The next byte, 0 once the input is used up. */
  next(): number {
    return this.i < this.b.length ? this.b[this.i++]! : 0;
  }
  pick<T>(from: readonly T[]): T {
    return from[this.next() % from.length]!;
  }
}

const L = TELEMETRY_LIMITS;
const NAMES: unknown[] = [
  "cpu_usage_percent",
  "disk_used_bytes",
  "net_rx_bytes_total",
  "wireless_signal_dbm",
  "ros:topic_hz",
  "_private",
  "a".repeat(128),
  "a".repeat(129),
  "1abc",
  "bad name",
  "bad-name",
  "",
  "ü_metric",
  5,
  null,
];
const LABEL_NAMES = [
  "mount",
  "interface",
  "cpu",
  "sensor",
  "a",
  "_x",
  "__name__",
  "__x",
  "device",
  "job",
  "instance",
  "1a",
  "a-b",
  "",
  "x".repeat(64),
  "x".repeat(65),
  "constructor",
  "__proto__",
  "toString",
];
const LABEL_VALUES: unknown[] = [
  "/",
  "eth0",
  "",
  "v".repeat(L.maxLabelValue),
  "v".repeat(L.maxLabelValue + 1),
  "\ud800",
  "\u0000",
  5,
  null,
  true,
];
const KINDS: unknown[] = [undefined, undefined, "gauge", "counter", "histogram", 5];

export function buildBatch(c: ByteChoices, receivedAt: number): Record<string, unknown> {
  const sentAt = c.pick([
    receivedAt - 250,
    receivedAt - 250,
    86_400_000,
    receivedAt + 3_600_000,
    4e15,
    -4e15,
  ]);
  const times = [
    receivedAt - 60_000,
    receivedAt - 10_000,
    L.minTime - 1,
    L.minTime,
    receivedAt + L.maxFutureMs,
    receivedAt + L.maxFutureMs + 1,
    86_400_000, // a device clock in 1970: only the skew correction makes it plausible
    receivedAt - 0.5,
    1e308,
    -1e308,
    "1750000000000",
    null,
  ];
  const values: unknown[] = [
    0,
    1,
    -0,
    0.1,
    1 / 3,
    -61.5,
    5e15,
    1e308,
    -1e308,
    "NaN",
    "+Inf",
    null,
    "1",
    true,
  ];
  const series: unknown[] = [];
  const count = c.next() % 24;
  for (let s = 0; s < count; s++) {
    const shape = c.next() % 16;
    if (shape === 0) {
      series.push(c.pick([null, 5, "x", [], { name: "up" }, { name: "up", points: {} }]));
      continue;
    }
    const w: Record<string, unknown> = { name: c.pick(NAMES) };
    const nl = c.next() % 8;
    if (nl === 7)
      w.labels = c.pick([
        null,
        [],
        "x",
        5,
        Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`l${i}`, "v"])),
      ]);
    else if (nl > 0) {
      // No prototype: a "__proto__" label is an own key, as JSON.parse makes it.
      const labels: Record<string, unknown> = Object.create(null);
      for (let i = 0; i < nl; i++) labels[c.pick(LABEL_NAMES)] = c.pick(LABEL_VALUES);
      w.labels = labels;
    }
    const kind = c.pick(KINDS);
    if (kind !== undefined) w.kind = kind;
    const np = c.next() % 8;
    const points: unknown[] = [];
    for (let p = 0; p < np; p++) {
      const form = c.next() % 12;
      if (form === 0) points.push(c.pick([null, 5, [], [receivedAt], "x", { t: 1 }]));
      else points.push([c.pick(times), c.pick(values)]);
    }
    w.points = points;
    series.push(w);
  }
  return {
    v: 1,
    device: "dev_0123456789abcdef",
    stream: "metrics",
    seq: 1 + c.next(),
    sentAt,
    metrics: series,
  };
}
