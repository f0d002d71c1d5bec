/**
 * The one device-name rule, applied at enrollment (the name a device asks for) and at
 * rename (the name an operator gives). Names reach terminals, logs and selectors, so they
 * are kept to a plain, printable alphabet; other device-provided text (hostnames, facts,
 * output) is escaped where it is shown instead.
 */
import { Type } from "typebox";
import { TetherError } from "./errors.js";

export const DEVICE_NAME_PATTERN = "^[A-Za-z0-9._-]{1,64}$";
export const DEVICE_NAME_RE = new RegExp(DEVICE_NAME_PATTERN);
/** The rule in words, for error messages and --help. */
export const DEVICE_NAME_RULE = "letters, digits, . _ - (1-64 characters)";

export function isDeviceName(s: unknown): s is string {
  return typeof s === "string" && DEVICE_NAME_RE.test(s);
}

/**
 * Throws TETHER_ERR_BAD_DEVICE_NAME unless `name` follows the rule. The message never echoes
 * the name (it may hold terminal escapes); `what` says whose name it is.
 */
export function checkDeviceName(name: unknown, what = "device name"): asserts name is string {
  if (!isDeviceName(name))
    throw new TetherError("TETHER_ERR_BAD_DEVICE_NAME", `bad ${what}: use ${DEVICE_NAME_RULE}`);
}

/** Schema form of the rule (the length bounds alone; the pattern is checked with isDeviceName for a clear error). */
export const DeviceNameField = Type.String({ minLength: 1, maxLength: 64 });

/**
 * A valid device name made from a hostname (the agent's default name): every character
 * outside the rule becomes "-", cut to 64; "device" if nothing is left.
 */
export function deviceNameFromHostname(hostname: string): string {
  const n = hostname.replace(/[^A-Za-z0-9._-]/g, "-").slice(0, 64);
  return /[A-Za-z0-9]/.test(n) ? n : "device";
}
