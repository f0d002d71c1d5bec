/**
 * The one device-selector rule, shared by the server (GET /devices?selector=, POST /commands),
 * the CLI (`--selector`, refused before any request) and the console (its selector preview).
 * Browser-safe: imports only errors.ts (`@tether/protocol/selector`).
 *
 * A selector is terms separated by commas; every term must hold:
 *   key=value    the label `key` (or, as `fact.NAME`, the device-reported fact NAME) equals value
 *   key!=value   it does not (a device without the label or fact matches)
 * Keys are label keys (letters, digits, . _ / -, 1-63) or `fact.` + a fact name (e.g. fact.arch). Values are
 * 1-256 characters without `=` or `,`; spaces around keys and values are ignored.
 */
import { TetherError } from "./errors.js";

/** Re-exported so browser code can test `err instanceof TetherError` without the protocol root. */
export { TetherError };

export interface SelectorTerm {
  key: string;
  op: "=" | "!=";
  value: string;
}

/** The rule in words, for error messages and --help. */
export const SELECTOR_RULE =
  "a selector is key=value (or key!=value) pairs separated by commas, e.g. site=tokyo,fact.arch=arm64";

const LABEL_KEY_RE = /^[A-Za-z0-9._/-]{1,63}$/;
const FACT_NAME_RE = /^[A-Za-z][A-Za-z0-9_]{0,62}$/;
const MAX_VALUE = 256;

function bad(message: string): TetherError {
  return new TetherError("TETHER_ERR_BAD_SELECTOR", message);
}

/** Quote user text for a message, shortened (it may be long; callers escape it for terminals). */
const q = (s: string) => JSON.stringify(s.length > 80 ? `${s.slice(0, 77)}...` : s);

/**
 * Parse a selector into its terms, or throw a TetherError TETHER_ERR_BAD_SELECTOR (HTTP 400)
 * whose message says what is wrong in words, e.g.
 * `"site=" has no value: a selector is key=value pairs separated by commas, e.g. …`.
 * An empty selector is refused: "every device" is a different request (no selector, or --all).
 */
export function parseSelector(s: string): SelectorTerm[] {
  if (typeof s !== "string" || s.trim() === "") throw bad(`the selector is empty: ${SELECTOR_RULE}`);
  const parts = s.split(",");
  return parts.map((raw) => {
    const part = raw.trim();
    if (part === "") throw bad(`${q(s)} has an empty pair (a stray comma): ${SELECTOR_RULE}`);
    const eq = part.indexOf("=");
    if (eq < 0) throw bad(`${q(part)} has no "=": ${SELECTOR_RULE}`);
    const neg = eq > 0 && part[eq - 1] === "!";
    const key = part.slice(0, neg ? eq - 1 : eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === "") throw bad(`${q(part)} has no key: ${SELECTOR_RULE}`);
    if (value === "") throw bad(`${q(part)} has no value: ${SELECTOR_RULE}`);
    if (value.includes("=")) throw bad(`${q(part)} has more than one "=": ${SELECTOR_RULE}`);
    if (value.length > MAX_VALUE) throw bad(`${q(part)}: the value is longer than ${MAX_VALUE} characters`);
    const keyOk = key.startsWith("fact.") ? FACT_NAME_RE.test(key.slice(5)) : LABEL_KEY_RE.test(key);
    if (!keyOk)
      throw bad(
        `${q(part)}: bad key ${q(key)}; a key is a label key (letters, digits, . _ / -, 1-63) or fact.NAME (e.g. fact.arch)`,
      );
    return { key, op: neg ? "!=" : "=", value };
  });
}

/** True when `s` is a valid, non-empty selector. */
export function isSelector(s: unknown): s is string {
  try {
    parseSelector(s as string);
    return true;
  } catch {
    return false;
  }
}
