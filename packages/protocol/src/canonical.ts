/**
 * Canonical JSON for signatures (docs/protocol.md §6 Enrollment): object keys sorted,
 * no whitespace, UTF-8. Signed bytes are `label + "\n" + canonicalJson(value)`.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") {
    if (typeof value === "number" && !Number.isFinite(value)) throw new Error("non-finite number");
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  const keys = Object.keys(value as Record<string, unknown>)
    .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`).join(",")}}`;
}

export function signedBytes(label: string, value: unknown): Buffer {
  return Buffer.from(`${label}\n${canonicalJson(value)}`, "utf8");
}
