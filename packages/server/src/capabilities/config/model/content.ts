/**
 * A layer's content and the pure rules of merging layers (docs/protocol.md §18.1): values with
 * secrets set in, secret keys of a merged result, which layer set each key.
 */
import {
  type ConfigFileKind,
  deepMerge,
  flattenValues,
  getPath,
  isPlainObject,
  parseKeyPath,
  SECRET_MASK,
  setPath,
} from "@tether/protocol";

export interface StoredFile {
  hash: string;
  size: number;
  kind: ConfigFileKind;
  secret: boolean;
}

/** One revision's snapshot of a layer, as stored (secrets sealed). */
export interface LayerContent {
  /** The non-secret values tree. */
  values: Record<string, unknown>;
  /** Dotted key → sealed JSON value (SecretBox.sealValue). */
  secrets: Record<string, string>;
  files: Record<string, StoredFile>;
  /** Groups: the selector and priority at this revision. */
  group?: { selector: string; priority: number };
}

export const emptyContent = (): LayerContent => ({ values: {}, secrets: {}, files: {} });

export function parseContent(s: string | null | undefined): LayerContent {
  if (!s) return emptyContent();
  const c = JSON.parse(s) as Partial<LayerContent>;
  return {
    values: c.values ?? {},
    secrets: c.secrets ?? {},
    files: c.files ?? {},
    ...(c.group ? { group: c.group } : {}),
  };
}

/** The layer's tree: values with each secret set in (`open` decrypts one). */
export function layerTree(c: LayerContent, open: (sealed: string) => unknown): Record<string, unknown> {
  let t = c.values;
  for (const [k, v] of Object.entries(c.secrets)) t = setPath(t, parseKeyPath(k), open(v));
  return t;
}

/** The tree with each secret key shown as SECRET_MASK. */
export function maskedTree(
  values: Record<string, unknown>,
  secretKeys: readonly string[],
): Record<string, unknown> {
  let t = values;
  for (const k of secretKeys) {
    const p = k.split(".");
    if (getPath(t, p) !== undefined) t = setPath(t, p, SECRET_MASK);
  }
  return t;
}

/** Paths overlap when one is a prefix of the other (or they are equal). */
export const overlaps = (a: string, b: string): boolean =>
  a === b || a.startsWith(`${b}.`) || b.startsWith(`${a}.`);

/** The dotted keys a tree sets, including `null` deletions (as leaves). */
export function leafKeys(tree: Record<string, unknown>): string[] {
  return flattenValues(tree).map(([k]) => k);
}

/**
 * Merge trees least specific first; a key of the result is secret when the most specific
 * layer that touched it marked it secret (a later layer that sets an overlapping key, or
 * deletes it with null, takes the flag away).
 */
export function mergeTrees(
  layers: readonly { tree: Record<string, unknown>; secretKeys: readonly string[] }[],
): { values: Record<string, unknown>; secretKeys: string[] } {
  let values: Record<string, unknown> = {};
  for (const l of layers) values = deepMerge(values, l.tree) as Record<string, unknown>;
  const leaves = layers.map((l) => leafKeys(l.tree));
  const secret = new Set<string>();
  layers.forEach((l, i) => {
    for (const s of l.secretKeys) {
      const later = leaves.slice(i + 1).some((ks) => ks.some((k) => overlaps(k, s)));
      if (!later && getPath(values, s.split(".")) !== undefined) secret.add(s);
    }
  });
  return { values, secretKeys: [...secret].sort() };
}

/** Is `key` a secret key or under one? */
export const isSecretKey = (key: string, secretKeys: readonly string[]): boolean =>
  secretKeys.some((s) => key === s || key.startsWith(`${s}.`));

export const jsonBytes = (v: unknown): number => Buffer.byteLength(JSON.stringify(v));

export { isPlainObject };
