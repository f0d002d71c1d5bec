/**
 * Device selectors: `k=v,k2!=v2`. Keys name labels, or facts with a `fact.` prefix
 * (`fact.arch=arm64,site=tokyo`). Every term must hold. The parse rule is the one in
 * @tether/protocol (shared with the CLI and the console); matching is the server's.
 */
import type { SelectorTerm } from "@tether/protocol";

function factValue(facts: Record<string, unknown> | null, key: string): string | undefined {
  const v = facts?.[key];
  if (v === undefined || v === null) return undefined;
  return Array.isArray(v) ? v.join(" ") : String(v);
}

export function matches(
  terms: SelectorTerm[],
  labels: Record<string, string>,
  facts: Record<string, unknown> | null,
): boolean {
  return terms.every((t) => {
    const actual = t.key.startsWith("fact.") ? factValue(facts, t.key.slice(5)) : labels[t.key];
    // Array facts (addresses) match when any element equals the value.
    const arr = t.key.startsWith("fact.") && Array.isArray(facts?.[t.key.slice(5)]);
    const eq = arr ? (facts![t.key.slice(5)] as unknown[]).map(String).includes(t.value) : actual === t.value;
    return t.op === "=" ? eq : !eq;
  });
}
