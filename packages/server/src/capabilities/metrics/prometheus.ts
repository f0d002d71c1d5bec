/**
 * The Prometheus text exposition format 0.0.4 (docs/protocol.md §14.5), written so that
 * `promtool check metrics` accepts it: one `# HELP` and `# TYPE` per family, each family's
 * samples together, label values and help text escaped, timestamps in ms.
 */

export const EXPOSITION_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

export interface ExpoSample {
  /** In the order they are written. */
  labels: [string, string][];
  value: number;
  /** Ms since the epoch; omitted: the scrape's time. */
  ts?: number;
}

export interface ExpoFamily {
  name: string;
  help: string;
  type: "counter" | "gauge";
  samples: ExpoSample[];
}

/** `\` → `\\`, `"` → `\"`, newline → `\n`: the three escapes the format has for label values. */
export function escapeLabelValue(v: string): string {
  return v.replace(/[\\"\n]/g, (c) => (c === "\\" ? "\\\\" : c === '"' ? '\\"' : "\\n"));
}

/** Help text escapes only `\` and newline. */
export function escapeHelp(v: string): string {
  return v.replace(/[\\\n]/g, (c) => (c === "\\" ? "\\\\" : "\\n"));
}

export function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

/** A valid metric name: anything else becomes `_` (ingest already enforces the rule). */
export function metricName(n: string): string {
  const s = n.replace(/[^a-zA-Z0-9_:]/g, "_");
  return /^[a-zA-Z_:]/.test(s) ? s : `_${s}`;
}

/** A valid label name, never one Prometheus reserves (`__…`). */
export function labelName(n: string): string {
  const s = n.replace(/[^a-zA-Z0-9_]/g, "_");
  const v = /^[a-zA-Z_]/.test(s) ? s : `_${s}`;
  return v.startsWith("__") ? `exported${v}` : v;
}

function sampleLine(name: string, s: ExpoSample): string {
  const labels = s.labels.length
    ? `{${s.labels.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(",")}}`
    : "";
  const ts = s.ts === undefined ? "" : ` ${Math.trunc(s.ts)}`;
  return `${name}${labels} ${formatValue(s.value)}${ts}\n`;
}

/** Families with the same name are merged (a family must be written in one piece). */
export function exposition(families: ExpoFamily[]): string {
  const merged = new Map<string, ExpoFamily>();
  for (const f of families) {
    const name = metricName(f.name);
    const m = merged.get(name);
    if (m) m.samples.push(...f.samples);
    else merged.set(name, { ...f, name, samples: [...f.samples] });
  }
  const out: string[] = [];
  for (const f of merged.values()) {
    out.push(`# HELP ${f.name} ${escapeHelp(f.help)}\n# TYPE ${f.name} ${f.type}\n`);
    for (const s of f.samples) out.push(sampleLine(f.name, s));
  }
  return out.join("");
}
