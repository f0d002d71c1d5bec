/**
 * The wire rules for a series and a time (docs/protocol.md §14.2 "Names and limits"), written
 * out again from the protocol's constants so the telemetry targets check the parsers against
 * the rule itself, not against the parser's own helper (validate.ts, names.ts).
 */
import { LABEL_NAME, METRIC_NAME, RESERVED_LABELS, TELEMETRY_LIMITS } from "@tether/protocol";
import { MAX_ABS_TIME } from "../../packages/server/src/telemetry/envelope.js";

/**
 * An invariant of a parser does not hold: always a crash (never a target's expected error).
 * The message is the same for every input of one kind (the fuzzer keys crash kinds by it);
 * what differs is in `cause`.
 */
export class Broken extends Error {
  constructor(kind: string, detail?: unknown) {
    super(kind, { cause: detail });
  }
}

const metricName = new RegExp(METRIC_NAME);
const labelName = new RegExp(LABEL_NAME);
const reserved = new Set<string>(RESERVED_LABELS);

/** Throws Broken unless `name` and `labels` are what the server stores without dropping them. */
export function assertWireSeries(where: string, name: unknown, labels: unknown): void {
  if (typeof name !== "string" || !metricName.test(name)) {
    throw new Broken(`${where}: a name that breaks METRIC_NAME`, name);
  }
  if (labels === undefined) return;
  if (typeof labels !== "object" || labels === null || Array.isArray(labels)) {
    throw new Broken(`${where}: labels that are not an object`, labels);
  }
  const entries = Object.entries(labels);
  if (entries.length > TELEMETRY_LIMITS.maxLabels) {
    throw new Broken(`${where}: more than maxLabels labels`, entries.length);
  }
  for (const [k, v] of entries) {
    if (!labelName.test(k) || k.startsWith("__") || reserved.has(k)) {
      throw new Broken(`${where}: a label name that breaks LABEL_NAME or is reserved`, k);
    }
    if (typeof v !== "string" || v.length > TELEMETRY_LIMITS.maxLabelValue) {
      throw new Broken(`${where}: a label value that is not a string of at most maxLabelValue`, v);
    }
  }
}

/**
 * A device time the envelope accepts (finite, |t| ≤ 4e15): a sample time outside it becomes a
 * gap record's from/to when the sample is lost, and the server refuses a batch carrying that
 * gap (400), again with every retry.
 */
export function assertDeviceTime(where: string, t: unknown): void {
  if (typeof t !== "number" || !Number.isFinite(t) || Math.abs(t) > MAX_ABS_TIME) {
    throw new Broken(`${where}: a time outside ±4e15 ms`, t);
  }
}

/** What the agent's application-metric parsers hand the batch builder (sample.ts). */
export interface ParsedSample {
  name: string;
  labels?: Record<string, string>;
  kind?: "gauge" | "counter";
  value: number;
  t?: number;
}

/** Every sample fits the wire: name and labels by the rules, a number value, a time the envelope accepts. */
export function assertSamples(where: string, samples: ParsedSample[]): void {
  for (const s of samples) {
    assertWireSeries(where, s.name, s.labels);
    if (s.kind !== undefined && s.kind !== "gauge" && s.kind !== "counter") {
      throw new Broken(`${where}: a kind that is neither gauge nor counter`, s.kind);
    }
    if (typeof s.value !== "number") throw new Broken(`${where}: a value that is not a number`, s.value);
    if (s.t !== undefined) assertDeviceTime(where, s.t);
  }
}

/** Lines of a text that carry something (not blank): each must give samples or count a drop. */
export function contentLines(text: string, skip: (line: string) => boolean): string[] {
  return text.split("\n").filter((l) => l.trim() !== "" && !skip(l.trim()));
}

/** The total of a Drops snapshot. */
export const dropped = (d: Record<string, number>) => Object.values(d).reduce((a, n) => a + n, 0);
